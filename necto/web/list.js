// The traffic list: paged from the API (or scanned and filtered here), virtualised rows,
// live entries over Server-Sent Events, selection and keyboard movement.

import { api, withToken } from "./api.js";
import { $, h, throttle, toast } from "./dom.js";
import { state, emit, inCaptureOrder, writeUrl } from "./state.js";
import { clientFiltersActive, compareEntries, filtersActive, matchesClient, matchesServer } from "./filters.js";
import {
  ROW_H,
  layout,
  computeLayout,
  renderHeader,
  cellContent,
  columnTitle,
  waterfallBar,
  placeWaterfall,
  annotationColor,
  onColumnsChanged,
} from "./columns.js";
import { fmtMs } from "./dom.js";
import { setupHelp } from "./kinds.js";

const PAGE = 200; // rows per API page
const MAX_CACHED = 6000; // list entries kept in memory in paged mode; farther pages are dropped
const OVERSCAN = 8;
const SCAN_PAGE = 2000; // local mode reads the session this many entries at a time
export const LOCAL_MAX = 20000; // and keeps at most this many matches

const rowEls = new Map(); // index -> row element on screen
let loading = new Set();
let pendingLive = [];
let flushTimer = null;
let stickToBottom = false;
let pointerDown = false;
let lastScale = { key: "", label: "" };
let waitNote = ""; // what a slow first page of a new view is waiting for (see noteSlowLoad)
const SLOW_LOAD_MS = 400;

export function rowAt(i) {
  return state.mode === "local" ? state.local[i] : state.rows.get(i);
}

function queryString(offset, limit, captureOrder = false) {
  const q = new URLSearchParams({
    sessionId: state.sessionId || "",
    offset,
    limit,
    sortField: captureOrder ? "timestamp" : state.sort.field,
    sortDirection: captureOrder ? "asc" : state.sort.dir,
  });
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, v);
  return q.toString();
}

/** A 400 about the filter box's query (it names the token at fault); false for other errors. */
function filterFailed(e) {
  if (e.status !== 400 || !e.body || e.body.position === undefined) return false;
  state.filterError = e.body;
  Object.assign(state, { rows: new Map(), local: [], count: 0, fresh: false, scan: null });
  emit("filter-error", e.body);
  scheduleRender();
  return true;
}

// ---------------------------------------------------------------- loading
export async function reloadTraffic() {
  const gen = ++state.generation;
  loading = new Set();
  state.fresh = true;
  state.missedLive = false;
  writeUrl();
  if (!state.sessionId) {
    Object.assign(state, { rows: new Map(), local: [], count: 0, fresh: false, scan: null });
    scheduleRender();
    return;
  }
  // state.mode (what is rendered) follows state.want (what is loading) when the data arrives
  if (clientFiltersActive()) {
    state.want = "local";
    await scanLocal(gen);
  } else {
    state.want = "server";
    await loadPage(0, gen);
  }
}

const reloadSoon = throttle(() => reloadTraffic(), 1000);
export { reloadSoon };

function afterFresh() {
  state.fresh = false;
  if (state.missedLive) {
    state.missedLive = false;
    reloadSoon();
  }
}

async function loadPage(page, gen = state.generation) {
  if (state.want !== "server" || loading.has(page)) return;
  const mine = loading;
  mine.add(page);
  const slow = state.fresh ? setTimeout(() => noteSlowLoad(gen), SLOW_LOAD_MS) : null;
  try {
    const data = await api("/api/traffic?" + queryString(page * PAGE, PAGE));
    if (gen !== state.generation) return;
    if (state.filterError) emit("filter-error", (state.filterError = null));
    if (state.fresh) {
      state.rows = new Map();
      state.count = data.count;
      state.mode = "server";
      state.scan = null;
      afterFresh();
    } else {
      state.count = Math.max(state.count, data.count);
    }
    data.entries.forEach((e, i) => state.rows.set(page * PAGE + i, e));
    evict();
  } catch (e) {
    if (gen === state.generation && !filterFailed(e)) {
      toast("Could not load traffic: " + e.message);
      if (state.fresh && e.status === 404) emit("session-gone");
    }
  } finally {
    mine.delete(page);
    if (slow) clearTimeout(slow);
    if (gen === state.generation) waitNote = "";
  }
  scheduleRender();
}

