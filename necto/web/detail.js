// One entry in full: headers, query, cookies, bodies (JSON tree, images, hex, form tables),
// timing waterfall, connection facts, WebSocket frames; copy as cURL/fetch/Python/HTTPie.

import { api, withToken } from "./api.js";
import { $, h, b64bytes, bytesToText, copy, fmtMs, fmtSize, kvTable, menu, showDialog, toast } from "./dom.js";
import { state, prefs, savePrefs, emit, writeUrl } from "./state.js";
import { SNIPPETS } from "./snippets.js";
import { createRuleMenu, ruleNote, ruleTabs } from "./rules.js";
import { isConnectionEntry, kindNotes } from "./kinds.js";
import { bodyPane } from "./bodyviews.js";
import { notesTab } from "./notes.js";

export function closeDetail() {
  const wasOpen = state.detailId !== null;
  state.detailId = null;
  $("detail").hidden = true;
  $("divider").hidden = true;
  $("detail").replaceChildren();
  writeUrl();
  return wasOpen;
}

// ---------------------------------------------------------------- bodies
function jsonTree(value, key) {
  const label = key !== undefined ? h("span", { class: "key", text: JSON.stringify(key) + ": " }) : null;
  if (value !== null && typeof value === "object") {
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    const d = h("details", { open: true }, h("summary", {}, label, isArr ? `[${entries.length}]` : `{${entries.length}}`));
    for (const [k, v] of entries) d.append(jsonTree(v, isArr ? undefined : k));
    return d;
  }
  const cls = typeof value === "string" ? "str" : "num";
  return h("div", {}, label, h("span", { class: cls, text: JSON.stringify(value) }));
}

function hexDump(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, 65536);
  for (let off = 0; off < n; off += 16) {
    const chunk = bytes.slice(off, off + 16);
    const hex = Array.from(chunk, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(off.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join("\n");
}

function headerValue(map, name) {
  const v = (map || {})[name];
  return Array.isArray(v) ? v[0] : v || "";
}

/** Form bodies as a parameter table: urlencoded pairs, or multipart parts (files by size). */
export function formParams(bytes, contentType) {
  const ct = (contentType || "").toLowerCase();
  if (ct.startsWith("application/x-www-form-urlencoded")) {
    const text = bytesToText(bytes);
    if (text === null) return null;
    return [...new URLSearchParams(text).entries()].map(([k, v]) => ({ name: k, value: v }));
  }
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType || "");
  if (!ct.startsWith("multipart/form-data") || !m) return null;
  const boundary = "--" + (m[1] || m[2]);
  const latin = Array.from(bytes, (b) => String.fromCharCode(b)).join("");
  const out = [];
  for (const chunk of latin.split(boundary).slice(1)) {
    if (chunk.startsWith("--")) break;
    const sep = chunk.indexOf("\r\n\r\n");
    if (sep < 0) continue;
    const head = chunk.slice(0, sep);
    let value = chunk.slice(sep + 4).replace(/\r\n$/, "");
    const name = /name="([^"]*)"/i.exec(head);
    const file = /filename="([^"]*)"/i.exec(head);
    const type = /content-type:\s*([^\r\n]+)/i.exec(head);
    const raw = Uint8Array.from(value, (c) => c.charCodeAt(0));
    const text = bytesToText(raw);
    if (file) value = `(file ${file[1]}${type ? ", " + type[1] : ""}, ${fmtSize(raw.length)})`;
    else value = text !== null ? text : `(${fmtSize(raw.length)} of binary data)`;
    out.push({ name: name ? decodeURIComponent(escape(name[1])) : "", value });
  }
  return out;
}

