// Necto's page: plain JavaScript, no build step. Captured content is untrusted: it is only ever
// put into the page with textContent / createElement, never as HTML.

const ROW_H = 24;
const PAGE = 200;
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ API access (token-aware)
const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("necto-token", params.get("token"));
const TOKEN = sessionStorage.getItem("necto-token");

function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const resp = await fetch(path, { ...options, headers });
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") && !options.raw ? await resp.json() : resp;
  if (!resp.ok) throw new Error((data && data.error) || resp.statusText);
  return data;
}

// ------------------------------------------------------------------ state
const state = {
  sessions: [],
  sessionId: null,
  count: 0,
  rows: [], // index -> entry summary (sparse)
  loading: new Set(), // page numbers in flight
  selected: new Set(),
  anchor: null,
  cursor: null,
  detailId: null,
  sort: { field: "timestamp", dir: "asc" },
  filters: { search: "", methods: "", statusCodes: "", hosts: "" },
  events: null,
  health: null,
};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 2500);
}

function showDialog(...children) {
  const body = $("dialog-body");
  body.replaceChildren(...children);
  if (!$("dialog").open) $("dialog").showModal();
}

// ------------------------------------------------------------------ sessions
async function loadSessions() {
  state.sessions = await api("/api/sessions");
  if (!state.sessionId || !state.sessions.some((s) => s.id === state.sessionId)) {
    const active = state.sessions.find((s) => s.isActive) || state.sessions[0];
    await switchSession(active ? active.id : null, false);
  }
  renderSessions();
}

function currentSession() {
  return state.sessions.find((s) => s.id === state.sessionId);
}

function renderSessions() {
  const sel = $("session-select");
  sel.replaceChildren(
    ...state.sessions.map((s) =>
      h("option", { value: s.id, text: `${s.isActive ? "● " : ""}${s.name} (${s.trafficCount})` })
    )
  );
  sel.value = state.sessionId || "";
  const s = currentSession();
  const pill = $("session-state");
  if (s) {
    const recording = s.isActive && s.isRecording;
    pill.textContent = recording ? "recording" : s.isActive ? "paused" : "not recording";
    pill.className = "pill" + (recording ? " rec" : "");
    $("btn-pause-session").textContent = s.isRecording ? "Pause" : "Resume";
    $("btn-activate-session").disabled = s.isActive;
  }
}

async function switchSession(id, reload = true) {
  state.sessionId = id;
  state.selected.clear();
  state.anchor = state.cursor = null;
  closeDetail();
  connectEvents();
  await reloadTraffic();
  if (reload) renderSessions();
}

async function sessionAction(kind) {
  const s = currentSession();
  try {
    if (kind === "new") {
      const name = prompt("Name of the new session:", "Session " + new Date().toLocaleString());
      if (!name) return;
      const created = await api("/api/sessions", { method: "POST", json: { name, activate: true } });
      state.sessionId = created.id;
    } else if (!s) {
      return;
    } else if (kind === "rename") {
      const name = prompt("New name:", s.name);
      if (!name) return;
      await api(`/api/sessions/${s.id}`, { method: "PATCH", json: { name } });
    } else if (kind === "activate") {
      await api(`/api/sessions/${s.id}/activate`, { method: "POST" });
    } else if (kind === "pause") {
      await api(`/api/sessions/${s.id}`, { method: "PATCH", json: { isRecording: !s.isRecording } });
    } else if (kind === "delete") {
      if (!confirm(`Delete session "${s.name}" and its ${s.trafficCount} entries?`)) return;
      await api(`/api/sessions/${s.id}`, { method: "DELETE" });
      state.sessionId = null;
    }
    await loadSessions();
    if (kind === "new") await switchSession(state.sessionId);
  } catch (e) {
    toast(e.message);
  }
}

// ------------------------------------------------------------------ traffic list
function queryString(offset, limit) {
  const q = new URLSearchParams({
    sessionId: state.sessionId || "",
    offset,
    limit,
    sortField: state.sort.field,
    sortDirection: state.sort.dir,
  });
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, v);
  return q.toString();
}

function filtersActive() {
  return Object.values(state.filters).some(Boolean);
}