/** A new view (a filter, a session) slow to answer says why: a text filter first indexes the
 * entries the background indexer has not reached (a big import, a burst of traffic), and the
 * list would otherwise go on showing the old view without a word. */
async function noteSlowLoad(gen) {
  if (gen !== state.generation) return;
  waitNote = "loading…";
  renderCount();
  try {
    const s = await api("/api/search/status");
    if (gen !== state.generation || !waitNote || !(s.pending > 0)) return;
    waitNote = `indexing ${s.pending} new ${s.pending === 1 ? "entry" : "entries"} for the filter…`;
    renderCount();
  } catch {
    // the list's own request reports what went wrong
  }
}

function evict() {
  if (state.rows.size <= MAX_CACHED) return;
  const center = Math.floor($("viewport").scrollTop / ROW_H);
  for (const k of state.rows.keys()) if (Math.abs(k - center) > MAX_CACHED / 2) state.rows.delete(k);
}

async function scanLocal(gen) {
  const found = [];
  const ids = new Set();
  const scan = { scanned: 0, total: 0, done: false, capped: false };
  let offset = 0;
  for (;;) {
    let data;
    try {
      data = await api("/api/traffic?" + queryString(offset, SCAN_PAGE, true));
    } catch (e) {
      if (gen === state.generation && !filterFailed(e)) toast("Could not load traffic: " + e.message);
      return;
    }
    if (gen !== state.generation) return;
    if (state.filterError) emit("filter-error", (state.filterError = null));
    for (const e of data.entries) {
      if (!ids.has(e.id) && matchesClient(e)) {
        ids.add(e.id);
        found.push(e);
      }
    }
    offset += data.entries.length;
    Object.assign(scan, { scanned: offset, total: data.count });
    if (found.length >= LOCAL_MAX) {
      found.length = LOCAL_MAX;
      scan.capped = true;
    }
    state.local = inCaptureOrder() ? found.slice() : found.slice().sort(compareEntries);
    state.localIds = ids;
    state.count = state.local.length;
    state.mode = "local";
    state.scan = scan;
    if (state.fresh) afterFresh();
    scheduleRender();
    if (scan.capped || !data.entries.length || offset >= data.count) break;
  }
  scan.done = true;
  scheduleRender();
}

// ---------------------------------------------------------------- live entries
/** Subscribe to the session's live events. Resolves once the stream is open, so a list loaded
 * afterwards misses nothing; after a reconnect the list is reloaded to catch up. */
export function connectEvents() {
  if (state.events) state.events.close();
  state.events = null;
  if (!state.sessionId) return Promise.resolve();
  // With a filter, the server marks each live entry that matches it (`matchesFilter`).
  state.eventsFilter = state.filters.filter;
  const filter = state.filters.filter ? "&filter=" + encodeURIComponent(state.filters.filter) : "";
  const es = new EventSource(withToken("/api/events?sessionId=" + encodeURIComponent(state.sessionId) + filter));
  state.events = es;
  emit("stream", es); // modules listen for their own events (rules, network...) on it
  let opened = false;
  const ready = new Promise((resolve) => {
    setTimeout(resolve, 3000);
    es.addEventListener("error", () => resolve()); // e.g. a malformed filter: the list says why
    es.addEventListener("open", () => {
      if (opened && state.events === es) reloadSoon();
      if (opened || state.sessions.length) emit("sessions-changed"); // what the closed stream may not have delivered
      opened = true;
      resolve();
    });
  });
  es.addEventListener("entries", (ev) => {
    pendingLive.push(...JSON.parse(ev.data));
    if (!flushTimer) flushTimer = setTimeout(flushLive, 16);
  });
  es.addEventListener("removed", () => reloadSoon());
  // The server tells a client that fell behind to start over rather than feeding it a backlog.
  es.addEventListener("reset", () => {
    pendingLive = [];
    reloadTraffic();
    emit("sessions-changed");
  });
  es.addEventListener("sessions", () => emit("sessions-changed"));
  es.addEventListener("annotations", () => reloadSoon()); // stripes and note markers
  return ready;
}

