// The session's API inventory: endpoints by host with counts, statuses, latency, auth and
// sensitive-data badges; OpenAPI downloads; a click filters the list to an endpoint's entries.

import { api, withToken } from "./api.js";
import { h, fmtMs, showDialog, closeDialog } from "./dom.js";
import { state, emit } from "./state.js";

function authLabel(a) {
  if (a.type === "none") return "no auth";
  if (a.type === "apiKey") return `API key (${a.in}: ${a.name})`;
  if (a.type === "cookie") return `cookie ${a.name || ""}`.trim();
  if (a.type === "jwt") return "JWT" + (a.issuer ? ` (${a.issuer})` : "");
  return a.type;
}

function statusBadges(codes) {
  return Object.entries(codes).map(([code, n]) =>
    h("span", { class: "badge st s" + String(code)[0], title: `${n} × ${code}`, text: n > 1 ? `${code}×${n}` : code })
  );
}

export async function openInventory() {
  const sid = state.sessionId;
  if (!sid) return;
  showDialog([h("p", { text: "Building the inventory…" })], { wide: true, label: "Inventory" });
  let inv;
  try {
    inv = await api(`/api/sessions/${encodeURIComponent(sid)}/inventory`);
  } catch (e) {
    showDialog([h("h3", { text: "Inventory failed" }), h("p", { class: "error-text", text: e.message })]);
    return;
  }
  const session = state.sessions.find((s) => s.id === sid);
  const base = `/api/sessions/${encodeURIComponent(sid)}`;
  const skipped = Object.entries(inv.entries.skipped || {}).map(([k, n]) => `${n} ${k}`).join(", ");
  showDialog(
    [
      h("div", { class: "inv-head" },
        h("h3", { text: `API inventory of “${session ? session.name : sid}”` }),
        h("span", { class: "spacer" }),
        h("a", { class: "button", id: "openapi-json", href: withToken(base + "/openapi.json"), download: "openapi.json", text: "Download OpenAPI (JSON)" }),
        h("a", { class: "button", id: "openapi-yaml", href: withToken(base + "/openapi.yaml"), download: "openapi.yaml", text: "YAML" })),
      h("p", { class: "muted", text: `${inv.endpointCount} endpoints from ${inv.entries.used} of ${inv.entries.total} entries` + (skipped ? ` (left out: ${skipped})` : "") + ". Click an endpoint to list its entries." }),
      inv.hosts.length ? null : h("p", { text: "No API traffic in this session yet." }),
      inv.hosts.map((host) =>
        h("details", { open: true, class: "inv-host" },
          h("summary", {}, h("strong", { text: host.host }), ` ${host.schemes.join(", ")} · ${host.endpointCount} endpoints`),
          h("table", { class: "inv-table" },
            h("thead", {}, h("tr", {}, ["Method", "Path", "Count", "Status", "p50", "p95", "Auth", "Sensitive"].map((t) => h("th", { text: t, class: ["Count", "p50", "p95"].includes(t) ? "num" : null })))),
            h("tbody", {}, host.endpoints.map((ep) =>
              h("tr", {
                class: "inv-ep",
                tabindex: 0,
                "data-endpoint": `${ep.method} ${ep.pathTemplate}`,
                title: "Show this endpoint's entries",
                onclick: () => pick(host.host, ep),
                onkeydown: (ev) => ev.key === "Enter" && pick(host.host, ep),
              },
                h("td", { class: "method", text: ep.method }),
                h("td", { class: "tmpl", text: ep.pathTemplate }),
                h("td", { class: "num", text: ep.count }),
                h("td", {}, statusBadges(ep.statusCodes)),
                h("td", { class: "num", text: fmtMs(ep.latency.p50) }),
                h("td", { class: "num", text: fmtMs(ep.latency.p95) }),
                h("td", {}, ep.auth.map((a) => h("span", { class: "badge auth" + (a.type === "none" ? " none" : ""), text: authLabel(a) }))),
                h("td", {}, ep.sensitive.map((s) => h("span", { class: "badge sensitive", title: `${s.where} (${s.count})`, text: s.kind })))
              )
            ))))
      ),
    ],
    { wide: true, label: "Inventory" }
  );
}

function pick(host, ep) {
  closeDialog();
  emit("endpoint-filter", { host, method: ep.method, template: ep.pathTemplate });
}