async function reloadTraffic() {
  state.rows = [];
  state.loading.clear();
  state.generation = (state.generation || 0) + 1;
  if (!state.sessionId) {
    state.count = 0;
    render();
    return;
  }
  await loadPage(0);
  render();
}

async function loadPage(page) {
  if (state.loading.has(page)) return;
  state.loading.add(page);
  const generation = state.generation;
  try {
    const data = await api("/api/traffic?" + queryString(page * PAGE, PAGE));
    if (generation !== state.generation) return;
    state.count = data.count;
    data.entries.forEach((e, i) => (state.rows[page * PAGE + i] = e));
  } finally {
    state.loading.delete(page);
  }
  render();
}

function fmtSize(n) {
  if (n === null || n === undefined || n < 0) return "";
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
  return (n / (1 << 20)).toFixed(1) + " MB";
}

function shortType(ct) {
  if (!ct) return "";
  return ct.split(";")[0].replace("application/", "").replace("text/", "");
}

function render() {
  $("count").textContent = `${state.count} entries`;
  const viewport = $("viewport");
  $("spacer").style.height = state.count * ROW_H + "px";
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - 10);
  const last = Math.min(state.count, first + Math.ceil(viewport.clientHeight / ROW_H) + 20);
  const rows = [];
  for (let i = first; i < last; i++) {
    const e = state.rows[i];
    if (!e) {
      loadPage(Math.floor(i / PAGE));
      rows.push(h("div", { class: "row", style: `top:${i * ROW_H}px` }, h("span", { text: "…" })));
      continue;
    }
    const cls = ["row"];
    if (state.selected.has(e.id)) cls.push("selected");
    if (e.status === null) cls.push("failed");
    else cls.push("s" + String(e.status)[0]);
    const row = h(
      "div",
      { class: cls.join(" "), "data-index": i, "data-id": e.id, role: "row" },
      h("span", { text: e.method }),
      h("span", { text: e.status === null ? "ERR" : e.status }),
      h("span", { text: e.host, title: e.host }),
      h("span", { text: e.path, title: e.url }),
      h("span", { text: e.protocol.startsWith("ws") ? "websocket" : shortType(e.contentType) }),
      h("span", { text: fmtSize(e.responseBodySize) }),
      h("span", { text: e.duration.toFixed(0) + " ms" })
    );
    row.style.position = "absolute";
    row.style.top = i * ROW_H + "px";
    row.style.left = "0";
    row.style.right = "0";
    rows.push(row);
  }
  $("rows").replaceChildren(...rows);
  document.querySelectorAll(".thead span[data-sort]").forEach((s) => {
    s.classList.toggle("sorted", s.dataset.sort === state.sort.field);
    s.classList.toggle("desc", state.sort.dir === "desc");
  });
  renderEmpty();
}

function renderEmpty() {
  const empty = $("empty");
  const show = state.count === 0 && !filtersActive();
  empty.hidden = !show;
  if (!show || empty.dataset.filled) return;
  empty.dataset.filled = "1";
  const proxy = state.health ? `${state.health.proxy.host}:${state.health.proxy.port}` : "127.0.0.1:8888";
  const steps = h("div");
  empty.replaceChildren(
    h("h2", { text: "No traffic in this session yet" }),
    h("p", { text: "Point a browser, curl or a phone at the proxy, and requests appear here as they happen." }),
    h("p", {}, "curl: ", h("code", { text: `curl -x http://${proxy} --cacert necto-ca-cert.pem https://example.com/` })),
    h("p", {}, "Browser: set the HTTP and HTTPS proxy to ", h("code", { text: proxy }), ", then trust Necto's CA."),
    h("p", {}, h("a", { href: withToken("/api/certificates/download"), id: "ca-download", text: "Download the CA certificate" })),
    steps
  );
  api("/api/certificates/ca/install")
    .then((info) => {
      for (const [platform, lines] of Object.entries(info.platforms)) {
        steps.append(h("h4", { text: platform }), h("pre", { text: lines.join("\n") }));
      }
    })
    .catch(() => {});
}