function flushLive() {
  flushTimer = null;
  const batch = pendingLive;
  pendingLive = [];
  if (!batch.length) return;
  emit("live", batch);
  const fresh = batch.filter((e) => e.sessionId === state.sessionId && matchesServer(e) && matchesClient(e));
  if (!fresh.length) return;
  if (state.fresh) {
    state.missedLive = true; // a reload is in flight: it may or may not include these
    return;
  }
  const vp = $("viewport");
  const atBottom = vp.scrollHeight - vp.scrollTop - vp.clientHeight < ROW_H * 2;
  if (state.mode === "local") {
    for (const e of fresh) {
      if (state.localIds.has(e.id)) continue;
      state.localIds.add(e.id);
      let k = state.local.length;
      while (k > 0 && inCaptureOrder() && state.local[k - 1].timestamp > e.timestamp) k--;
      state.local.splice(k, 0, e);
    }
    if (!inCaptureOrder()) state.local.sort(compareEntries);
    if (state.local.length > LOCAL_MAX) {
      const drop = state.local.length - LOCAL_MAX;
      for (const e of state.local.splice(0, drop)) state.localIds.delete(e.id);
      state.scan && (state.scan.capped = true);
    }
    state.count = state.local.length;
  } else if (inCaptureOrder()) {
    for (const e of fresh) insertByStart(e);
    evict();
  } else if (state.sort.field === "timestamp" && prependNewest(fresh)) {
    evict();
  } else {
    reloadSoon();
    return;
  }
  if (atBottom && inCaptureOrder()) stickToBottom = true;
  renderCount(); // now, with the session drop-down: the two never disagree
  scheduleRender();
}

function shiftIndex(i, from, by) {
  return i !== null && i >= from ? i + by : i;
}

/** Capture order is start order, but an exchange is stored when it ends: a slow one that
 * started earlier goes back to its place among the rows already here. */
function insertByStart(e) {
  let pos = state.count;
  for (let steps = 0; pos > 0 && steps < 500; steps++) {
    const before = state.rows.get(pos - 1);
    if (!before || before.timestamp < e.timestamp) break;
    if (before.id === e.id) return; // the list load already had it
    if (before.timestamp === e.timestamp) break;
    pos--;
  }
  for (let i = state.count - 1; i >= pos; i--) {
    const r = state.rows.get(i);
    if (r) state.rows.set(i + 1, r);
    else state.rows.delete(i + 1);
  }
  state.rows.set(pos, e);
  state.count++;
  state.anchor = shiftIndex(state.anchor, pos, 1);
  state.cursor = shiftIndex(state.cursor, pos, 1);
}

/** Newest first: new entries go on top, the rows below move down (and the view with them). */
function prependNewest(fresh) {
  const top = state.rows.get(0);
  if (state.sort.dir !== "desc" || (!top && state.count)) return false;
  const seen = new Set();
  for (let i = 0; i < PAGE && state.rows.get(i); i++) seen.add(state.rows.get(i).id);
  fresh = fresh.filter((e) => !seen.has(e.id));
  if (!fresh.length) return true;
  if (top && fresh.some((e) => e.timestamp < top.timestamp)) return false;
  const n = fresh.length;
  const moved = new Map();
  for (const [i, r] of state.rows) moved.set(i + n, r);
  fresh
    .slice()
    .sort((a, b) => b.timestamp - a.timestamp)
    .forEach((e, i) => moved.set(i, e));
  state.rows = moved;
  state.count += n;
  state.anchor = shiftIndex(state.anchor, 0, n);
  state.cursor = shiftIndex(state.cursor, 0, n);
  const vp = $("viewport");
  if (vp.scrollTop > 0) vp.scrollTop += n * ROW_H; // keep what the user is reading in place
  return true;
}

// ---------------------------------------------------------------- rendering
let renderQueued = false;

export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

let headerKey = "";

