// Breakpoints on the page: the "Paused" tray (appears while something is held, with a count),
// the editor for one held exchange (method, URL, headers as a table, body as text or JSON;
// Continue, Continue with edits, Mock, Abort; F8, Shift+F8, Ctrl/Cmd+Enter), the list of
// breakpoints (toolbar button, shown when there are any) and "Break on this" for an entry.
// Held exchanges come from /api/breakpoints/paused and the breakpoint events of /api/events.

import { api, q, withToken } from "./api.js";
import { $, h, b64bytes, closeDialog, fmtSize, showDialog, toast } from "./dom.js";

const KINDS = "breakpoint:hit,breakpoint:resumed,breakpoint:timeout,breakpoints";
const held = new Map(); // hit id -> hit (arrival order)
let editor = null; // {hit, root, gone} while the editor is open
let breakpointCount = 0;

// ---------------------------------------------------------------- the tray
function renderTray() {
  const tray = $("paused-tray");
  const n = held.size;
  tray.hidden = n === 0;
  $("paused-count").textContent = String(n);
  tray.title = `${n} exchange${n === 1 ? "" : "s"} held at breakpoints: click to see ${n === 1 ? "it" : "them"}`;
  const list = $("paused-list");
  if (n === 0) list.hidden = true;
  if (!list.hidden) renderList();
}

function leftText(hit) {
  if (!hit.expiresAt) return "waits for you";
  const s = Math.max(0, Math.round((hit.expiresAt - Date.now()) / 1000));
  return `${hit.timeoutAction === "abort" ? "aborts" : "continues"} in ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function pausedItem(hit) {
  return h("button", { class: "paused-item", "data-hit": hit.id, title: hit.url, onclick: () => openEditor(hit.id) },
    h("span", { class: "pill", text: hit.type }),
    h("span", { class: "method", text: hit.method }),
    h("span", { class: "paused-url", text: shortUrl(hit.url) }),
    hit.type === "response" ? h("span", { text: `→ ${hit.status}` }) : null,
    h("span", { class: "muted paused-left", text: leftText(hit) }));
}

/** The list is updated in place (it follows every breakpoint event and, while open, its
 * countdowns tick each second): an exchange still held keeps its element, since replacing it
 * between a press and a release would lose that click. The list grows upwards from the tray, so
 * a newly held exchange goes in at the top, under the head: appended below, it would push every
 * item up under the pointer, and a click meant for one would land on another. Newest first. */
function renderList() {
  const list = $("paused-list");
  let head = list.querySelector(".paused-head");
  if (!head) {
    head = h("div", { class: "paused-head" }, h("strong", { text: "Paused" }), h("span", { class: "spacer" }),
      h("button", { class: "small", id: "paused-continue-all", text: "Continue all", onclick: continueAll }));
    list.replaceChildren(head);
  }
  const shown = new Map([...list.querySelectorAll(".paused-item")].map((b) => [b.dataset.hit, b]));
  for (const [id, b] of shown) if (!held.has(id)) b.remove();
  for (const hit of held.values()) {
    const b = shown.get(hit.id);
    if (!b) {
      head.after(pausedItem(hit));
      continue;
    }
    const left = b.querySelector(".paused-left");
    const text = leftText(hit);
    if (left.textContent !== text) left.textContent = text;
  }
}

function shortUrl(url) {
  try {
    const u = new URL(url);
    return u.host + u.pathname + u.search;
  } catch {
    return url;
  }
}

async function continueAll() {
  try {
    const r = await api("/api/breakpoints/paused/resume-all", { method: "POST", json: { action: "continue" } });
    toast(`Continued ${r.resumed} held exchange${r.resumed === 1 ? "" : "s"}`);
  } catch (e) {
    toast(e.message);
  }
}

async function refreshHeld() {
  try {
    const body = await api("/api/breakpoints/paused");
    held.clear();
    for (const hit of body.paused) held.set(hit.id, hit);
  } catch {
    return;
  }
  if (editor && !held.has(editor.hit.id)) markGone("went on");
  renderTray();
}

async function refreshBreakpoints() {
  try {
    const body = await api("/api/breakpoints");
    breakpointCount = body.breakpoints.length;
    const btn = $("btn-breakpoints");
    btn.hidden = breakpointCount === 0;
    btn.textContent = `Breakpoints (${body.breakpoints.filter((b) => b.enabled).length})`;
    if (manager) renderManager(body.breakpoints);
  } catch {}
}

function connect() {
  const es = new EventSource(withToken("/api/events?kinds=" + KINDS));
  es.addEventListener("open", () => (refreshHeld(), refreshBreakpoints()));
  es.addEventListener("breakpoint:hit", (ev) => {
    const hit = JSON.parse(ev.data);
    held.set(hit.id, hit);
    renderTray();
  });
  const gone = (what) => (ev) => {
    const p = JSON.parse(ev.data);
    held.delete(p.id);
    if (editor && editor.hit.id === p.id && !editor.sent) markGone(`${what}: ${p.action}`);
    renderTray();
  };
  es.addEventListener("breakpoint:resumed", gone("let go elsewhere"));
  es.addEventListener("breakpoint:timeout", gone("timed out"));
  es.addEventListener("breakpoints", () => refreshBreakpoints());
  es.addEventListener("reset", () => refreshHeld());
}

// ---------------------------------------------------------------- the editor
function decodeText(b64) {
  if (b64 === null || b64 === undefined) return { text: "", binary: false };
  const bytes = b64bytes(b64);
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), binary: false, size: bytes.length };
  } catch {
    return { text: "", binary: true, size: bytes.length };
  }
}

function headerTable(id, pairs) {
  const body = h("tbody");
  const addRow = (name = "", value = "") =>
    body.append(
      h("tr", {},
        h("td", {}, h("input", { class: "hdr-name", value: name, "aria-label": "Header name", spellcheck: "false" })),
        h("td", {}, h("input", { class: "hdr-value", value: value, "aria-label": "Header value", spellcheck: "false" })),
        h("td", {}, h("button", { class: "small", title: "Remove this header", "aria-label": "Remove header", text: "✕", onclick: (ev) => ev.target.closest("tr").remove() })))
    );
  for (const p of pairs) addRow(p.name, p.value);
  const table = h("table", { class: "hdr-table", id }, body);
  table.addRow = addRow;
  return h("div", {}, table, h("button", { class: "small", text: "+ Add header", onclick: () => addRow() }));
}

function readHeaders(id) {
  return [...document.querySelectorAll(`#${id} tbody tr`)]
    .map((tr) => ({ name: tr.querySelector(".hdr-name").value.trim(), value: tr.querySelector(".hdr-value").value }))
    .filter((p) => p.name);
}

