// The body tabs' "View" picker: mitmproxy's content views through /api/traffic/:id/view
// (JSON, XML/HTML, Protobuf, gRPC, GraphQL, MsgPack, form, hex). "auto" keeps the page's own
// rendering (JSON tree, images, form table) for what it reads, and asks the server for the rest
// (gRPC, Protobuf, MsgPack and other binary bodies).

import { api, q } from "./api.js";
import { b64bytes, bytesToText, h } from "./dom.js";

export const VIEWS = ["auto", "json", "xml", "html", "protobuf", "grpc", "graphql", "msgpack", "form", "hex"];
const SERVER_TYPES = /grpc|protobuf|msgpack|x-protobuf/i;
const chosen = { request: "auto", response: "auto" }; // kept while the page is open

function headerValue(map, name) {
  const v = (map || {})[name];
  return Array.isArray(v) ? v[0] : v || "";
}

/** Does "auto" need the server (the page cannot read this body itself)? */
function serverRendered(e, part) {
  const b64 = part === "request" ? e.requestBody : e.responseBody;
  if (!b64) return false;
  const type = part === "request" ? headerValue(e.requestHeaders, "content-type") : e.contentType || "";
  if (SERVER_TYPES.test(type)) return true;
  if (/^image\/|^multipart\/form-data|^application\/x-www-form-urlencoded/i.test(type)) return false; // the page shows these
  return bytesToText(b64bytes(b64)) === null;
}

function rendered(r) {
  const out = [];
  const note = [r.view ? `${r.view} view` : "", r.description, r.truncated ? "(the first 4 MB)" : ""].filter(Boolean).join(" ");
  out.push(h("p", { class: "muted view-note", text: note }));
  if (r.params) {
    out.push(
      h("table", { class: "kv params" },
        h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Value" }))),
        h("tbody", {}, r.params.map((p) => h("tr", {}, h("td", { text: p.name }), h("td", { text: "fileName" in p ? `(file ${p.fileName}${p.contentType ? ", " + p.contentType : ""})` : p.value ?? "(binary)" })))))
    );
  }
  if (r.text || !r.params) out.push(h("pre", { class: "view-text", text: r.text }));
  return out;
}

/** A body tab: the picker and the body as the chosen view shows it. */
export function bodyPane(e, part, rich) {
  const out = h("div", { class: "body-view", id: `body-${part}` });
  const picker = h("select", { class: "view-picker", id: `view-${part}`, "aria-label": "View as" });
  for (const v of VIEWS) picker.append(h("option", { value: v, text: v, selected: v === chosen[part] }));
  const show = async () => {
    const view = picker.value;
    chosen[part] = view;
    if (view === "auto" && !serverRendered(e, part)) {
      out.replaceChildren(rich());
      return;
    }
    out.replaceChildren(h("p", { class: "muted", text: "Rendering…" }));
    try {
      const r = await api(`/api/traffic/${q(e.id)}/view?part=${part}&view=${view}`);
      if (picker.value === view) out.replaceChildren(...rendered(r));
    } catch (err) {
      out.replaceChildren(...[h("p", { class: "error-text", text: err.message }), view === "auto" ? rich() : null].filter(Boolean));
    }
  };
  picker.addEventListener("change", show);
  const hasBody = part === "request" ? e.requestBody : e.responseBody;
  show();
  return h("div", {}, hasBody ? h("label", { class: "view-label" }, "View ", picker) : null, out);
}