/** Fit the columns to the list's width; rebuild the header only when its cells change (a
 * column being dragged wider keeps its element, and so the pointer). */
export function relayout(forceHeader = false) {
  const vp = $("viewport");
  computeLayout(vp.clientWidth);
  vp.style.setProperty("--cols", layout.template);
  vp.style.setProperty("--min-width", layout.minWidth + "px");
  const key = layout.columns.map((c) => c.id).join(",") + `|${state.sort.field}:${state.sort.dir}`;
  if (forceHeader || key !== headerKey || !$("thead").childElementCount) {
    headerKey = key;
    renderHeader(sortBy, (x, y) => emit("columns-menu", x, y), lastScale.label);
  }
  scheduleRender();
}

onColumnsChanged(() => relayout());

/** Header click: ascending, then descending, then back to capture order. */
export function sortBy(field) {
  const s = state.sort;
  if (field === "timestamp") state.sort = { field, dir: s.field === field && s.dir === "asc" ? "desc" : "asc" };
  else if (s.field !== field) state.sort = { field, dir: "asc" };
  else if (s.dir === "asc") state.sort = { field, dir: "desc" };
  else state.sort = { field: "timestamp", dir: "asc" };
  afterSortChange();
}

export function resetSort() {
  state.sort = { field: "timestamp", dir: "asc" };
  afterSortChange();
}

function afterSortChange() {
  relayout();
  emit("filters-changed");
  reloadTraffic();
}

function waterfallScale(from, to) {
  let start = Infinity;
  let end = -Infinity;
  for (let i = from; i < to; i++) {
    const e = rowAt(i);
    if (!e) continue;
    start = Math.min(start, e.timestamp);
    end = Math.max(end, e.timestamp + Math.max(0, e.duration));
  }
  if (!isFinite(start)) return { start: 0, end: 1, key: "none", label: "" };
  if (end - start < 1) end = start + 1;
  return { start, end, key: `${start}|${end}`, label: "· " + fmtMs(end - start) };
}

function fillRow(el, e, i) {
  const cls = ["row"];
  if (!e) {
    el.className = "row loading";
    el.removeAttribute("data-id");
    el.dataset.index = i;
    el.replaceChildren(h("span", { class: "cell", text: "…" }));
    return;
  }
  if (state.selected.has(e.id)) cls.push("selected");
  if (state.cursor === i) cls.push("cursor");
  if (e.status === null || e.status === undefined) cls.push(e.error ? "failed" : "pending");
  else cls.push("s" + String(e.status)[0]);
  if (e.kind === "tunnel" || e.kind === "tls-failed") cls.push("k-" + e.kind);
  const color = annotationColor(e);
  if (color) cls.push("ann", "ann-" + String(color).replace(/[^a-z]/gi, ""));
  el.className = cls.join(" ");
  el.dataset.index = i;
  el.dataset.id = e.id;
  el.setAttribute("aria-selected", String(state.selected.has(e.id)));
  const cells = [];
  for (const c of layout.columns) {
    if (c.id === "waterfall") {
      cells.push(h("span", { class: "cell c-waterfall", "data-col": c.id }));
      continue;
    }
    const content = cellContent(c.id, e, i);
    const cell = h("span", { class: "cell c-" + c.id + (c.num ? " num" : ""), "data-col": c.id });
    if (content instanceof Node) cell.append(content);
    else cell.textContent = content ?? "";
    const title = columnTitle(c.id, e);
    if (title) cell.title = title;
    cells.push(cell);
  }
  el.replaceChildren(...cells);
}