function isJsonType(pairs) {
  const ct = (pairs.find((p) => p.name.toLowerCase() === "content-type") || {}).value || "";
  return /[/+]json\b/i.test(ct);
}

function bodyEditor(id, b64, pairs) {
  const { text, binary, size } = decodeText(b64);
  const area = h("textarea", { id, rows: 12, spellcheck: "false", "aria-label": "Body" });
  area.value = text;
  const status = h("span", { class: "muted body-status", id: id + "-status" });
  const check = () => {
    const v = area.value;
    const json = isJsonType(pairs()) || /^\s*[[{]/.test(v);
    if (!v.trim() || !json) {
      status.textContent = binary ? "" : "text";
      status.className = "muted body-status";
      return;
    }
    try {
      JSON.parse(v);
      status.textContent = "valid JSON";
      status.className = "ok body-status";
    } catch (e) {
      status.textContent = "invalid JSON: " + e.message;
      status.className = "danger body-status";
    }
  };
  area.addEventListener("input", check);
  const pretty = h("button", { class: "small", id: id + "-pretty", text: "Pretty print", onclick: () => {
    try {
      area.value = JSON.stringify(JSON.parse(area.value), null, 2);
      check();
    } catch (e) {
      toast("Not JSON: " + e.message);
    }
  } });
  if (binary) {
    area.disabled = true;
    area.placeholder = `binary body (${fmtSize(size)}): it is sent as it is`;
  }
  setTimeout(check);
  return { el: h("div", {}, h("div", { class: "body-tools" }, pretty, status), area), area, original: text, binary };
}

function markGone(what) {
  if (!editor) return;
  editor.gone = true;
  const note = document.getElementById("bp-gone");
  if (note) {
    note.hidden = false;
    note.textContent = `This exchange has already gone on (${what}): nothing you send now reaches it.`;
  }
  for (const b of document.querySelectorAll("#bp-editor .bp-actions button")) b.disabled = true;
}

async function openEditor(id) {
  let hit;
  try {
    hit = await api("/api/breakpoints/paused/" + q(id)); // bodies in full
  } catch (e) {
    held.delete(id);
    renderTray();
    return toast(e.status === 404 ? "That exchange has already gone on" : e.message);
  }
  $("paused-list").hidden = true;
  const isResponse = hit.type === "response";
  const headerId = isResponse ? "bp-resp-headers" : "bp-req-headers";
  const pairs = isResponse ? hit.responseHeaderList : hit.requestHeaderList;
  const body = bodyEditor("bp-body", isResponse ? hit.responseBody : hit.requestBody, () => readHeaders(headerId));
  const line = isResponse
    ? h("div", { class: "bp-line" },
        h("span", { class: "muted", text: `${hit.method} ${hit.url}` }), h("br"),
        h("label", {}, "Status ", h("input", { id: "bp-status", type: "number", min: 100, max: 599, value: hit.status, style: { width: "6em" } })),
        " ",
        h("label", {}, "Reason ", h("input", { id: "bp-status-text", value: hit.statusText || "" })))
    : h("div", { class: "bp-line" },
        h("input", { id: "bp-method", value: hit.method, "aria-label": "Method", style: { width: "7em" }, spellcheck: "false" }),
        h("input", { id: "bp-url", value: hit.url, "aria-label": "URL", class: "bp-url", spellcheck: "false" }));
  const root = h("div", { id: "bp-editor", class: "bp-editor", "data-hit": hit.id },
    h("h3", { text: `Held ${hit.type}: ${hit.method} ${shortUrl(hit.url)}` }),
    h("p", { class: "muted" }, `Breakpoint “${hit.breakpointName}” · `, h("span", { id: "bp-left", text: leftText(hit) })),
    h("p", { class: "bp-gone danger", id: "bp-gone", hidden: true }),
    line,
    h("h4", { text: "Headers" }),
    headerTable(headerId, pairs),
    h("h4", {}, "Body ", h("span", { class: "muted small", text: "(Content-Length follows it)" })),
    body.el,
    h("div", { class: "actions bp-actions" },
      h("button", { id: "bp-continue", text: "Continue", title: "Send it on unchanged (F8)", onclick: () => send({ action: "continue" }, "Continued") }),
      h("button", { id: "bp-continue-edits", class: "primary", text: "Continue with edits", title: "Send it on as edited (Ctrl+Enter)", onclick: () => continueWithEdits() }),
      h("button", { id: "bp-mock", text: "Mock…", title: isResponse ? "Answer with your own response (starts from this one)" : "Answer without asking the origin", onclick: () => openMock() }),
      h("button", { id: "bp-abort", class: "danger", text: "Abort", title: "Answer 499 (Shift+F8)", onclick: () => send({ action: "abort" }, "Aborted") })),
    h("p", { class: "muted small", text: "F8 continue · Shift+F8 abort · Ctrl/Cmd+Enter continue with edits" }));
  editor = { hit, root, body, headerId, pairs, gone: false, sent: false };
  showDialog([root], { label: "Held exchange" });
  if (!held.has(hit.id)) markGone("went on");
  const tick = setInterval(() => {
    const el = document.getElementById("bp-left");
    if (!el || !editor || editor.hit.id !== hit.id) return clearInterval(tick);
    el.textContent = leftText(hit);
  }, 1000);
  $("dialog").addEventListener("close", () => {
    if (editor && editor.root === root) editor = null;
  }, { once: true });
}

function edits() {
  const { hit, body, headerId, pairs } = editor;
  const out = {};
  if (hit.type === "response") {
    const status = Number($("bp-status").value);
    if (status !== hit.status) out.status = status;
    if ($("bp-status-text").value !== (hit.statusText || "")) out.statusText = $("bp-status-text").value;
  } else {
    if ($("bp-method").value.trim() !== hit.method) out.method = $("bp-method").value.trim();
    if ($("bp-url").value.trim() !== hit.url) out.url = $("bp-url").value.trim();
  }
  const now = readHeaders(headerId);
  if (JSON.stringify(now) !== JSON.stringify(pairs.map((p) => ({ name: p.name, value: p.value })))) out.headerList = now;
  if (!body.binary && body.area.value !== body.original) out.body = body.area.value;
  return out;
}

function continueWithEdits() {
  if (!editor || editor.gone) return;
  const changes = edits();
  const invalid = document.getElementById("bp-body-status");
  if ("body" in changes && invalid && invalid.classList.contains("danger") && !confirm("The body is not valid JSON. Send it anyway?")) return;
  const side = editor.hit.type === "response" ? "response" : "request";
  const n = Object.keys(changes).length;
  send(n ? { action: "continue", modifications: { [side]: changes } } : { action: "continue" }, n ? "Continued with your edits" : "Continued (nothing was changed)");
}

function openMock() {
  if (!editor || editor.gone) return;
  const { hit } = editor;
  const fromResponse = hit.type === "response";
  const pairs = fromResponse ? readHeaders(editor.headerId) : [{ name: "Content-Type", value: "application/json" }];
  const status = fromResponse ? Number($("bp-status").value) : 200;
  const reason = fromResponse ? $("bp-status-text").value : "OK";
  const text = fromResponse ? editor.body.area.value : "";
  const body = bodyEditor("bp-mock-body", null, () => readHeaders("bp-mock-headers"));
  body.area.value = text;
  body.area.dispatchEvent(new Event("input"));
  const root = editor.root;
  const mock = h("div", { id: "bp-mock-form", class: "bp-mock" },
    h("h4", { text: "Mock answer (the client gets this" + (fromResponse ? " instead of the origin's response)" : "; the origin is not contacted)") }),
    h("div", { class: "bp-line" },
      h("label", {}, "Status ", h("input", { id: "bp-mock-status", type: "number", min: 100, max: 599, value: status, style: { width: "6em" } })), " ",
      h("label", {}, "Reason ", h("input", { id: "bp-mock-status-text", value: reason }))),
    headerTable("bp-mock-headers", pairs),
    body.el,
    h("div", { class: "actions" },
      h("button", { id: "bp-mock-send", class: "primary", text: "Send mock", onclick: () => {
        const mockBody = { status: Number($("bp-mock-status").value), statusText: $("bp-mock-status-text").value, headerList: readHeaders("bp-mock-headers"), body: body.area.value };
        send({ action: "mock", modifications: { mock: mockBody } }, "Mocked");
      } }),
      h("button", { text: "Back", onclick: () => (mock.remove(), (root.querySelector(".bp-actions").hidden = false)) })));
  root.querySelector(".bp-actions").hidden = true;
  root.append(mock);
  mock.scrollIntoView({ block: "nearest" });
}

async function send(body, done) {
  if (!editor || editor.gone) return;
  const { hit } = editor;
  try {
    await api(`/api/breakpoints/paused/${q(hit.id)}/resume`, { method: "POST", json: body });
  } catch (e) {
    if (e.status === 404) return markGone("went on");
    return toast(e.message); // a 400 names the field; the exchange stays held
  }
  editor.sent = true;
  held.delete(hit.id);
  renderTray();
  closeDialog();
  toast(`${done}: ${hit.method} ${shortUrl(hit.url)}`);
}

function onKey(ev) {
  if (!editor || !$("dialog").open || !editor.root.isConnected) return;
  if (ev.key === "F8" || ev.key === "F5") {
    ev.preventDefault();
    if (ev.shiftKey) send({ action: "abort" }, "Aborted");
    else send({ action: "continue" }, "Continued");
  } else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    if (document.getElementById("bp-mock-form")) $("bp-mock-send").click();
    else continueWithEdits();
  }
}

// ---------------------------------------------------------------- breakpoints list, "Break on this"
let manager = false;

function renderManager(list) {
  const rows = list.map((b) =>
    h("tr", { "data-bp": b.id },
      h("td", {}, h("input", { type: "checkbox", checked: b.enabled, "aria-label": "Enabled", onchange: async () => {
        await api(`/api/breakpoints/${q(b.id)}/toggle`, { method: "PATCH" }).catch((e) => toast(e.message));
      } })),
      h("td", { text: b.name }),
      h("td", { text: b.type }),
      h("td", { class: "muted", text: Object.entries(b.match).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`).join(" ") || "(all)" }),
      h("td", {}, h("button", { class: "small danger", text: "Delete", onclick: async () => {
        await api(`/api/breakpoints/${q(b.id)}`, { method: "DELETE" }).catch((e) => toast(e.message));
      } }))));
  const body = $("dialog-body").querySelector("#bp-manager tbody");
  if (body) body.replaceChildren(...rows);
}

async function openManager() {
  showDialog([
    h("h3", { text: "Breakpoints" }),
    h("p", { class: "muted", text: "Exchanges that match an enabled breakpoint are held until you let them go (the Paused tray). Add one with “Break on this” on an entry, the API or necto breakpoints add." }),
    h("table", { class: "kv", id: "bp-manager" }, h("tbody")),
  ], { label: "Breakpoints" });
  manager = true;
  $("dialog").addEventListener("close", () => (manager = false), { once: true });
  await refreshBreakpoints();
}

/** "Break on this": a request breakpoint for the entry's method and URL. */
export async function breakOn(entryId) {
  try {
    const e = await api("/api/traffic/" + q(entryId));
    const bp = await api("/api/breakpoints", {
      method: "POST",
      json: { name: `${e.method} ${e.url}`.slice(0, 200), type: "request", match: { method: e.method, url: e.url } },
    });
    toast(`Breakpoint set: the next ${bp.match.method} to this URL will be held`);
    refreshBreakpoints();
  } catch (err) {
    toast("Could not set the breakpoint: " + err.message);
  }
}

export function wirePaused() {
  $("paused-tray").onclick = (ev) => {
    ev.stopPropagation();
    const list = $("paused-list");
    list.hidden = !list.hidden;
    if (!list.hidden) renderList();
  };
  $("paused-list").addEventListener("click", (ev) => ev.stopPropagation());
  document.addEventListener("click", () => ($("paused-list").hidden = true));
  $("btn-breakpoints").onclick = openManager;
  document.addEventListener("keydown", onKey);
  setInterval(() => !$("paused-list").hidden && renderList(), 1000);
  connect();
}