function bodyView(b64, contentType) {
  if (b64 === null || b64 === undefined) return h("p", { class: "muted", text: "No body" });
  const bytes = b64bytes(b64);
  if (!bytes.length) return h("p", { class: "muted", text: "Empty body" });
  const ct = (contentType || "").toLowerCase();
  if (ct.startsWith("image/")) {
    const url = URL.createObjectURL(new Blob([bytes], { type: ct.split(";")[0] }));
    return h("div", {}, h("img", { src: url, alt: "response image", class: "preview" }), h("p", { class: "muted", text: fmtSize(bytes.length) }));
  }
  const form = formParams(bytes, contentType);
  if (form) {
    return h(
      "div",
      { class: "form-body" },
      h("h4", { text: `Form parameters (${form.length})` }),
      h("table", { class: "kv params" }, h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Value" }))), h("tbody", {}, form.map((p) => h("tr", {}, h("td", { text: p.name }), h("td", { text: p.value }))))),
      h("details", {}, h("summary", { text: "Raw body" }), h("pre", { text: bytesToText(bytes) ?? hexDump(bytes) }))
    );
  }
  const text = bytesToText(bytes);
  if (text === null) return h("pre", { class: "hex", text: hexDump(bytes) });
  if (ct.includes("json") || /^\s*[{[]/.test(text)) {
    try {
      return h("div", { class: "json" }, jsonTree(JSON.parse(text)));
    } catch {}
  }
  return h("pre", { text });
}

// ---------------------------------------------------------------- timing
export function waterfall(t) {
  const phases = ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"];
  const seq = ["blocked", "dns", "connect", "send", "wait", "receive"];
  const total = seq.reduce((s, p) => s + Math.max(0, t[p]), 0) || 1;
  const grid = h("div", { class: "waterfall", id: "waterfall" });
  let offset = 0;
  const starts = {};
  for (const p of seq) {
    starts[p] = offset;
    offset += Math.max(0, t[p]);
  }
  starts.ssl = starts.connect + Math.max(0, t.connect) - Math.max(0, t.ssl); // ssl ends where connect ends
  for (const p of phases) {
    const v = t[p];
    const bar = h("div", { class: "bar " + p, hidden: !(v > 0) });
    if (v > 0) {
      bar.style.left = (starts[p] / total) * 100 + "%";
      bar.style.width = (v / total) * 100 + "%";
    }
    grid.append(
      h("span", { text: p }),
      h("div", { class: "bar-track" }, bar),
      h("span", { class: "phase-value", "data-phase": p, text: v < 0 ? "–" : v.toFixed(2) + " ms" })
    );
  }
  grid.append(h("strong", { text: "total" }), h("span"), h("strong", { text: total.toFixed(2) + " ms" }));
  return grid;
}

function parseCookies(headerList, name) {
  const out = [];
  for (const hdr of headerList) {
    if (hdr.name.toLowerCase() !== name) continue;
    if (name === "cookie") {
      for (const part of hdr.value.split(";")) {
        const [k, ...v] = part.trim().split("=");
        if (k) out.push([k, v.join("=")]);
      }
    } else {
      const [first, ...attrs] = hdr.value.split(";");
      const [k, ...v] = first.trim().split("=");
      out.push([k, v.join("=") + (attrs.length ? "  ;" + attrs.join(";") : "")]);
    }
  }
  return out;
}

function queryPairs(url) {
  try {
    return [...new URL(url).searchParams.entries()];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- the pane
function copyMenu(e) {
  const button = h("button", { id: "btn-copy-as", text: "Copy as ▾", "aria-haspopup": "true" });
  const panel = h(
    "div",
    { hidden: true, id: "copy-as-menu" },
    h("button", { text: "URL", "data-copy": "url", onclick: () => ((panel.hidden = true), copy(e.url, "URL copied")) }),
    SNIPPETS.map(([id, label, make]) =>
      h("button", { text: label, "data-copy": id, onclick: () => ((panel.hidden = true), copy(make(e), label + " copied")) })
    )
  );
  menu(button, panel);
  return h("div", { class: "menu" }, button, panel);
}

export async function openDetail(id) {
  state.detailId = id;
  writeUrl();
  let e;
  try {
    e = await api("/api/traffic/" + encodeURIComponent(id));
  } catch (err) {
    if (state.detailId === id) {
      closeDetail();
      toast(err.message);
    }
    return;
  }
  if (state.detailId !== id) return;
  const pane = $("detail");
  pane.hidden = false;
  $("divider").hidden = false;
  if (prefs.detailWidth) pane.style.width = prefs.detailWidth + "px";
  const content = h("div", { class: "tab-content" });
  const reqType = headerValue(e.requestHeaders, "content-type");
  const tabs = {
    Headers: () => [
      kvTable([
        ["URL", e.url],
        ["Method", e.method],
        ["Status", e.status === null ? "no response" : `${e.status} ${e.statusText || ""}`],
        ["HTTP version", e.httpVersion],
        e.error ? ["Error", e.error] : null,
        e.graphqlOperation !== null && e.graphqlOperation !== undefined ? ["GraphQL operation", e.graphqlOperation || "(anonymous)"] : null,
        ["Source", { capture: "captured", import: "imported from a HAR file", replay: "replayed" }[e.source] || e.source],
      ].filter(Boolean)),
      h("h4", { text: "Request headers" }),
      kvTable(e.requestHeaderList.map((x) => [x.name, x.value])),
      h("h4", { text: "Response headers" }),
      kvTable(e.responseHeaderList.map((x) => [x.name, x.value])),
    ],
    Query: () => [kvTable(queryPairs(e.url))],
    Cookies: () => [
      h("h4", { text: "Request cookies" }),
      kvTable(parseCookies(e.requestHeaderList, "cookie")),
      h("h4", { text: "Response cookies" }),
      kvTable(parseCookies(e.responseHeaderList, "set-cookie")),
    ],
    Request: () => [e.requestBodyOmitted ? omittedBody(e, "request") : bodyPane(e, "request", () => bodyView(e.requestBody, reqType))],
    Response: () => [
      e.responseBodyTruncated ? h("p", { class: "muted", text: "Body truncated by --max-body-size" }) : null,
      e.responseBodyOmitted ? omittedBody(e, "response") : bodyPane(e, "response", () => bodyView(e.responseBody, e.contentType)),
    ],
    Timing: () => [waterfall(e.timings)],
    Connection: () => [
      kvTable([
        ["Server", e.serverIp ? `${e.serverIp}:${e.serverPort}` : ""],
        ["Client", e.clientIp ? `${e.clientIp}:${e.clientPort}` : ""],
        ["Connection id", e.connectionId || ""],
        ["TLS version", e.tls ? e.tls.version : ""],
        ["Cipher", e.tls ? e.tls.cipher : ""],
        ["ALPN", e.tls ? e.tls.alpn : ""],
        ["SNI", e.tls ? e.tls.sni : ""],
      ]),
    ],
  };
  Object.assign(tabs, ruleTabs(e)); // what rules and network conditions did, when they did
  tabs.Notes = () => [
    notesTab(e, () => {
      emit("annotations-changed", e.id);
      openDetail(e.id);
    }),
  ];
  if (e.webSocketMessages) {
    tabs.WebSocket = () => [
      kvTable(e.webSocketMessages.map((m) => [`${m.type} ${new Date(m.time * 1000).toISOString()}`, m.encoding ? `(binary) ${m.data}` : m.data])),
    ];
  }
  const tabBar = h("div", { class: "tabs", role: "tablist" });
  const show = (name) => {
    for (const b of tabBar.children) {
      const active = b.textContent === name;
      b.classList.toggle("active", active);
      b.setAttribute("aria-selected", String(active));
    }
    content.replaceChildren(...tabs[name]().filter(Boolean));
    state.detailTab = name;
    writeUrl();
  };
  for (const name of Object.keys(tabs)) tabBar.append(h("button", { text: name, role: "tab", onclick: () => show(name) }));
  const base = state.base;
  pane.replaceChildren(
    h("div", { class: "detail-head" }, h("h3", { title: e.url, text: `${e.method} ${e.url}` }), h("button", { class: "close", title: "Close (Esc)", "aria-label": "Close", id: "btn-close-detail", text: "✕", onclick: closeDetail })),
    h(
      "div",
      { class: "actions" },
      copyMenu(e),
      isConnectionEntry(e) ? null : createRuleMenu(e),
      h("button", { text: "Replay", id: "btn-replay", onclick: () => emit("replay", e.id) }),
      base && base.id !== e.id
        ? h("button", { text: "Compare with A", id: "btn-compare-base", title: `A: ${base.label}`, onclick: () => emit("compare", base.id, e.id) })
        : null,
      h("button", {
        text: base && base.id === e.id ? "A for compare ✓" : "Set as A",
        id: "btn-set-base",
        title: "Remember this entry, then open another one (in any session) and compare it with this",
        onclick: () => {
          state.base = { id: e.id, label: `${e.method} ${e.url}` };
          toast("Set as A: now open another entry and click “Compare with A”");
          openDetail(e.id);
        },
      })
    ),
    h("div", { class: "entry-notes" }, ruleNote(e), kindNotes(e)),
    tabBar,
    content
  );
  show(tabs[state.detailTab] ? state.detailTab : "Headers");
}

// ---------------------------------------------------------------- the divider
export function wireDivider() {
  const divider = $("divider");
  const pane = $("detail");
  const setWidth = (w) => {
    const max = Math.max(360, window.innerWidth - 320);
    const width = Math.round(Math.max(300, Math.min(max, w)));
    pane.style.width = width + "px";
    prefs.detailWidth = width;
  };
  divider.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    divider.setPointerCapture(ev.pointerId);
    divider.classList.add("dragging");
    const startX = ev.clientX;
    const start = pane.getBoundingClientRect().width;
    const move = (m) => setWidth(start + startX - m.clientX);
    const up = () => {
      divider.classList.remove("dragging");
      divider.removeEventListener("pointermove", move);
      divider.removeEventListener("pointerup", up);
      savePrefs();
    };
    divider.addEventListener("pointermove", move);
    divider.addEventListener("pointerup", up);
  });
  divider.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    ev.preventDefault();
    setWidth(pane.getBoundingClientRect().width + (ev.key === "ArrowLeft" ? 40 : -40));
    savePrefs();
  });
}

export async function replay(id) {
  showDialog([h("p", { text: "Replaying…" })]);
  try {
    const r = await api(`/api/traffic/${encodeURIComponent(id)}/replay`, { method: "POST", json: {} });
    const c = r.comparison || {};
    const changes = c.changes || [];
    showDialog([
      h("h3", { id: "replay-result", text: `Replayed: ${r.result.status} ${r.result.statusText || ""} in ${fmtMs(Number(r.result.duration || 0))}` }),
      r.result.error ? h("p", { class: "error-text", text: "Error: " + r.result.error }) : null,
      h("p", { text: c.identical ? "Identical to the original." : `${changes.length} differences from the original:` }),
      changes.length ? kvTable(changes.map((ch) => [`${ch.type} ${ch.field || ""}`, `${JSON.stringify(ch.original)} → ${JSON.stringify(ch.replayed)}`])) : null,
      r.entryId && r.originalId
        ? h("p", {}, h("button", { text: "Open the full diff", id: "btn-replay-diff", onclick: () => emit("compare", r.originalId, r.entryId) }))
        : null,
    ]);
  } catch (e) {
    showDialog([h("h3", { text: "Replay failed" }), h("p", { class: "error-text", text: e.message })]);
  }
}

// A body too long to show here (see DETAIL_BODY_MAX in necto/api/traffic.py): a download instead.
function omittedBody(e, side) {
  const size = side === "request" ? e.requestBodySize : e.responseBodySize;
  return h("p", { class: "muted" },
    `Body too long to show here (${fmtSize(size) || "large"}). `,
    h("a", { id: `${side}-body-download`, href: withToken(`/api/traffic/${encodeURIComponent(e.id)}/body/${side}`), download: "", text: "Download it" }));
}
