// Compare: two entries side by side (request line, headers, bodies with JSON changes by path,
// timing deltas as bars) and two sessions (only in A, only in B, changed, slower).

import { api, ApiError } from "./api.js";
import { $, h, b64bytes, bytesToText, fmtMs, showDialog, toast } from "./dom.js";
import { state, emit } from "./state.js";

const MAX_TREE_BYTES = 2 << 20; // bigger JSON bodies show the list of changes only
const MAX_TREE_NODES = 5000;

// ---------------------------------------------------------------- JSON paths, as the API writes them
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

export function childPath(parent, key) {
  if (typeof key === "number") return `${parent}[${key}]`;
  return IDENT.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

function under(change, path) {
  return change === path || change.startsWith(path + ".") || change.startsWith(path + "[");
}

/** A JSON tree whose changed nodes are highlighted; unchanged branches start collapsed. */
function diffTree(value, changes, side) {
  const marks = new Map(changes.map((c) => [c.path, c.type]));
  const paths = changes.map((c) => c.path);
  let nodes = 0;
  const walk = (v, path, key, isIndex) => {
    if (++nodes > MAX_TREE_NODES) return nodes === MAX_TREE_NODES + 1 ? h("div", { class: "muted", text: "… (tree cut short)" }) : null;
    const label = key === undefined ? null : h("span", { class: "key", text: isIndex ? `${key}: ` : JSON.stringify(key) + ": " });
    const mark = marks.get(path);
    const hl = mark && !(mark === "added" && side === "a") && !(mark === "removed" && side === "b");
    const cls = hl ? `hl hl-${mark}` : "";
    if (v !== null && typeof v === "object") {
      const isArr = Array.isArray(v);
      const entries = isArr ? v.map((x, i) => [i, x]) : Object.entries(v);
      const hot = paths.some((p) => under(p, path));
      const d = h("details", { open: hot || path === "$", class: cls, "data-path": path }, h("summary", {}, label, isArr ? `[${entries.length}]` : `{${entries.length}}`, hot ? null : h("span", { class: "muted", text: " unchanged" })));
      for (const [k, x] of entries) d.append(walk(x, childPath(path, k), k, isArr));
      return d;
    }
    const cls2 = typeof v === "string" ? "str" : "num";
    return h("div", { class: "leaf " + cls, "data-path": path }, label, h("span", { class: cls2, text: JSON.stringify(v) }));
  };
  return h("div", { class: "json diff-json", "data-side": side }, walk(value, "$"));
}

// ---------------------------------------------------------------- pieces of the entry diff
/** A collapsible part of the diff: open when it changed; `note` replaces the changed/same badge. */
function section(title, changed, content, note = null) {
  return h(
    "details",
    { class: "diff-section" + (changed ? " has-changes" : ""), open: changed || note !== null || undefined, "data-section": title },
    h("summary", {}, h("span", { text: title }), h("span", { class: "badge " + (note !== null ? "" : changed ? "chg" : "same"), text: note ?? (changed ? "changed" : "same") })),
    content
  );
}

function sideBySide(rows, { collapseSame = true } = {}) {
  // rows: [{label, a, b, kind: same|changed|added|removed|ignored}]
  const table = (list) =>
    h(
      "table",
      { class: "diff-table" },
      h("thead", {}, h("tr", {}, h("th", { text: "" }), h("th", { text: "A" }), h("th", { text: "B" }))),
      h("tbody", {}, list.map((r) => h("tr", { class: "d-" + r.kind, "data-name": r.label }, h("td", { text: r.label }), h("td", { text: r.a ?? "" }), h("td", { text: r.b ?? "" }))))
    );
  const different = rows.filter((r) => r.kind !== "same" && r.kind !== "ignored");
  const same = rows.filter((r) => r.kind === "same" || r.kind === "ignored");
  if (!collapseSame) return table(rows);
  return h(
    "div",
    {},
    different.length ? table(different) : h("p", { class: "muted", text: "No differences." }),
    same.length ? h("details", { class: "unchanged" }, h("summary", { text: `${same.length} unchanged or ignored` }), table(same)) : null
  );
}

function headerRows(listA, listB, diff) {
  const group = (list) => {
    const m = new Map();
    for (const x of list || []) {
      const k = x.name.toLowerCase();
      if (!m.has(k)) m.set(k, { name: x.name, values: [] });
      m.get(k).values.push(x.value);
    }
    return m;
  };
  const ga = group(listA);
  const gb = group(listB);
  const kind = new Map();
  for (const x of diff.added) kind.set(x.name.toLowerCase(), "added");
  for (const x of diff.removed) kind.set(x.name.toLowerCase(), "removed");
  for (const x of diff.changed) kind.set(x.name.toLowerCase(), "changed");
  const rows = [];
  for (const k of new Set([...ga.keys(), ...gb.keys()])) {
    const a = ga.get(k);
    const b = gb.get(k);
    const av = a ? a.values.join("\n") : null;
    const bv = b ? b.values.join("\n") : null;
    rows.push({ label: (a || b).name, a: av, b: bv, kind: kind.get(k) || (av === bv ? "same" : "ignored") });
  }
  return rows;
}

function decodeJson(b64) {
  const bytes = b64bytes(b64 || "");
  if (!bytes.length || bytes.length > MAX_TREE_BYTES) return undefined;
  const text = bytesToText(bytes);
  try {
    return text === null ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function bodyDiff(d, bodyA, bodyB, id) {
  const facts = (f) => (f ? `${f.kind}, ${f.size} bytes${f.truncated ? " (truncated)" : ""}, sha256 ${f.sha256.slice(0, 12)}…` : "");
  const parts = [h("p", { class: "muted", text: `A: ${facts(d.a)} · B: ${facts(d.b)}` })];
  if (d.kind === "json") {
    const changes = d.changes || [];
    parts.push(
      changes.length
        ? h(
            "table",
            { class: "diff-table changes", id: id + "-changes" },
            h("thead", {}, h("tr", {}, h("th", { text: "Path" }), h("th", { text: "A" }), h("th", { text: "B" }))),
            h("tbody", {}, changes.map((c) => h("tr", { class: "d-" + c.type, "data-path": c.path }, h("td", { text: c.path }), h("td", { text: c.type === "added" ? "" : JSON.stringify(c.a) }), h("td", { text: c.type === "removed" ? "" : JSON.stringify(c.b) }))))
          )
        : h("p", { class: "muted", text: "Same JSON." }),
      d.capped ? h("p", { class: "muted", text: "Only the first changes are listed." }) : null
    );
    const ja = decodeJson(bodyA);
    const jb = decodeJson(bodyB);
    if (ja !== undefined && jb !== undefined) parts.push(h("div", { class: "diff-cols", id: id + "-tree" }, diffTree(ja, changes, "a"), diffTree(jb, changes, "b")));
  } else if (d.kind === "text" && d.lines) {
    parts.push(h("pre", { class: "udiff" }, d.lines.map((l) => h("div", { class: l.startsWith("+") ? "d-added" : l.startsWith("-") ? "d-removed" : l.startsWith("@@") ? "d-hunk" : "", text: l }))));
    if (d.capped) parts.push(h("p", { class: "muted", text: "Diff cut short." }));
  } else if (!d.identical) {
    parts.push(h("p", { text: d.kind === "mixed" ? "The bodies are of different kinds." : "Binary bodies differ (sizes and hashes above)." }));
  }
  return parts;
}

function legend() {
  return h("div", { class: "legend" }, h("span", {}, h("span", { class: "td-bar a" }), "A"), h("span", {}, h("span", { class: "td-bar b" }), "B"));
}

function timingBars(t) {
  const phases = ["blocked", "dns", "connect", "ssl", "send", "wait", "receive", "total"];
  const max = Math.max(1, ...phases.flatMap((p) => [t[p].a || 0, t[p].b || 0]));
  return h(
    "div",
    { class: "timing-diff", id: "timing-diff" },
    legend(),
    phases.map((p) => {
      const { a, b, delta } = t[p];
      const cls = delta === null ? "" : delta > 0 ? "slower" : delta < 0 ? "faster" : "";
      return h(
        "div",
        { class: "td-row " + (p === "total" ? "total" : ""), "data-phase": p },
        h("span", { class: "td-name", text: p }),
        h(
          "div",
          { class: "td-bars" },
          h("div", { class: "td-bar a", style: { width: ((a || 0) / max) * 100 + "%" }, title: `A ${fmtMs(a)}` }),
          h("div", { class: "td-bar b", style: { width: ((b || 0) / max) * 100 + "%" }, title: `B ${fmtMs(b)}` })
        ),
        h("span", { class: "td-vals", text: `${fmtMs(a)} → ${fmtMs(b)}` }),
        h("span", { class: "td-delta " + cls, text: delta === null ? "" : (delta > 0 ? "+" : delta < 0 ? "−" : "±") + fmtMs(Math.abs(delta)) })
      );
    })
  );
}

function changedParts(d) {
  const hdr = (x) => x.added.length + x.removed.length + x.changed.length > 0;
  return [
    d.requestLine.changed.length ? "request line" : null,
    d.status.changed ? "status" : null,
    hdr(d.requestHeaders) ? "request headers" : null,
    !d.requestBody.identical ? "request body" : null,
    hdr(d.responseHeaders) ? "response headers" : null,
    !d.responseBody.identical ? "response body" : null,
  ].filter(Boolean);
}

// ---------------------------------------------------------------- the entry diff view
export async function openEntryDiff(aId, bId) {
  showDialog([h("p", { text: "Comparing…" })], { wide: true, label: "Compare entries" });
  let d, a, b;
  try {
    [d, a, b] = await Promise.all([
      api(`/api/compare/entries?a=${encodeURIComponent(aId)}&b=${encodeURIComponent(bId)}`),
      api("/api/traffic/" + encodeURIComponent(aId)),
      api("/api/traffic/" + encodeURIComponent(bId)),
    ]);
  } catch (e) {
    showDialog([h("h3", { text: "Compare failed" }), h("p", { class: "error-text", text: e.message })]);
    return;
  }
  const name = (s) => (state.sessions.find((x) => x.id === s) || {}).name || s;
  const rl = d.requestLine;
  const lineRows = ["method", "url", "httpVersion"].map((f) => ({ label: f, a: rl.a[f], b: rl.b[f], kind: rl.changed.includes(f) ? "changed" : "same" }));
  lineRows.push({ label: "status", a: String(d.status.a || "no response"), b: String(d.status.b || "no response"), kind: d.status.changed ? "changed" : "same" });
  const hdrChanged = (x) => x.added.length + x.removed.length + x.changed.length > 0;
  showDialog(
    [
      h("div", { class: "diff-head" },
        h("h3", { id: "diff-title", text: d.identical ? "A and B are the same" : "A and B differ" }),
        d.identical ? null : h("p", { id: "diff-parts", text: "Changed: " + changedParts(d).join(", ") }),
        h("div", { class: "diff-ab" },
          h("div", {}, h("span", { class: "tag a", text: "A" }), ` ${a.method} ${a.url}`, h("div", { class: "muted", text: `session ${name(a.sessionId)}` })),
          h("div", {}, h("span", { class: "tag b", text: "B" }), ` ${b.method} ${b.url}`, h("div", { class: "muted", text: `session ${name(b.sessionId)}` })))),
      h("p", { class: "muted", text: "Volatile headers (Date, request ids, Content-Length...) are ignored." }),
      section("Request line and status", lineRows.some((r) => r.kind !== "same"), sideBySide(lineRows, { collapseSame: false })),
      section("Request headers", hdrChanged(d.requestHeaders), sideBySide(headerRows(a.requestHeaderList, b.requestHeaderList, d.requestHeaders))),
      section("Request body", !d.requestBody.identical, bodyDiff(d.requestBody, a.requestBody, b.requestBody, "req-body")),
      section("Response headers", hdrChanged(d.responseHeaders), sideBySide(headerRows(a.responseHeaderList, b.responseHeaderList, d.responseHeaders))),
      h("div", { id: "response-body-diff" }, section("Response body", !d.responseBody.identical, bodyDiff(d.responseBody, a.responseBody, b.responseBody, "resp-body"))),
      section("Timings", false, timingBars(d.timings), d.timings.total.delta === null ? "" : `total ${d.timings.total.delta > 0 ? "+" : d.timings.total.delta < 0 ? "−" : "±"}${fmtMs(Math.abs(d.timings.total.delta))}`),
    ],
    { wide: true, label: "Compare entries" }
  );
}

// ---------------------------------------------------------------- sessions
function sessionOptions(selected, excludeId) {
  return state.sessions.map((s) =>
    h("option", { value: s.id, selected: s.id === selected || undefined, disabled: s.id === excludeId || undefined, text: `${s.name.length > 60 ? s.name.slice(0, 59) + "…" : s.name} (${s.trafficCount})` })
  );
}

export function openSessionCompare() {
  const a = state.sessionId;
  const other = state.sessions.find((s) => s.id !== a);
  const selA = h("select", { id: "cmp-a", "aria-label": "Session A" }, sessionOptions(a));
  const selB = h("select", { id: "cmp-b", "aria-label": "Session B" }, sessionOptions(other ? other.id : a));
  const file = h("input", { type: "file", id: "cmp-file", accept: ".har,.json,application/json" });
  const from = h("input", { id: "cmp-from", placeholder: "https://prod.example", size: 22 });
  const to = h("input", { id: "cmp-to", placeholder: "http://127.0.0.1:9000", size: 22 });
  const ms = h("input", { id: "cmp-ms", type: "number", min: 0, value: 100, class: "num-input" });
  const pct = h("input", { id: "cmp-pct", type: "number", min: 0, value: 50, class: "num-input" });
  const out = h("div", { id: "cmp-out" });
  const run = async () => {
    let b = selB.value;
    out.replaceChildren(h("p", { text: "Comparing…" }));
    try {
      if (file.files[0]) {
        const form = new FormData();
        form.append("file", file.files[0]);
        form.append("sessionName", "Compared: " + file.files[0].name.replace(/\.(har|json)$/i, ""));
        const imported = await api("/api/har/import", { method: "POST", body: form });
        b = imported.sessionId;
        emit("sessions-changed");
      }
      const body = { a: selA.value, b, thresholdMs: Number(ms.value), thresholdPct: Number(pct.value) };
      if (to.value.trim()) body.hostRewrite = { from: from.value.trim(), to: to.value.trim() };
      const result = await api("/api/compare/sessions", { method: "POST", json: body });
      out.replaceChildren(sessionResult(result));
    } catch (e) {
      const detail = e instanceof ApiError ? e.body.detail : "";
      out.replaceChildren(h("p", { class: "error-text", id: "cmp-error", text: e.message + (detail ? ` — ${detail}` : "") }));
    }
  };
  showDialog(
    [
      h("h3", { text: "Compare two sessions" }),
      h("div", { class: "cmp-form" },
        h("label", {}, "A ", selA),
        h("label", {}, "B ", selB),
        h("label", { title: "Import a HAR file and compare with it (it becomes a session)" }, "or B from a HAR file ", file),
        h("label", {}, "Pair A's ", from, " with B's ", to),
        h("label", {}, "Flag slower by ≥ ", ms, " ms and ", pct, " %"),
        h("button", { id: "cmp-run", class: "primary", text: "Compare", onclick: run })),
      out,
    ],
    { wide: true, label: "Compare sessions" }
  );
}

function sessionResult(r) {
  const s = r.summary;
  const chip = (n, label, cls = "") => h("span", { class: "chip-count " + cls, text: `${n} ${label}` });
  const brief = (x) => h("li", {}, h("span", { class: "method", text: x.method }), " ", h("span", { text: x.url }), ` → ${x.status || "no response"}`);
  const slow = r.timing.filter((t) => t.flagged);
  const maxT = Math.max(1, ...slow.flatMap((t) => [t.a.total || 0, t.b.total || 0]));
  return h(
    "div",
    { class: "cmp-result" },
    h("p", { id: "cmp-summary" },
      r.identical ? h("strong", { text: "No differences. " }) : null,
      chip(s.paired, "paired"), chip(s.onlyInA, "only in A", s.onlyInA ? "warn" : ""), chip(s.onlyInB, "only in B", s.onlyInB ? "warn" : ""),
      chip(r.changes.length, "changed", r.changes.length ? "warn" : ""), chip(s.timingFlags, "slower/faster", s.timingFlags ? "warn" : "")),
    h("details", { open: r.onlyInA.length > 0 || undefined, id: "cmp-only-a" }, h("summary", { text: `Only in A: ${r.a.label} (${r.onlyInA.length})` }), h("ul", { class: "plain" }, r.onlyInA.map(brief))),
    h("details", { open: r.onlyInB.length > 0 || undefined, id: "cmp-only-b" }, h("summary", { text: `Only in B: ${r.b.label} (${r.onlyInB.length})` }), h("ul", { class: "plain" }, r.onlyInB.map(brief))),
    h("details", { open: r.changes.length > 0 || undefined, id: "cmp-changed" },
      h("summary", { text: `Changed (${r.changes.length})` }),
      h("table", { class: "diff-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "Request" }), h("th", { text: "What changed" }), h("th", { class: "narrow", text: "" }))),
        h("tbody", {}, r.changes.map((c) => {
          const what = [];
          if (c.status) what.push(`status ${c.status.a} → ${c.status.b}`);
          if (c.headers) what.push(`headers: ${[...c.headers.added.map((x) => "+" + x.name), ...c.headers.removed.map((x) => "−" + x.name), ...c.headers.changed.map((x) => "~" + x.name)].join(" ")}`);
          if (c.body) what.push(c.body.kind === "json" ? `body: ${(c.body.changes || []).map((x) => x.path).join(", ")}` : `body (${c.body.kind})`);
          return h("tr", {}, h("td", { text: `${c.method} ${c.url}` }), h("td", { text: what.join("; ") }), h("td", { class: "narrow" }, h("button", { text: "Diff", class: "small", title: "Open the two entries side by side", onclick: () => openEntryDiff(c.aId, c.bId) })));
        })))),
    h("details", { open: slow.length > 0 || undefined, id: "cmp-slower" },
      h("summary", { text: `Slower or faster (${slow.length} flagged of ${r.timing.length} endpoints; medians)` }),
      legend(),
      h("div", { class: "timing-diff" }, (slow.length ? slow : r.timing.slice(0, 50)).map((t) =>
        h("div", { class: "td-row" },
          h("span", { class: "td-name wide", text: t.endpoint, title: t.endpoint }),
          h("div", { class: "td-bars" },
            h("div", { class: "td-bar a", style: { width: ((t.a.total || 0) / maxT) * 100 + "%" } }),
            h("div", { class: "td-bar b", style: { width: ((t.b.total || 0) / maxT) * 100 + "%" } })),
          h("span", { class: "td-vals", text: `${fmtMs(t.a.total)} → ${fmtMs(t.b.total)}` }),
          h("span", { class: "td-delta " + (t.delta > 0 ? "slower" : t.delta < 0 ? "faster" : ""), text: t.delta === null ? "" : `${t.delta > 0 ? "+" : "−"}${fmtMs(Math.abs(t.delta))}${t.deltaPct !== null ? ` (${t.deltaPct > 0 ? "+" : ""}${t.deltaPct}%)` : ""}` }))))),
  );
}

export function compareSelectedOrToast(ids) {
  if (ids.length !== 2) return toast("Select exactly two entries to compare (Ctrl-click), or use “Set as A”");
  openEntryDiff(ids[0], ids[1]);
}