function render() {
  const vp = $("viewport");
  const body = $("tbody");
  const headH = $("thead").offsetHeight;
  const viewH = Math.max(ROW_H, vp.clientHeight - headH);
  const total = state.count * ROW_H;
  // Pad the end so the last scroll position, like every other, starts a whole row under the header.
  const pad = total > viewH ? (ROW_H - ((total - viewH) % ROW_H)) % ROW_H : 0;
  $("scroll-extent").style.height = total + pad + "px";
  if (stickToBottom) {
    vp.scrollTop = vp.scrollHeight;
    stickToBottom = false;
  }
  const top = vp.scrollTop;
  const firstVisible = Math.min(state.count, Math.floor(top / ROW_H));
  const lastVisible = Math.min(state.count, Math.ceil((top + viewH) / ROW_H));
  const first = Math.max(0, firstVisible - OVERSCAN);
  const last = Math.min(state.count, lastVisible + OVERSCAN);

  const showWaterfall = layout.columns.some((c) => c.id === "waterfall");
  const scale = showWaterfall ? waterfallScale(firstVisible, lastVisible) : null;
  if (scale && scale.label !== lastScale.label) {
    const label = document.querySelector('#thead [data-col="waterfall"] .th-label');
    if (label) label.textContent = "Waterfall " + scale.label;
  }
  if (scale) lastScale = scale;

  for (const [i, el] of rowEls) {
    if (i < first || i >= last) {
      el.remove();
      rowEls.delete(i);
    }
  }
  const missing = new Set();
  for (let i = first; i < last; i++) {
    const e = rowAt(i);
    let el = rowEls.get(i);
    if (!el) {
      el = h("div", { role: "row" });
      el.style.top = i * ROW_H + "px";
      body.append(el);
      rowEls.set(i, el);
    }
    const key = e
      ? `${e.id}|${state.selected.has(e.id) ? 1 : 0}|${state.cursor === i ? 1 : 0}|${layout.version}|${e.annotations}|${e.annotationColor}|${e.graphqlOperation}`
      : `-|${layout.version}`;
    if (el._key !== key) {
      fillRow(el, e, i);
      el._key = key;
      el._scale = null;
    }
    if (!e) missing.add(Math.floor(i / PAGE));
    else if (scale && el._scale !== scale.key) {
      const cell = el.querySelector(".c-waterfall");
      if (cell && cell.firstChild) placeWaterfall(cell.firstChild, e, scale);
      else if (cell) cell.append(waterfallBar(e, scale));
      el._scale = scale.key;
    }
  }
  for (const page of missing) loadPage(page);
  renderCount();
  renderEmpty();
}

function renderCount() {
  const text = `${state.count} entries`;
  if ($("count").textContent !== text) {
    $("count").textContent = text;
    emit("count");
  }
  const s = state.scan;
  let note = "";
  if (s && !s.done) note = `scanning ${s.scanned} of ${s.total}…`;
  else if (s && s.capped) note = `showing the first ${LOCAL_MAX} matches`;
  else if (waitNote) note = waitNote;
  if ($("scan-note").textContent !== note) $("scan-note").textContent = note;
}

// ---------------------------------------------------------------- snapping: never a half row under the header
function snap() {
  if (pointerDown) return;
  const vp = $("viewport");
  const r = vp.scrollTop % ROW_H;
  if (r > 0.5 && ROW_H - r > 0.5) vp.scrollTop = Math.round(vp.scrollTop / ROW_H) * ROW_H;
}

// ---------------------------------------------------------------- empty state
function renderEmpty() {
  const empty = $("empty");
  const show = state.count === 0 && !state.fresh && !!state.sessionId && (!state.scan || state.scan.done);
  empty.hidden = !show;
  if (!show) return;
  const session = state.sessions.find((s) => s.id === state.sessionId);
  const kind = state.filterError ? "invalid:" + state.filterError.error : filtersActive() ? "filtered" : session && !session.isActive ? "inactive" : "active";
  if (empty.dataset.kind === kind) return;
  empty.dataset.kind = kind;
  if (state.filterError) {
    empty.replaceChildren(
      h("h2", { text: "The filter has a mistake" }),
      h("p", { text: state.filterError.reason || state.filterError.error }),
      h("button", { text: "Clear filters", id: "btn-clear-filters", onclick: () => emit("clear-filters") })
    );
    return;
  }
  if (kind === "filtered") {
    empty.replaceChildren(
      h("h2", { text: "No entries match these filters" }),
      h("button", { text: "Clear filters", id: "btn-clear-filters", onclick: () => emit("clear-filters") })
    );
    return;
  }
  if (kind === "inactive") {
    empty.replaceChildren(
      h("h2", { text: "This session is empty" }),
      h("p", { text: "Only the active session records traffic. Click “Record here” to record into this one." })
    );
    return;
  }
  empty.replaceChildren(...setupHelp(state.health));
}

