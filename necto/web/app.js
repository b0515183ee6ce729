// Necto's page: plain JavaScript modules, no build step. This module wires them together:
// toolbar, filters, keyboard shortcuts, theme, URL state and the live stream.

import { api } from "./api.js";
import { $, h, closeDialog, closeMenus, copy, download, menu, showDialog, toast } from "./dom.js";
import { state, prefs, savePrefs, on, readUrl, writeUrl, DEFAULT_NOISE, inCaptureOrder } from "./state.js";
import { TYPES, serverFilter } from "./filters.js";
import { columnsMenu } from "./columns.js";
import {
  connectEvents,
  reloadTraffic,
  relayout,
  resetSort,
  wireList,
  moveCursor,
  selectId,
  selectedIdsInOrder,
  clearSelection,
  scheduleRender,
  reloadSoon,
} from "./list.js";
import { openSearch, renderFilterError, showFilterHelp } from "./search.js";
import { closeDetail, openDetail, replay, wireDivider } from "./detail.js";
import { compareSelectedOrToast, openEntryDiff, openSessionCompare } from "./diff.js";
import { openInventory } from "./inventory.js";
import { importFile } from "./importer.js";
import { countLive, currentSession, loadSessions, refreshSessions, renderSessions, sessionAction } from "./sessions.js";
import { curlCommand } from "./snippets.js";
import { loadRules, openRules, ruleMenuItems, wireRules } from "./rules.js";
import { loadNetwork, wireNetwork } from "./network.js";
import { refreshTlsNote, wireKinds } from "./kinds.js";
import { breakOn, wirePaused } from "./paused.js";

// ---------------------------------------------------------------- sessions
async function switchSession(id) {
  state.sessionId = id;
  state.selected.clear();
  state.anchor = state.cursor = null;
  state.endpoint = null;
  closeDetail();
  renderSessions();
  renderChips();
  await connectEvents();
  if (state.sessionId === id) await reloadTraffic();
  refreshTlsNote();
}

// ---------------------------------------------------------------- theme
const THEMES = { auto: ["◐", "Theme: follows the system"], light: ["☀", "Theme: light"], dark: ["☾", "Theme: dark"] };

function applyTheme() {
  const t = prefs.theme;
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  const [icon, title] = THEMES[t] || THEMES.auto;
  $("btn-theme").textContent = icon;
  $("btn-theme").title = title + " (click to change)";
}

function nextTheme() {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  // Two clicks reach both looks from any start; the third returns to following the system.
  const order = dark ? ["auto", "light", "dark"] : ["auto", "dark", "light"];
  prefs.theme = order[(order.indexOf(prefs.theme) + 1) % order.length];
  savePrefs();
  applyTheme();
}

// ---------------------------------------------------------------- filters
function readFilterInputs() {
  state.filters = {
    filter: $("filter-text").value.trim(),
    methods: $("filter-method").value,
    statusCodes: $("filter-status").value,
    hosts: $("filter-host").value.trim(),
  };
}

function writeFilterInputs() {
  $("filter-text").value = state.filters.filter;
  $("filter-method").value = state.filters.methods;
  $("filter-status").value = state.filters.statusCodes;
  $("filter-host").value = state.filters.hosts;
  $("opt-hide-noise").checked = state.hideNoise;
}

async function filtersChanged() {
  clearSelection();
  renderChips();
  // the live stream marks entries matching the filter box's query: reopen it for a new one
  if (state.filters.filter !== state.eventsFilter) await connectEvents();
  reloadTraffic();
}

