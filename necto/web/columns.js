// The traffic list's columns: which exist, their widths and visibility (remembered), the
// header (sort, resize, hide) and how each cell is drawn, the waterfall column included.

import { $, h, fmtClock, fmtMs, fmtSize } from "./dom.js";
import { prefs, savePrefs, state } from "./state.js";
import { typeOf } from "./filters.js";
import { kindCell, kindTitle, tlsFailureText, tunnelText } from "./kinds.js";

export const ROW_H = 24; // must match --row in style.css
const GAP = 6; // grid column gap in style.css
const PAD = 16; // row padding left + right

// priority: when the list is too narrow, lower numbers give way first (Path never does).
export const COLUMNS = [
  { id: "mark", label: "", title: "Markers: replayed, imported, mocked, breakpointed, annotated", width: 26, min: 18, priority: 6.5 },
  { id: "seq", label: "#", title: "Row number in this list", width: 52, min: 28, priority: 1, num: true },
  { id: "start", label: "Start", title: "Start time (this computer's clock)", width: 92, min: 60, sort: "timestamp", priority: 3 },
  { id: "method", label: "Method", width: 66, min: 40, sort: "method", priority: 8 },
  { id: "status", label: "Status", width: 54, min: 36, sort: "status", priority: 9 },
  { id: "scheme", label: "Scheme", width: 58, min: 36, priority: 2 },
  { id: "host", label: "Host", width: 170, min: 50, sort: "host", priority: 6 },
  { id: "port", label: "Port", width: 50, min: 32, priority: 1, num: true },
  { id: "path", label: "Path", width: 160, min: 80, sort: "url", flex: true, priority: 100 },
  { id: "operation", label: "Operation", title: "GraphQL operation name", width: 110, min: 50, priority: 2 },
  { id: "type", label: "Type", width: 90, min: 36, priority: 4 },
  { id: "size", label: "Size", width: 70, min: 40, sort: "size", priority: 4, num: true },
  { id: "time", label: "Time", width: 64, min: 40, sort: "duration", priority: 7, num: true },
  { id: "waterfall", label: "Waterfall", width: 200, min: 60, priority: 5 },
];
const BY_ID = Object.fromEntries(COLUMNS.map((c) => [c.id, c]));
const DEFAULT_HIDDEN = ["seq", "port"];

export function hiddenByUser() {
  return new Set(prefs.columns.hidden || DEFAULT_HIDDEN);
}

export function widthOf(col) {
  return Math.max(col.min, prefs.columns.widths[col.id] || col.width);
}

// ---------------------------------------------------------------- layout
export const layout = { columns: [], dropped: [], template: "", minWidth: 0, version: 0 };

/** Fit the chosen columns into `available` px: drop low-priority ones until they fit. */
export function computeLayout(available) {
  const hidden = hiddenByUser();
  let cols = COLUMNS.filter((c) => !hidden.has(c.id));
  const dropped = [];
  const need = (cs) => cs.reduce((s, c) => s + widthOf(c), 0) + GAP * (cs.length - 1) + PAD;
  while (need(cols) > available) {
    const victims = cols.filter((c) => c.priority < 100);
    if (!victims.length) break;
    const v = victims.reduce((a, b) => (b.priority < a.priority ? b : a));
    cols = cols.filter((c) => c !== v);
    dropped.push(v);
  }
  const template = cols.map((c) => (c.flex ? `minmax(${widthOf(c)}px, 1fr)` : `${widthOf(c)}px`)).join(" ");
  const changed = template !== layout.template;
  Object.assign(layout, { columns: cols, dropped, template, minWidth: need(cols) });
  if (changed) layout.version++;
  return changed;
}