// Live updates: new entries arrive batched (~100 ms) over Server-Sent Events.
function connectEvents() {
  if (state.events) state.events.close();
  if (!state.sessionId) return;
  const es = new EventSource(withToken("/api/events?sessionId=" + encodeURIComponent(state.sessionId)));
  state.events = es;
  es.addEventListener("entries", (ev) => {
    const entries = JSON.parse(ev.data);
    const appendable = !filtersActive() && state.sort.field === "timestamp" && state.sort.dir === "asc";
    if (appendable && state.rows.length >= state.count - PAGE) {
      for (const e of entries) state.rows[state.count++] = e;
      render();
      const vp = $("viewport");
      if (vp.scrollHeight - vp.scrollTop - vp.clientHeight < ROW_H * 3) vp.scrollTop = vp.scrollHeight;
    } else {
      scheduleReload();
    }
    scheduleSessions();
  });
  for (const kind of ["removed", "reset"]) es.addEventListener(kind, () => scheduleReload());
  es.addEventListener("sessions", () => scheduleSessions());
}

function scheduleReload() {
  clearTimeout(scheduleReload.t);
  scheduleReload.t = setTimeout(reloadTraffic, 300);
}

function scheduleSessions() {
  clearTimeout(scheduleSessions.t);
  scheduleSessions.t = setTimeout(() => loadSessions().catch(() => {}), 500);
}

// ------------------------------------------------------------------ selection
function indexOfId(id) {
  return state.rows.findIndex((e) => e && e.id === id);
}

function selectIndex(i, ev = {}) {
  const e = state.rows[i];
  if (!e) return;
  if (ev.shiftKey && state.anchor !== null) {
    const [a, b] = [Math.min(state.anchor, i), Math.max(state.anchor, i)];
    if (!(ev.ctrlKey || ev.metaKey)) state.selected.clear();
    for (let k = a; k <= b; k++) if (state.rows[k]) state.selected.add(state.rows[k].id);
  } else if (ev.ctrlKey || ev.metaKey) {
    if (state.selected.has(e.id)) state.selected.delete(e.id);
    else state.selected.add(e.id);
    state.anchor = i;
  } else {
    state.selected = new Set([e.id]);
    state.anchor = i;
  }
  state.cursor = i;
  render();
  if (state.selected.size === 1) openDetail([...state.selected][0]);
}

function selectedIdsInOrder() {
  return state.rows.filter((e) => e && state.selected.has(e.id)).map((e) => e.id);
}

// ------------------------------------------------------------------ export / import
function download(blob, filename) {
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

function exportOptions() {
  const q = new URLSearchParams();
  if ($("opt-exclude-binary").checked) q.set("excludeBinary", "true");
  if ($("opt-redact").checked) q.set("redact", "true");
  return q.toString();
}

function filenameFrom(resp, fallback) {
  const cd = resp.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(cd);
  return m ? m[1] : fallback;
}

async function exportSession() {
  if (!state.sessionId) return;
  try {
    const opts = exportOptions();
    const resp = await api(`/api/har/export/${state.sessionId}${opts ? "?" + opts : ""}`, { raw: true });
    download(await resp.blob(), filenameFrom(resp, "session.har"));
  } catch (e) {
    toast("Export failed: " + e.message);
  }
}

async function exportSelected() {
  const ids = selectedIdsInOrder();
  if (!ids.length) return toast("Select entries first (click, Ctrl-click, Shift-click)");
  try {
    const opts = exportOptions();
    const s = currentSession();
    const resp = await api("/api/har/export" + (opts ? "?" + opts : ""), {
      method: "POST",
      json: { entryIds: ids, sessionName: s ? s.name + " (selection)" : "Necto Export" },
      raw: true,
    });
    download(await resp.blob(), filenameFrom(resp, "selection.har"));
  } catch (e) {
    toast("Export failed: " + e.message);
  }
}

async function importFile(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("sessionName", "Imported: " + file.name.replace(/\.har$/i, ""));
  showDialog(h("p", { text: `Importing ${file.name}…` }));
  try {
    const result = await api("/api/har/import", { method: "POST", body: form });
    const warnings = result.warnings || [];
    const skipped = result.skipped || [];
    const describe = (w) => (typeof w === "string" ? w : [w.index !== undefined ? `entry ${w.index}` : "", w.path || w.field || "", w.message || w.reason || JSON.stringify(w)].filter(Boolean).join(": "));
    showDialog(
      h("h3", { text: `Imported ${result.imported} of ${result.total} entries into "${result.sessionName}"` }),
      h("p", { id: "import-warning-count", text: `${warnings.length} warnings, ${skipped.length} skipped` }),
      h("ul", { class: "warnings" }, ...warnings.map((w) => h("li", { text: describe(w) }))),
      skipped.length ? h("h4", { text: "Skipped" }) : null,
      h("ul", { class: "warnings" }, ...skipped.map((s) => h("li", { text: `entry ${s.index}: ${s.reason}` })))
    );
    state.sessionId = result.sessionId;
    await loadSessions();
    await switchSession(result.sessionId);
  } catch (e) {
    showDialog(h("h3", { text: "Import failed" }), h("p", { id: "import-error", text: e.message }));
  }
}

// ------------------------------------------------------------------ detail
function closeDetail() {
  state.detailId = null;
  $("detail").hidden = true;
  $("detail").replaceChildren();
}

function b64bytes(b64) {
  const bin = atob(b64 || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function kvTable(pairs) {
  return h("table", { class: "kv" }, ...pairs.map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { text: v ?? "" }))));
}