function renderChips() {
  for (const b of $("type-chips").children) {
    const on = b.dataset.type === "all" ? state.types.size === 0 : state.types.has(b.dataset.type);
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
  const extra = $("active-filters");
  const chips = [];
  if (state.endpoint) {
    const ep = state.endpoint;
    chips.push(
      h("span", { class: "chip active", id: "endpoint-chip", title: `${ep.method} ${ep.host}${ep.template}` }, `Endpoint: ${ep.method} ${ep.template}`,
        h("button", { class: "chip-x", "aria-label": "Clear the endpoint filter", text: "✕", onclick: () => ((state.endpoint = null), filtersChanged()) }))
    );
  }
  if (!inCaptureOrder()) {
    chips.push(
      h("span", { class: "chip active", id: "sort-chip" }, `Sorted by ${state.sort.field === "url" ? "path" : state.sort.field === "timestamp" ? "start" : state.sort.field} ${state.sort.dir === "desc" ? "↓" : "↑"}`,
        h("button", { class: "chip-x", id: "sort-reset", title: "Back to capture order", "aria-label": "Back to capture order", text: "✕", onclick: () => resetSort() }))
    );
  }
  extra.replaceChildren(...chips);
}

function editNoise() {
  const area = h("textarea", { id: "noise-hosts", rows: 12, cols: 40, spellcheck: "false" });
  area.value = prefs.noiseHosts.join("\n");
  showDialog([
    h("h3", { text: "Hosts hidden by “Hide noise”" }),
    h("p", { class: "muted", text: "One host per line; * matches any characters (*.googleapis.com). Browsers call these in the background." }),
    area,
    h("div", { class: "actions" },
      h("button", { class: "primary", id: "noise-save", text: "Save", onclick: () => {
        prefs.noiseHosts = area.value.split("\n").map((x) => x.trim()).filter(Boolean);
        savePrefs();
        closeDialog();
        if (state.hideNoise) filtersChanged();
      } }),
      h("button", { text: "Restore the default list", onclick: () => (area.value = DEFAULT_NOISE.join("\n")) })),
  ]);
}

function clearFilters() {
  state.filters = { filter: "", methods: "", statusCodes: "", hosts: "" };
  state.types.clear();
  state.hideNoise = false;
  state.endpoint = null;
  writeFilterInputs();
  filtersChanged();
}

// ---------------------------------------------------------------- export
function exportOptions() {
  const q = new URLSearchParams();
  if ($("opt-exclude-binary").checked) q.set("excludeBinary", "true");
  if ($("opt-redact").checked) q.set("redact", "true");
  return q.toString();
}

function filenameFrom(resp, fallback) {
  const m = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
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

async function exportFiltered() {
  if (!state.sessionId) return;
  const filter = serverFilter();
  if (!filter) return toast("No filter set: use “Export session as HAR”");
  try {
    const opts = new URLSearchParams(exportOptions());
    opts.set("filter", filter);
    const resp = await api(`/api/har/export/${state.sessionId}?${opts}`, { raw: true });
    download(await resp.blob(), filenameFrom(resp, "filtered.har"));
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

// ---------------------------------------------------------------- keyboard
const SHORTCUTS = [
  ["j / ↓", "next entry"],
  ["k / ↑", "previous entry"],
  ["Shift + ↓ / ↑", "extend the selection"],
  ["Esc", "close the menu, dialog or entry detail"],
  ["/", "focus the filter"],
  ["Ctrl + Shift + F", "search every session"],
  ["r", "the Rules panel"],
  ["?", "this list"],
  ["Right-click a row", "export, copy, replay, compare, create a rule, break on this"],
  ["F8 / Shift+F8", "continue / abort the held exchange in the editor"],
  ["Ctrl/Cmd + Enter", "continue it with your edits"],
  ["Right-click the header", "show or hide columns"],
];

function showShortcuts() {
  showDialog([
    h("h3", { text: "Keyboard shortcuts" }),
    h("table", { class: "kv shortcuts", id: "shortcuts" }, h("tbody", {}, SHORTCUTS.map(([k, v]) => h("tr", {}, h("td", {}, h("kbd", { text: k })), h("td", { text: v }))))),
  ]);
}

function typing(target) {
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function onKey(ev) {
  if (ev.key === "Escape") {
    if (closeMenus()) return ev.preventDefault();
    if ($("dialog").open) return; // the dialog closes itself
    if (typing(ev.target)) return ev.target.blur();
    if (closeDetail()) {
      ev.preventDefault();
      $("viewport").focus({ preventScroll: true });
    }
    return;
  }
  if ((ev.ctrlKey || ev.metaKey) && ev.shiftKey && ev.key.toLowerCase() === "f") {
    ev.preventDefault();
    return openSearch();
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target) || $("dialog").open) return;
  // arrows inside the detail pane scroll it; j/k still move the list
  if (ev.key.startsWith("Arrow") && ev.target.closest && ev.target.closest("#detail")) return;
  if (ev.key === "/") {
    ev.preventDefault();
    $("filter-text").focus();
    $("filter-text").select();
  } else if (ev.key === "?") {
    ev.preventDefault();
    showShortcuts();
  } else if (ev.key === "r") {
    ev.preventDefault();
    openRules();
  } else if (ev.key === "j" || ev.key === "ArrowDown") {
    ev.preventDefault();
    moveCursor(1, ev.shiftKey);
  } else if (ev.key === "k" || ev.key === "ArrowUp") {
    ev.preventDefault();
    moveCursor(-1, ev.shiftKey);
  }
}

// ---------------------------------------------------------------- popups
function popupAt(x, y, content) {
  const pop = $("popup");
  pop.replaceChildren(content);
  pop.hidden = false;
  const r = pop.getBoundingClientRect();
  pop.style.left = Math.min(x, window.innerWidth - r.width - 8) + "px";
  pop.style.top = Math.min(y, window.innerHeight - r.height - 8) + "px";
}

function rowMenu(x, y) {
  const ids = selectedIdsInOrder();
  const first = async () => ids[0] && api("/api/traffic/" + encodeURIComponent(ids[0])).catch(() => null);
  const item = (text, fn, attrs = {}) => h("button", { text, ...attrs, onclick: async () => ((closeMenus(), await fn())) });
  const base = state.base;
  popupAt(
    x,
    y,
    h(
      "div",
      { class: "menu-list" },
      item(`Export Selected as HAR`, exportSelected),
      item("Copy URL", async () => {
        const e = await first();
        if (e) copy(e.url, "URL copied");
      }),
      item("Copy as cURL", async () => {
        const e = await first();
        if (e) copy(curlCommand(e), "cURL copied");
      }),
      item("Replay", () => ids[0] && replay(ids[0])),
      item("Break on this", () => ids[0] && breakOn(ids[0]), { title: "Hold the next request with this method and URL" }),
      item(`Compare selected${ids.length === 2 ? "" : " (select two)"}`, () => compareSelectedOrToast(ids)),
      item("Set as A for compare", async () => {
        const e = await first();
        if (e) state.base = { id: e.id, label: `${e.method} ${e.url}` };
        if (e) toast("Set as A: now pick another entry (any session) and “Compare with A”");
      }),
      base && ids[0] && ids[0] !== base.id ? item("Compare with A", () => openEntryDiff(base.id, ids[0]), { title: base.label }) : null,
      ruleMenuItems(item, first)
    )
  );
}

// ---------------------------------------------------------------- wiring
function wire() {
  $("session-select").addEventListener("change", (ev) => switchSession(ev.target.value));
  $("btn-new-session").onclick = () => sessionAction("new");
  $("btn-rename-session").onclick = () => sessionAction("rename");
  $("btn-activate-session").onclick = () => sessionAction("activate");
  $("btn-pause-session").onclick = () => sessionAction("pause");
  $("btn-delete-session").onclick = () => sessionAction("delete");
  $("btn-compare-sessions").onclick = () => openSessionCompare();
  $("btn-inventory").onclick = () => openInventory();
  $("btn-help").onclick = () => showShortcuts();
  $("btn-theme").onclick = nextTheme;

  menu($("btn-export"), document.querySelector("#export-menu .menu-items"));
  $("export-session").onclick = () => (closeMenus(), exportSession());
  $("export-selected").onclick = () => (closeMenus(), exportSelected());
  $("export-filtered").onclick = () => (closeMenus(), exportFiltered());
  $("btn-search").onclick = () => openSearch();
  $("btn-filter-help").onclick = () => showFilterHelp();
  $("btn-import").onclick = () => $("import-file").click();
  $("import-file").addEventListener("change", (ev) => {
    if (ev.target.files[0]) importFile(ev.target.files[0]);
    ev.target.value = "";
  });

  let filterTimer;
  const onFilter = () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      readFilterInputs();
      filtersChanged();
    }, 200);
  };
  for (const id of ["filter-text", "filter-method", "filter-status", "filter-host"]) $(id).addEventListener("input", onFilter);
  $("type-chips").replaceChildren(
    h("button", { class: "chip", "data-type": "all", text: "All", onclick: () => (state.types.clear(), filtersChanged()) }),
    ...TYPES.map(([id, label]) =>
      h("button", {
        class: "chip",
        "data-type": id,
        text: label,
        title: "Ctrl-click to combine types",
        onclick: (ev) => {
          if (ev.ctrlKey || ev.metaKey) state.types.has(id) ? state.types.delete(id) : state.types.add(id);
          else state.types = state.types.size === 1 && state.types.has(id) ? new Set() : new Set([id]);
          filtersChanged();
        },
      })
    )
  );
  $("opt-hide-noise").addEventListener("change", (ev) => {
    state.hideNoise = ev.target.checked;
    filtersChanged();
  });
  $("btn-noise-edit").onclick = editNoise;
  $("btn-columns").onclick = (ev) => {
    ev.stopPropagation();
    const r = ev.target.getBoundingClientRect();
    popupAt(r.left, r.bottom + 2, columnsMenu());
  };
  $("popup").addEventListener("click", (ev) => ev.stopPropagation());
  document.addEventListener("click", () => closeMenus());
  document.addEventListener("keydown", onKey);

  // Drop a .har anywhere on the page to import it.
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

  on("open-entry", (id) => openDetail(id));
  on("replay", (id) => replay(id));
  on("compare", (a, b) => openEntryDiff(a, b));
  on("row-menu", rowMenu);
  on("columns-menu", (x, y) => popupAt(x, y, columnsMenu()));
  on("live", countLive);
  on("count", renderSessions);
  on("sessions-changed", refreshSessions);
  on("switch-session", (id) => switchSession(id));
  on("clear-filters", clearFilters);
  on("filters-changed", renderChips);
  on("filter-error", renderFilterError);
  on("annotations-changed", () => reloadSoon());
  on("open-found", async (sessionId, id) => {
    if (sessionId !== state.sessionId) {
      if (!state.sessions.some((s) => s.id === sessionId)) await loadSessions();
      await switchSession(sessionId);
    }
    selectId(id);
    await openDetail(id);
  });
  on("session-gone", async () => {
    await loadSessions();
    const s = state.sessions.find((x) => x.isActive) || state.sessions[0];
    switchSession(s ? s.id : null);
  });
  on("endpoint-filter", (ep) => {
    state.endpoint = ep;
    filtersChanged();
  });
  on("imported", async (id) => {
    await loadSessions();
    await switchSession(id);
  });
  $("dialog").addEventListener("close", () => $("viewport").focus({ preventScroll: true }));
  wireList();
  wireDivider();
  wireRules();
  wireNetwork();
  wireKinds();
  wirePaused();
}

async function main() {
  applyTheme();
  wire();
  const url = readUrl();
  state.filters = { filter: url.filter, methods: url.methods, statusCodes: url.statusCodes, hosts: url.hosts };
  state.types = new Set(url.types.filter((t) => TYPES.some(([id]) => id === t)));
  state.hideNoise = url.hideNoise;
  state.endpoint = url.endpoint;
  if (url.sort) state.sort = url.sort;
  if (url.tab) state.detailTab = url.tab;
  writeFilterInputs();
  renderChips();
  relayout();
  const [health] = await Promise.all([api("/api/health").catch(() => null), loadSessions(), loadRules(), loadNetwork()]);
  state.health = health;
  const wanted = state.sessions.find((s) => s.id === url.session);
  if (url.session && !wanted) toast("That session no longer exists; showing the active one");
  const start = wanted || state.sessions.find((s) => s.isActive) || state.sessions[0];
  state.sessionId = start ? start.id : null;
  renderSessions();
  await connectEvents();
  renderChips();
  await reloadTraffic();
  refreshTlsNote();
  if (url.entry) {
    selectId(url.entry);
    await openDetail(url.entry);
  }
  writeUrl();
  scheduleRender();
  setInterval(() => loadSessions().catch(() => {}), 10000);
  document.body.dataset.ready = "1";
}

main().catch((e) => toast(e.message));