// ---------------------------------------------------------------- header
export function renderHeader(onSort, onMenu, scaleLabel) {
  const thead = $("thead");
  thead.replaceChildren(
    ...layout.columns.map((c) => {
      const cell = h("div", {
        class: "th" + (c.num ? " num" : "") + (c.sort ? " sortable" : ""),
        "data-col": c.id,
        title: c.title || (c.sort ? `Sort by ${c.label.toLowerCase()} (click again: reverse, third time: capture order)` : ""),
        role: "columnheader",
      });
      const label = h("span", { class: "th-label", text: c.id === "waterfall" && scaleLabel ? `Waterfall ${scaleLabel}` : c.label });
      if (c.sort && state.sort.field === c.sort && !(c.sort === "timestamp" && state.sort.dir === "asc")) {
        label.classList.add("sorted");
        label.classList.toggle("desc", state.sort.dir === "desc");
      }
      cell.append(label);
      if (c.sort) cell.addEventListener("click", (ev) => !ev.target.classList.contains("resize") && onSort(c.sort));
      const grip = h("span", { class: "resize", title: "Drag to resize" });
      grip.addEventListener("pointerdown", (ev) => startResize(ev, c));
      cell.append(grip);
      return cell;
    })
  );
  thead.oncontextmenu = (ev) => {
    ev.preventDefault();
    onMenu(ev.clientX, ev.clientY);
  };
}

function startResize(ev, col) {
  ev.preventDefault();
  ev.stopPropagation();
  const grip = ev.target;
  grip.setPointerCapture(ev.pointerId);
  const startX = ev.clientX;
  const start = widthOf(col);
  const move = (e) => {
    prefs.columns.widths[col.id] = Math.max(col.min, Math.round(start + e.clientX - startX));
    resizeHook();
  };
  const up = () => {
    grip.removeEventListener("pointermove", move);
    grip.removeEventListener("pointerup", up);
    savePrefs();
  };
  grip.addEventListener("pointermove", move);
  grip.addEventListener("pointerup", up);
}

let resizeHook = () => {};
export function onColumnsChanged(fn) {
  resizeHook = fn;
}

/** The "Columns" menu: tick to show, untick to hide; remembered. */
export function columnsMenu() {
  const hidden = hiddenByUser();
  const dropped = new Set(layout.dropped.map((c) => c.id));
  return h(
    "div",
    { class: "columns-menu" },
    COLUMNS.filter((c) => c.id !== "path").map((c) =>
      h(
        "label",
        { title: dropped.has(c.id) ? "Shown when there is room (widen the window or close the detail)" : "" },
        h("input", {
          type: "checkbox",
          "data-col": c.id,
          checked: !hidden.has(c.id),
          onchange: (ev) => {
            const set = hiddenByUser();
            if (ev.target.checked) set.delete(c.id);
            else set.add(c.id);
            prefs.columns.hidden = [...set];
            savePrefs();
            resizeHook();
          },
        }),
        " " + (c.label || "Markers") + (dropped.has(c.id) ? " (no room)" : "")
      )
    ),
    h("button", {
      text: "Reset columns",
      onclick: () => {
        prefs.columns = { widths: {}, hidden: null };
        savePrefs();
        resizeHook();
      },
    })
  );
}

// ---------------------------------------------------------------- cells
function urlParts(e) {
  if (!e._u) {
    try {
      const u = new URL(e.url);
      const scheme = u.protocol.replace(":", "");
      const port = u.port || { http: "80", https: "443", ws: "80", wss: "443" }[scheme] || "";
      e._u = { scheme, port };
    } catch {
      e._u = { scheme: e.protocol || "", port: "" };
    }
  }
  return e._u;
}

const MARKERS = [
  ["replay", (e) => e.source === "replay", "↻", "Replayed"],
  ["import", (e) => e.source === "import", "⤓", "Imported from a HAR file"],
  ["mock", (e) => !!e.isMocked, "M", (e) => "Mocked by a rule" + ruleNames(e)],
  ["rule", (e) => !e.isMocked && (e.appliedRules || []).length > 0, "R", (e) => "Changed by rules" + ruleNames(e)],
  ["tunnel", (e) => e.kind === "tunnel", "⇄", (e) => "Tunnel: " + tunnelText(e)],
  ["tls", (e) => e.kind === "tls-failed", "⚠", (e) => "TLS failed: " + tlsFailureText(e)],
  ["breakpoint", (e) => !!e.isBreakpointed, "⏸", "Paused at a breakpoint"],
  ["note", (e) => annotationCount(e) > 0, "✎", null],
];

function ruleNames(e) {
  const rules = e.appliedRules || [];
  return rules.length ? ": " + rules.map((r) => `${r.name} (${r.action})`).join(", ") : "";
}

function annotationCount(e) {
  const a = e.annotations;
  if (Array.isArray(a)) return a.length;
  if (typeof a === "number") return a;
  return a ? 1 : 0;
}