function jsonTree(value, key) {
  const label = key !== undefined ? h("span", { class: "key", text: JSON.stringify(key) + ": " }) : null;
  if (value !== null && typeof value === "object") {
    const isArr = Array.isArray(value);
    const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
    const d = h("details", { open: "" }, h("summary", {}, label, isArr ? `[${entries.length}]` : `{${entries.length}}`));
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

function bodyView(b64, contentType) {
  if (b64 === null || b64 === undefined) return h("p", { class: "muted", text: "No body" });
  const bytes = b64bytes(b64);
  if (!bytes.length) return h("p", { class: "muted", text: "Empty body" });
  const ct = (contentType || "").toLowerCase();
  if (ct.startsWith("image/")) {
    const url = URL.createObjectURL(new Blob([bytes], { type: ct.split(";")[0] }));
    return h("div", {}, h("img", { src: url, alt: "response image", style: "max-width:100%" }), h("p", { class: "muted", text: fmtSize(bytes.length) }));
  }
  let text = null;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return h("pre", { class: "hex", text: hexDump(bytes) });
  }
  if (ct.includes("json") || /^\s*[{[]/.test(text)) {
    try {
      return h("div", { class: "json" }, jsonTree(JSON.parse(text)));
    } catch {}
  }
  return h("pre", { text });
}

function waterfall(t) {
  const phases = ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"];
  const total = ["blocked", "dns", "connect", "send", "wait", "receive"].reduce((s, p) => s + Math.max(0, t[p]), 0) || 1;
  const grid = h("div", { class: "waterfall", id: "waterfall" });
  let offset = 0;
  const starts = {};
  for (const p of ["blocked", "dns", "connect", "send", "wait", "receive"]) {
    starts[p] = offset;
    offset += Math.max(0, t[p]);
  }
  // ssl is part of connect: it ends where connect ends.
  starts.ssl = starts.connect + Math.max(0, t.connect) - Math.max(0, t.ssl);
  for (const p of phases) {
    const v = t[p];
    const bar = h("div", { class: "bar " + p });
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

function curlCommand(e) {
  const q = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";
  const parts = ["curl", "-X", e.method, q(e.url)];
  for (const hdr of e.requestHeaderList) {
    if (hdr.name.startsWith(":")) continue;
    parts.push("-H", q(`${hdr.name}: ${hdr.value}`));
  }
  if (e.requestBody) {
    const bytes = b64bytes(e.requestBody);
    try {
      parts.push("--data-binary", q(new TextDecoder("utf-8", { fatal: true }).decode(bytes)));
    } catch {
      parts.push("--data-binary", "@body.bin");
    }
  }
  return parts.join(" ");
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied");
  } catch {
    showDialog(h("p", { text: "Copy this:" }), h("pre", { id: "copy-text", text }));
  }
}

async function openDetail(id) {
  state.detailId = id;
  let e;
  try {
    e = await api("/api/traffic/" + id);
  } catch (err) {
    return toast(err.message);
  }
  if (state.detailId !== id) return;
  const pane = $("detail");
  pane.hidden = false;
  const content = h("div", { class: "tab-content" });
  const tabs = {
    Headers: () => [
      kvTable([
        ["URL", e.url],
        ["Method", e.method],
        ["Status", e.status === null ? "no response" : `${e.status} ${e.statusText || ""}`],
        ["HTTP version", e.httpVersion],
        ["Error", e.error || ""],
      ]),
      h("h4", { text: "Request headers" }),
      kvTable(e.requestHeaderList.map((x) => [x.name, x.value])),
      h("h4", { text: "Response headers" }),
      kvTable(e.responseHeaderList.map((x) => [x.name, x.value])),
    ],
    Query: () => [kvTable([...new URL(e.url).searchParams.entries()])],
    Cookies: () => [
      h("h4", { text: "Request cookies" }),
      kvTable(parseCookies(e.requestHeaderList, "cookie")),
      h("h4", { text: "Response cookies" }),
      kvTable(parseCookies(e.responseHeaderList, "set-cookie")),
    ],
    Request: () => [bodyView(e.requestBody, (e.requestHeaders || {})["content-type"])],
    Response: () => [
      e.responseBodyTruncated ? h("p", { class: "muted", text: "Body truncated by --max-body-size" }) : null,
      bodyView(e.responseBody, e.contentType),
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
        ["Source", e.source],
      ]),
    ],
  };
  if (e.webSocketMessages) {
    tabs.WebSocket = () => [
      kvTable(e.webSocketMessages.map((m) => [`${m.type} ${new Date(m.time * 1000).toISOString()}`, m.encoding ? `(binary) ${m.data}` : m.data])),
    ];
  }
  const tabBar = h("div", { class: "tabs", role: "tablist" });
  const show = (name) => {
    for (const b of tabBar.children) b.classList.toggle("active", b.textContent === name);
    content.replaceChildren(...tabs[name]().filter(Boolean));
    state.detailTab = name;
  };
  for (const name of Object.keys(tabs)) tabBar.append(h("button", { text: name, role: "tab", onclick: () => show(name) }));
  pane.replaceChildren(
    h("h3", { text: `${e.method} ${e.url}` }),
    h(
      "div",
      { class: "actions" },
      h("button", { text: "Copy URL", onclick: () => copy(e.url) }),
      h("button", { text: "Copy as cURL", onclick: () => copy(curlCommand(e)) }),
      h("button", { text: "Replay", id: "btn-replay", onclick: () => replay(e.id) }),
      h("button", { text: "Compare selected", onclick: () => compareSelected() }),
      h("button", { text: "Close", onclick: closeDetail })
    ),
    tabBar,
    content
  );
  show(tabs[state.detailTab] ? state.detailTab : "Headers");
}

async function replay(id) {
  try {
    const r = await api(`/api/traffic/${id}/replay`, { method: "POST", json: {} });
    const c = r.comparison || {};
    showDialog(
      h("h3", { id: "replay-result", text: `Replayed: ${r.result.status} ${r.result.statusText || ""} in ${Number(r.result.duration || 0).toFixed(0)} ms` }),
      r.result.error ? h("p", { text: "Error: " + r.result.error }) : null,
      h("p", { text: c.identical ? "Identical to the original." : `${(c.changes || []).length} differences from the original:` }),
      kvTable((c.changes || []).map((ch) => [`${ch.type} ${ch.field || ""}`, `${JSON.stringify(ch.original)} → ${JSON.stringify(ch.replayed)}`]))
    );
  } catch (e) {
    toast("Replay failed: " + e.message);
  }
}

async function compareSelected() {
  const ids = selectedIdsInOrder();
  if (ids.length !== 2) return toast("Select exactly two entries to compare");
  try {
    const d = await api(`/api/compare/entries?a=${encodeURIComponent(ids[0])}&b=${encodeURIComponent(ids[1])}`);
    const [a, b] = await Promise.all(ids.map((id) => api("/api/traffic/" + id)));
    const side = (e) =>
      h("div", {}, h("h4", { text: `${e.method} ${e.url}` }), kvTable([["Status", e.status], ...e.responseHeaderList.map((x) => [x.name, x.value])]), bodyView(e.responseBody, e.contentType));
    showDialog(h("h3", { text: "Comparison" }), h("pre", { id: "compare-summary", text: JSON.stringify(d, null, 2) }), h("div", { class: "diff" }, side(a), side(b)));
  } catch (e) {
    toast("Compare failed: " + e.message);
  }
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("session-select").addEventListener("change", (ev) => switchSession(ev.target.value));
  $("btn-new-session").onclick = () => sessionAction("new");
  $("btn-rename-session").onclick = () => sessionAction("rename");
  $("btn-activate-session").onclick = () => sessionAction("activate");
  $("btn-pause-session").onclick = () => sessionAction("pause");
  $("btn-delete-session").onclick = () => sessionAction("delete");

  const menu = document.querySelector("#export-menu .menu-items");
  $("btn-export").onclick = () => (menu.hidden = !menu.hidden);
  $("export-session").onclick = () => ((menu.hidden = true), exportSession());
  $("export-selected").onclick = () => ((menu.hidden = true), exportSelected());
  $("btn-import").onclick = () => $("import-file").click();
  $("import-file").addEventListener("change", (ev) => {
    if (ev.target.files[0]) importFile(ev.target.files[0]);
    ev.target.value = "";
  });

  let filterTimer;
  const setFilter = () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      state.filters = {
        search: $("filter-text").value.trim(),
        methods: $("filter-method").value,
        statusCodes: $("filter-status").value,
        hosts: $("filter-host").value.trim(),
      };
      reloadTraffic();
    }, 200);
  };
  for (const id of ["filter-text", "filter-method", "filter-status", "filter-host"]) {
    $(id).addEventListener("input", setFilter);
  }
  document.querySelectorAll(".thead span[data-sort]").forEach((span) =>
    span.addEventListener("click", () => {
      const f = span.dataset.sort;
      state.sort = { field: f, dir: state.sort.field === f && state.sort.dir === "asc" ? "desc" : "asc" };
      reloadTraffic();
    })
  );

  const vp = $("viewport");
  vp.addEventListener("scroll", () => requestAnimationFrame(render));
  vp.addEventListener("click", (ev) => {
    const row = ev.target.closest(".row[data-index]");
    if (row) selectIndex(Number(row.dataset.index), ev);
    vp.focus();
  });
  vp.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    ev.preventDefault();
    const next = Math.max(0, Math.min(state.count - 1, (state.cursor ?? -1) + (ev.key === "ArrowDown" ? 1 : -1)));
    selectIndex(next, { shiftKey: ev.shiftKey });
    const top = next * ROW_H;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW_H > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_H - vp.clientHeight;
  });
  const ctx = $("context-menu");
  vp.addEventListener("contextmenu", (ev) => {
    const row = ev.target.closest(".row[data-index]");
    if (!row) return;
    ev.preventDefault();
    if (!state.selected.has(row.dataset.id)) selectIndex(Number(row.dataset.index), {});
    ctx.style.left = ev.clientX + "px";
    ctx.style.top = ev.clientY + "px";
    ctx.hidden = false;
  });
  ctx.addEventListener("click", async (ev) => {
    const action = ev.target.dataset.action;
    ctx.hidden = true;
    const ids = selectedIdsInOrder();
    const first = ids[0] && (await api("/api/traffic/" + ids[0]).catch(() => null));
    if (action === "export-selected") exportSelected();
    else if (action === "copy-url" && first) copy(first.url);
    else if (action === "copy-curl" && first) copy(curlCommand(first));
    else if (action === "replay" && first) replay(first.id);
    else if (action === "compare") compareSelected();
  });
  document.addEventListener("click", (ev) => {
    if (!ctx.contains(ev.target)) ctx.hidden = true;
    if (!document.getElementById("export-menu").contains(ev.target)) menu.hidden = true;
  });

  // Drag and drop a .har anywhere on the page to import it.
  let depth = 0;
  window.addEventListener("dragenter", (ev) => {
    ev.preventDefault();
    depth++;
    $("drop-hint").hidden = false;
  });
  window.addEventListener("dragleave", () => {
    if (--depth <= 0) $("drop-hint").hidden = true;
  });
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => {
    ev.preventDefault();
    depth = 0;
    $("drop-hint").hidden = true;
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) importFile(file);
  });
  window.addEventListener("resize", render);
}

async function main() {
  wire();
  state.health = await api("/api/health").catch(() => null);
  await loadSessions();
  renderSessions();
  setInterval(() => loadSessions().catch(() => {}), 5000);
  document.body.dataset.ready = "1";
}

main().catch((e) => toast(e.message));