// ---------------------------------------------------------------- selection
export function selectIndex(i, ev = {}) {
  const e = rowAt(i);
  if (!e) return;
  if (ev.shiftKey && state.anchor !== null) {
    const [a, b] = [Math.min(state.anchor, i), Math.max(state.anchor, i)];
    if (!(ev.ctrlKey || ev.metaKey)) state.selected.clear();
    for (let k = a; k <= b; k++) if (rowAt(k)) state.selected.add(rowAt(k).id);
  } else if (ev.ctrlKey || ev.metaKey) {
    if (state.selected.has(e.id)) state.selected.delete(e.id);
    else state.selected.add(e.id);
    state.anchor = i;
  } else {
    state.selected = new Set([e.id]);
    state.anchor = i;
  }
  state.cursor = i;
  scheduleRender();
  if (state.selected.size === 1) emit("open-entry", [...state.selected][0]);
}

export function moveCursor(delta, shift = false) {
  if (!state.count) return;
  const next = Math.max(0, Math.min(state.count - 1, (state.cursor ?? -1) + delta));
  selectIndex(next, { shiftKey: shift });
  ensureVisible(next);
}

export function ensureVisible(i) {
  const vp = $("viewport");
  const viewH = vp.clientHeight - $("thead").offsetHeight;
  const top = i * ROW_H;
  if (top < vp.scrollTop) vp.scrollTop = top;
  else if (top + ROW_H > vp.scrollTop + viewH) vp.scrollTop = Math.ceil((top + ROW_H - viewH) / ROW_H) * ROW_H;
}

/** Select the entry with this id if the list holds it (after a reload from the URL). */
export function selectId(id) {
  const source = state.mode === "local" ? state.local.map((e, i) => [i, e]) : [...state.rows.entries()];
  for (const [i, e] of source) {
    if (e && e.id === id) {
      state.selected = new Set([id]);
      state.anchor = state.cursor = i;
      ensureVisible(i);
      scheduleRender();
      return true;
    }
  }
  return false;
}

export function selectedIdsInOrder() {
  const source = state.mode === "local" ? state.local.map((e, i) => [i, e]) : [...state.rows.entries()].sort((a, b) => a[0] - b[0]);
  const ids = source.filter(([, e]) => e && state.selected.has(e.id)).map(([, e]) => e.id);
  for (const id of state.selected) if (!ids.includes(id)) ids.push(id);
  return ids;
}

export function clearSelection() {
  state.selected.clear();
  state.anchor = state.cursor = null;
  scheduleRender();
}

export function entryById(id) {
  if (state.mode === "local") return state.local.find((e) => e.id === id);
  for (const e of state.rows.values()) if (e.id === id) return e;
  return null;
}

// ---------------------------------------------------------------- wiring
export function wireList() {
  const vp = $("viewport");
  vp.addEventListener("scroll", () => {
    scheduleRender();
    clearTimeout(snap.timer);
    snap.timer = setTimeout(snap, 150);
  });
  vp.addEventListener("pointerdown", () => (pointerDown = true));
  window.addEventListener("pointerup", () => {
    if (!pointerDown) return;
    pointerDown = false;
    clearTimeout(snap.timer);
    snap.timer = setTimeout(snap, 150);
  });
  vp.addEventListener("click", (ev) => {
    const row = ev.target.closest(".row[data-id]");
    if (row) selectIndex(Number(row.dataset.index), ev);
    vp.focus({ preventScroll: true });
  });
  vp.addEventListener("contextmenu", (ev) => {
    const row = ev.target.closest(".row[data-id]");
    if (!row) return;
    ev.preventDefault();
    if (!state.selected.has(row.dataset.id)) selectIndex(Number(row.dataset.index), {});
    emit("row-menu", ev.clientX, ev.clientY);
  });
  new ResizeObserver(() => relayout()).observe($("traffic"));
}