function annotationText(e) {
  if (e.annotationNote) return e.annotationNote + (e.annotations > 1 ? ` (+${e.annotations - 1} more)` : "");
  const a = e.annotations;
  if (Array.isArray(a)) return a.map((x) => (typeof x === "string" ? x : x && x.content) || "").filter(Boolean).join("\n");
  return typeof a === "string" ? a : "";
}

/** The colour stripe of an annotated entry (NectoProxy's colour names), or null. */
export function annotationColor(e) {
  if (e.annotationColor) return e.annotationColor;
  const a = Array.isArray(e.annotations) ? e.annotations.find((x) => x && x.color) : null;
  return a ? a.color : null;
}

/** Row markers; absent fields show nothing. Exported for the page's own tests. */
export function markers(e) {
  const out = h("span", { class: "marks" });
  for (const [kind, test, glyph, title] of MARKERS) {
    if (!test(e)) continue;
    const t = typeof title === "function" ? title(e) : title || "Note: " + (annotationText(e) || `${annotationCount(e)} annotation(s)`);
    out.append(h("span", { class: "mk mk-" + kind, title: t, "aria-label": t, text: glyph }));
  }
  return out;
}

export function statusText(e) {
  if (e.status === null || e.status === undefined) return e.error ? "ERR" : "…";
  return String(e.status);
}

const PHASES = ["blocked", "dns", "connect", "send", "wait", "receive"];

/** Place an existing bar on a new scale (live capture moves the scale every batch). */
export function placeWaterfall(cell, e, scale) {
  const span = scale.end - scale.start || 1;
  const bar = cell.firstChild;
  bar.style.left = ((e.timestamp - scale.start) / span) * 100 + "%";
  bar.style.width = (Math.max(0, e.duration) / span) * 100 + "%";
}

/** One row's waterfall bar: start offset and width on the shared scale, phases inside. */
export function waterfallBar(e, scale) {
  const cell = h("div", { class: "wf" });
  const bar = h("div", { class: "wf-bar" });
  const t = e.timings;
  const parts = [];
  if (t) {
    const total = PHASES.reduce((s, p) => s + Math.max(0, t[p]), 0);
    for (const p of PHASES) {
      const v = t[p];
      if (!(v > 0) || !total) continue;
      parts.push(`${p} ${fmtMs(v)}`);
      bar.append(h("span", { class: "ph ph-" + p, style: { width: (v / total) * 100 + "%" } }));
    }
  }
  cell.title = `takes ${fmtMs(e.duration)}` + (parts.length ? `\n${parts.join(", ")}` : "");
  cell.append(bar);
  placeWaterfall(cell, e, scale);
  return cell;
}

export function cellContent(col, e, index, scale) {
  const special = kindCell(col, e); // tunnels and TLS failures read differently
  if (special !== undefined) return special;
  switch (col) {
    case "mark":
      return markers(e);
    case "seq":
      return String(index + 1);
    case "start":
      return fmtClock(e.timestamp);
    case "method":
      return e.method;
    case "status":
      return statusText(e);
    case "scheme":
      return urlParts(e).scheme;
    case "host":
      return e.host;
    case "port":
      return urlParts(e).port;
    case "path":
      return e.path;
    case "operation":
      return e.graphqlOperation === "" ? "(anonymous)" : e.graphqlOperation || "";
    case "type":
      return e.protocol && e.protocol.startsWith("ws") ? "websocket" : shortType(e.contentType) || typeOf(e);
    case "size":
      return fmtSize(e.responseBodySize);
    case "time":
      return e.status === null && !e.duration ? "" : fmtMs(e.duration);
    case "waterfall":
      return waterfallBar(e, scale);
  }
  return "";
}

export function shortType(ct) {
  if (!ct) return "";
  return ct.split(";")[0].trim().replace("application/", "").replace("text/", "");
}

export function columnTitle(col, e) {
  const special = kindTitle(col, e);
  if (special !== undefined) return special;
  if (col === "path") return e.url;
  if (col === "host") return e.host;
  if (col === "start") return new Date(e.timestamp).toISOString();
  if (col === "status") return e.error || e.statusText || "";
  return null;
}

export function column(id) {
  return BY_ID[id];
}
