// Finding entries: the filter box's syntax help and its error line (the API names the token at
// fault), and the global search (Ctrl+Shift+F) across every session's URLs, headers and bodies.

import { api } from "./api.js";
import { $, h, closeDialog, showDialog } from "./dom.js";
import { emit } from "./state.js";

const SYNTAX = [
  ["order_id=8812", "plain words: URL, headers, bodies (decoded) and notes, all words must match"],
  ['"exact phrase"', "quoted text, spaces included"],
  ["/order_\\d+/i", "a regular expression (i: any case)"],
  ["method:POST  method:get,put", "request method"],
  ["status:404  status:4xx,5xx  status>=500  status:0", "status, class, comparison; 0 = no response"],
  ["host:api.example.com  host:*.example.com", "host, exactly or with * (a *. pattern includes the domain itself)"],
  ["path:/api/*  url:checkout", "path glob (no query unless the pattern has ?); URL substring or /regex/"],
  ["type:json  type:img,css  type:ws", "the response's content type (js, img, doc, font, form, media...) or WebSocket"],
  ['body:"order_id=8812"  req.body:  res.body:', "request and/or response body, WebSocket messages included"],
  ["header:x-request-id  req.header:  res.header:", "header lines (name: value)"],
  ["duration>500  duration<=2s  size>1MB", "time in ms (or s, m), response body size (B, KB, MB, GB)"],
  ["is:mocked is:error is:websocket is:replay is:imported", "also: captured truncated tunnel tls-failed annotated graphql grpc static complete modified"],
  ['note:"flaky"  tag:bug  color:red', "annotations: text, tag, colour"],
  ["graphql:GetUser  graphql:Get*", "GraphQL operation name"],
  ["-status:2xx  a OR b  (a OR b) c", "not, or (looser than the implied and), grouping"],
];

export function showFilterHelp() {
  showDialog([
    h("h3", { text: "Filter syntax" }),
    h("p", { class: "muted", text: "Terms are combined with AND. Text matches case-insensitively; globs use *. The same language works in the API (?filter=), necto traffic list --filter, necto export/replay/diff --filter." }),
    h("table", { class: "kv syntax", id: "filter-syntax" }, h("tbody", {}, SYNTAX.map(([k, v]) => h("tr", {}, h("td", {}, h("code", { text: k })), h("td", { text: v }))))),
  ]);
}

/** Show (or clear, with null) the API's complaint about the filter box's query. */
export function renderFilterError(err) {
  const box = $("filter-error");
  const input = $("filter-text");
  if (!err) {
    box.hidden = true;
    box.replaceChildren();
    input.removeAttribute("aria-invalid");
    return;
  }
  input.setAttribute("aria-invalid", "true");
  const text = input.value;
  const at = Math.max(0, Math.min(err.position || 0, text.length));
  const len = Math.max(1, Math.min((err.token || "").length || 1, text.length - at));
  box.replaceChildren(
    h("strong", { text: "Filter: " }),
    h("span", { class: "filter-reason", text: err.reason || err.error }),
    " — ",
    h("code", { class: "filter-query" }, text.slice(0, at), h("mark", { class: "filter-token", text: text.slice(at, at + len) || " " }), text.slice(at + len)),
    h("span", { class: "muted", text: ` (character ${at + 1})` }),
    h("button", { class: "small", text: "Select it", onclick: () => (input.focus(), input.setSelectionRange(at, at + len)) })
  );
  box.hidden = false;
}

// ---------------------------------------------------------------- global search
const PAGE = 50;

export function openSearch() {
  const input = h("input", { id: "search-q", type: "search", placeholder: "Text to find (e.g. order_id=8812)", "aria-label": "Search text", spellcheck: "false" });
  const places = ["url", "headers", "body", "notes"].map((p) =>
    h("label", {}, h("input", { type: "checkbox", value: p, class: "search-in", checked: p !== "notes" }), " " + p)
  );
  const results = h("div", { id: "search-results" });
  let offset = 0;
  let last = null;
  const run = async (more = false) => {
    const text = input.value.trim();
    if (!text) return;
    offset = more ? offset + PAGE : 0;
    const where = places.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value);
    const params = new URLSearchParams({ q: text, searchIn: where.join(",") || "url,headers,body", limit: PAGE, offset });
    results.setAttribute("aria-busy", "true");
    try {
      last = await api("/api/traffic/search?" + params);
    } catch (e) {
      results.replaceChildren(h("p", { class: "error-text", text: e.message }));
      return;
    } finally {
      results.removeAttribute("aria-busy");
    }
    const rows = last.entries.map((e) =>
      h("tr", { class: "search-hit", dataset: { id: e.id }, onclick: () => (closeDialog(), emit("open-found", e.sessionId, e.id)) },
        h("td", { text: last.sessionNames[e.sessionId] || "" }),
        h("td", { text: e.method }),
        h("td", { text: e.status ?? "ERR" }),
        h("td", { class: "search-url", text: e.url, title: e.url }))
    );
    const table = more && results.querySelector("tbody");
    if (table) table.append(...rows);
    else {
      results.replaceChildren(
        h("p", { class: "muted", id: "search-total", text: `${last.total} found` }),
        h("table", { class: "kv search-table" }, h("thead", {}, h("tr", {}, ["Session", "Method", "Status", "URL"].map((t) => h("th", { text: t })))), h("tbody", {}, rows))
      );
    }
    const shown = results.querySelectorAll("tr.search-hit").length;
    results.querySelector("#search-more")?.remove();
    if (shown < last.total) results.append(h("button", { id: "search-more", text: `More (${last.total - shown})`, onclick: () => run(true) }));
  };
  input.addEventListener("keydown", (ev) => ev.key === "Enter" && run());
  showDialog([
    h("h3", { text: "Search every session" }),
    h("div", { class: "search-bar" }, input, h("button", { class: "primary", id: "search-go", text: "Search", onclick: () => run() })),
    h("div", { class: "search-in-row" }, "In: ", places),
    results,
  ], { wide: true, label: "Search" });
  input.focus();
}
