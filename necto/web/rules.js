// The Rules panel: every rule in evaluation order with enable toggles, drag (or Alt+↑/↓) to
// reorder, create/edit/delete through the editor in ruleform.js; the toolbar's Rules button
// with the number of enabled rules; what rules did to an entry (row marks come from the list
// entries' isMocked/appliedRules, the detail shows the rules with links, what went upstream
// and what the origin answered); "create rule from this entry". Live on `event: rules`.

import { api, withToken } from "./api.js";
import { $, h, b64bytes, bytesToText, closeDialog, fmtMs, fmtSize, kvTable, menu, showDialog, throttle, toast } from "./dom.js";
import { on, state } from "./state.js";
import { ACTIONS, actionLabel, draftFromEntry, ruleForm } from "./ruleform.js";
import { fmtRate } from "./network.js";
import { isConnectionEntry } from "./kinds.js";

// `dragging`: a row is being dragged; a reload then waits for the drop, since re-rendering the
// list would detach the dragged row and silently drop the move.
const rules = { list: [], loaded: false, dragging: false };

// ---------------------------------------------------------------- loading and the toolbar
export async function loadRules() {
  let same;
  try {
    const fresh = (await api("/api/rules")).rules || [];
    same = rules.loaded && JSON.stringify(fresh) === JSON.stringify(rules.list);
    rules.list = fresh;
    rules.loaded = true;
  } catch {
    return;
  }
  renderButton();
  const panel = panelEl();
  // an unchanged list is not re-rendered: a re-render ends a click or a key press under way
  if (panel && panel.dataset.view === "list" && !rules.dragging && !same) renderList(panel);
  if (panel && panel.dataset.view === "form") markStale(panel);
}

const reloadSoon = throttle(() => loadRules(), 200);

function renderButton() {
  const n = rules.list.filter((r) => r.enabled).length;
  const btn = $("btn-rules");
  btn.replaceChildren("Rules");
  if (n) btn.append(h("span", { class: "count-badge", id: "rules-count", text: String(n) }));
  btn.classList.toggle("rules-on", n > 0);
  btn.title = n
    ? `${n} enabled rule${n === 1 ? "" : "s"} change matching traffic (r)`
    : rules.list.length
      ? `${rules.list.length} rules, none enabled (r)`
      : "Mock, map, modify, delay, throttle or block traffic (r)";
}

function panelEl() {
  const p = $("rules-panel");
  return p && $("dialog").open ? p : null;
}

// ---------------------------------------------------------------- summaries
function matchSummary(m) {
  const parts = [];
  if (m.method) parts.push(Array.isArray(m.method) ? m.method.join("|") : m.method);
  if (m.url) parts.push(m.url);
  if (m.host) parts.push(`host ${m.host}`);
  if (m.path) parts.push(`path ${m.path}`);
  for (const [k, v] of Object.entries(m.headers || {})) parts.push(`${k}: ${v}`);
  if (m.bodyContains) parts.push(`body ∋ “${m.bodyContains}”`);
  return parts.join(" · ") || "every request";
}

function configSummary(r) {
  const c = r.config || {};
  switch (r.action) {
    case "mock":
      return `${c.status || 200}` + (c.bodyFile ? ` · file ${c.bodyFile}` : c.body ? ` · ${fmtSize(c.bodyEncoding === "base64" ? b64bytes(c.body).length : new TextEncoder().encode(c.body).length)}` : " · empty") + (c.delay ? ` · after ${c.delay} ms` : "");
    case "map-local":
      return c.localPath || "";
    case "map-remote":
      return "→ " + (c.targetUrl || "");
    case "modify-request":
    case "modify-response":
      return Object.keys(c).filter((k) => c[k] !== null && c[k] !== undefined).join(", ");
    case "delay":
      return `${c.delay} ms` + (c.variance ? ` ± ${c.variance}` : "");
    case "throttle":
      return fmtRate(c.bytesPerSecond) + (c.latency ? ` + ${c.latency} ms` : "");
    case "block":
      return `${c.status || 403}` + (c.body ? ` · ${c.body.length > 30 ? c.body.slice(0, 29) + "…" : c.body}` : "");
    case "replay-from":
      return (c.session ? `session ${sessionName(c.session)}` : `HAR ${c.harFile || ""}`) + (c.onMiss === "404" ? " · misses 404" : "");
  }
  return "";
}

function sessionName(id) {
  const found = state.sessions.find((x) => x.id === id);
  return found ? found.name : id;
}

// ---------------------------------------------------------------- the panel
function panelShell(view) {
  const panel = h("div", { id: "rules-panel", class: "rules-panel", "data-view": view });
  showDialog([panel], { wide: true, label: "Rules" });
  return panel;
}

/** Open the Rules panel on the list (`highlight`: a rule id to point at). */
export async function openRules(highlight = null) {
  const panel = panelShell("list");
  panel.dataset.highlight = highlight || "";
  if (!rules.loaded) panel.append(h("p", { text: "Loading the rules…" }));
  else renderList(panel);
  await loadRules();
}

/** Where the keyboard focus is in the list, to put it back after a re-render. */
function focusInList(panel) {
  const active = document.activeElement;
  const row = active && panel.contains(active) ? active.closest(".rule-row") : null;
  if (!row) return null;
  return { id: row.dataset.id, control: [...row.querySelectorAll("input, button")].indexOf(active) };
}

function restoreFocus(list, where) {
  const row = where && list.querySelector(`[data-id="${CSS.escape(where.id)}"]`);
  if (!row) return;
  const control = where.control >= 0 ? row.querySelectorAll("input, button")[where.control] : row;
  (control || row).focus({ preventScroll: true });
}

function renderList(panel) {
  const focused = focusInList(panel);
  panel.dataset.view = "list";
  const highlight = panel.dataset.highlight;
  const list = h("ol", { class: "rule-list", id: "rule-list", "aria-label": "Rules in evaluation order" }, rules.list.map((r, i) => ruleRow(r, i, highlight)));
  panel.replaceChildren(
    h(
      "div",
      { class: "inv-head" },
      h("h3", { text: `Rules (${rules.list.length})` }),
      h("span", { class: "spacer" }),
      h("button", { class: "primary", id: "btn-new-rule", text: "New rule", onclick: () => openRuleEditor() }),
      h("a", { class: "button", href: withToken("/api/rules/export?format=yaml"), download: "necto-rules.yaml", title: "The rule set as a file a team can commit (necto rules import reads it back)", text: "Export" })
    ),
    h("p", { class: "muted", text: "Top to bottom: every matching delay, throttle, modify and map-remote rule applies; the first matching mock, map-local, block or replay answers and stops. Changes apply to the next request. Drag ⠿ (or Alt+↑/↓) to reorder." }),
    rules.list.length
      ? list
      : h("div", { class: "empty-rules", id: "rules-empty" }, h("p", { text: "No rules yet." }), h("p", { class: "muted", text: "Create one here, or from a recorded entry: right-click it (or open it) and pick “Mock with this response”, “Block this URL” or “Map remote…”." }))
  );
  if (highlight) {
    const row = list.querySelector(`[data-id="${CSS.escape(highlight)}"]`);
    if (row) row.scrollIntoView({ block: "nearest" });
  }
  restoreFocus(list, focused); // live updates keep a keyboard user's place
}

function ruleRow(r, i, highlight) {
  const row = h(
    "li",
    {
      class: "rule-row" + (r.enabled ? "" : " off") + (r.id === highlight ? " highlight" : ""),
      "data-id": r.id,
      tabindex: 0,
      "aria-label": `${i + 1}. ${r.name} (${r.action}${r.enabled ? "" : ", disabled"})`,
      onkeydown: (ev) => {
        if (ev.target !== row) return;
        if (ev.altKey && (ev.key === "ArrowUp" || ev.key === "ArrowDown")) {
          ev.preventDefault();
          moveBy(r.id, ev.key === "ArrowUp" ? -1 : 1);
        } else if (ev.key === "Enter") {
          ev.preventDefault();
          openRuleEditor(r);
        }
      },
    },
    h("span", { class: "grip", title: "Drag to reorder (or focus the row and press Alt+↑/↓)", "aria-hidden": "true", text: "⠿", onpointerdown: (ev) => startDrag(ev, row) }),
    h("input", { type: "checkbox", class: "rule-toggle", checked: r.enabled, title: r.enabled ? "Enabled: click to disable" : "Disabled: click to enable", "aria-label": `Enabled: ${r.name}`, onchange: () => toggle(r) }),
    h("span", { class: "rule-pos muted", text: String(i + 1) }),
    h("span", { class: "rule-name", title: r.name, text: r.name }),
    h("span", { class: "badge act act-" + r.action, title: (ACTIONS.find(([a]) => a === r.action) || [])[2] || "", text: actionLabel(r.action) }),
    h("span", { class: "rule-match", title: JSON.stringify(r.match), text: matchSummary(r.match || {}) }),
    h("span", { class: "rule-config muted", title: JSON.stringify(r.config), text: configSummary(r) }),
    h(
      "span",
      { class: "rule-buttons" },
      r.loadError ? h("span", { class: "badge sensitive", title: r.loadError, text: "not applied" }) : null,
      h("button", { class: "small", text: "Edit", onclick: () => openRuleEditor(r) }),
      h("button", { class: "small danger", text: "Delete", "aria-label": `Delete ${r.name}`, onclick: () => removeRule(r) })
    )
  );
  return row;
}

async function toggle(r) {
  try {
    const updated = await api(`/api/rules/${encodeURIComponent(r.id)}/toggle`, { method: "PATCH" });
    rules.list = rules.list.map((x) => (x.id === updated.id ? updated : x));
    toast(`${updated.name}: ${updated.enabled ? "enabled" : "disabled"} from the next request`);
  } catch (e) {
    toast(e.message);
  }
  refresh();
}

async function removeRule(r) {
  if (!confirm(`Delete the rule “${r.name}”?`)) return false;
  try {
    await api(`/api/rules/${encodeURIComponent(r.id)}`, { method: "DELETE" });
    rules.list = rules.list.filter((x) => x.id !== r.id);
    toast(`Rule “${r.name}” deleted`);
  } catch (e) {
    toast(e.message);
  }
  refresh();
  return true;
}

function refresh() {
  renderButton();
  const panel = panelEl();
  if (panel && panel.dataset.view === "list") renderList(panel);
  reloadSoon();
}

async function reorder(ids) {
  const before = rules.list.map((r) => r.id).join(",");
  if (ids.join(",") === before) return refresh(); // a reload held during a drag shows now
  try {
    rules.list = (await api("/api/rules/reorder", { method: "POST", json: { orderedIds: ids } })).rules;
  } catch (e) {
    toast("Reorder failed: " + e.message);
  }
  refresh();
}

function moveBy(id, delta) {
  const ids = rules.list.map((r) => r.id);
  const i = ids.indexOf(id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  reorder(ids).then(() => {
    const row = document.querySelector(`#rule-list [data-id="${CSS.escape(id)}"]`);
    if (row) row.focus();
  });
}

/** Drag a row by its grip: it moves among the others as the pointer does; the new order is
 * saved on release. Pointer events (not HTML drag and drop, which would also raise the page's
 * "drop a .har file" hint). */
function startDrag(ev, row) {
  if (ev.button !== 0) return;
  ev.preventDefault();
  const list = row.parentElement;
  rules.dragging = true;
  row.classList.add("dragging");
  const move = (m) => {
    const over = [...list.children].find((r) => {
      const b = r.getBoundingClientRect();
      return r !== row && m.clientY >= b.top && m.clientY < b.bottom;
    });
    if (!over) return;
    const rows = [...list.children];
    if (rows.indexOf(over) < rows.indexOf(row)) list.insertBefore(row, over);
    else list.insertBefore(row, over.nextSibling);
  };
  // on the window, not a captured grip: moving the row in the list would release a capture
  const up = () => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    window.removeEventListener("pointercancel", up);
    row.classList.remove("dragging");
    rules.dragging = false;
    reorder([...list.children].map((r) => r.dataset.id));
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
  window.addEventListener("pointercancel", up);
}

// ---------------------------------------------------------------- the editor
/** Edit `rule` (or create one from `made` = {draft, note, focus}) in the Rules panel. */
export function openRuleEditor(rule = null, made = null) {
  const panel = panelEl() || panelShell("form");
  panel.dataset.view = "form";
  panel.dataset.editing = rule ? rule.id : "";
  panel.dataset.updatedAt = rule ? String(rule.updatedAt) : "";
  const title = rule ? `Edit rule: ${rule.name}` : made ? "New rule from this entry" : "New rule";
  const body = h("div");
  panel.replaceChildren(
    h("div", { class: "inv-head" }, h("button", { class: "small", id: "btn-rules-back", text: "← All rules", onclick: () => renderList(panel) }), h("h3", { id: "rule-form-title", title, text: title })),
    body
  );
  ruleForm(body, {
    draft: rule || (made ? made.draft : { name: "", enabled: true, match: {}, action: "mock", config: {} }),
    id: rule ? rule.id : null,
    note: made ? made.note : null,
    focus: made ? made.focus : "name",
    onCancel: () => (rule || !made ? renderList(panel) : closeDialog()),
    onDelete: rule ? async () => (await removeRule(rule)) && renderList(panel) : null,
    onSaved: (saved) => {
      toast(`Rule “${saved.name}” saved: it applies to the next request`);
      rules.list = rules.list.some((x) => x.id === saved.id) ? rules.list.map((x) => (x.id === saved.id ? saved : x)) : [...rules.list, saved];
      panel.dataset.highlight = saved.id;
      renderList(panel);
      renderButton();
      reloadSoon();
    },
  });
}

/** While the editor is open, say so when its rule changed or vanished elsewhere. */
function markStale(panel) {
  const id = panel.dataset.editing;
  const slot = panel.querySelector("#rule-stale");
  if (!id || !slot) return;
  const now = rules.list.find((r) => r.id === id);
  if (!now) {
    slot.hidden = false;
    slot.textContent = "This rule was deleted meanwhile (through the API, the CLI or another tab). Saving creates it again.";
    panel.querySelector("#rule-form").dataset.ruleId = "";
  } else if (String(now.updatedAt) !== panel.dataset.updatedAt) {
    slot.hidden = false;
    slot.replaceChildren("This rule was changed meanwhile; saving replaces those changes. ", h("button", { class: "small", text: "Load the new version", onclick: () => openRuleEditor(now) }));
  }
}

/** Open one rule by id (links in an entry's detail). */
export async function openRule(id) {
  try {
    openRuleEditor(await api(`/api/rules/${encodeURIComponent(id)}`));
  } catch (e) {
    toast(e.status === 404 ? "That rule no longer exists" : e.message);
  }
}

/** "Create rule from this entry": open the editor prefilled (kind: mock, block, map-remote). */
export function createRuleFrom(kind, entry) {
  openRuleEditor(null, draftFromEntry(kind, entry));
}

// ---------------------------------------------------------------- entries that rules touched
export const CREATE_KINDS = [
  ["mock", "Mock with this response"],
  ["block", "Block this URL"],
  ["map-remote", "Map remote…"],
];

/** Right-click menu items; `fetchFirst()` gives the first selected entry in full. */
export function ruleMenuItems(item, fetchFirst) {
  return [
    h("div", { class: "menu-heading", text: "Create rule" }),
    CREATE_KINDS.map(([kind, label]) =>
      item(label, async () => {
        const e = await fetchFirst();
        if (e && isConnectionEntry(e)) toast("A tunnel or a failed TLS handshake has no request to make a rule from");
        else if (e) createRuleFrom(kind, e);
      }, { "data-create-rule": kind })
    ),
  ];
}

/** The detail's "Create rule ▾" menu. */
export function createRuleMenu(e) {
  const button = h("button", { id: "btn-create-rule", text: "Create rule ▾", "aria-haspopup": "true", title: "A rule made from this entry: mock its response, block it, or map its host elsewhere" });
  const panel = h("div", { hidden: true, id: "create-rule-menu" }, CREATE_KINDS.map(([kind, label]) => h("button", { text: label, "data-create-rule": kind, onclick: () => ((panel.hidden = true), createRuleFrom(kind, e)) })));
  menu(button, panel);
  return h("div", { class: "menu" }, button, panel);
}

function ruleLink(mark) {
  return h("a", { href: "#", class: "rule-link", "data-rule-id": mark.id, title: `Open the rule “${mark.name}”`, text: mark.name, onclick: (ev) => (ev.preventDefault(), openRule(mark.id)) });
}

/** One line above the detail's tabs when rules touched the entry. */
export function ruleNote(e) {
  const applied = e.appliedRules || [];
  if (!applied.length) return null;
  const links = [];
  applied.forEach((m, i) => links.push(i ? ", " : "", ruleLink(m), ` (${m.action})`));
  return h("div", { class: "note note-rules", id: "rule-note" }, e.isMocked ? "Answered by a rule, the origin was not contacted: " : "Changed by rules: ", links);
}

function headerTable(list) {
  return kvTable((list || []).map((x) => [x.name, x.value]));
}

function bodyText(b64) {
  const bytes = b64bytes(b64);
  const text = bytesToText(bytes);
  return text !== null ? text : `(${fmtSize(bytes.length)} of binary data)`;
}

/** The detail's "Rules" tab when rules touched the entry ("Conditions" when only a network
 * profile did). */
export function ruleTabs(e) {
  const applied = e.appliedRules || [];
  if (!applied.length && !e.upstreamRequest && !e.upstreamResponse && !e.conditions) return {};
  return {
    [applied.length || e.upstreamRequest || e.upstreamResponse ? "Rules" : "Conditions"]: () => {
      const out = [];
      if (applied.length) {
        out.push(
          h("h4", { text: "Applied rules, in order" }),
          h("ol", { class: "applied-rules", id: "applied-rules" }, applied.map((m) => h("li", {}, ruleLink(m), h("span", { class: "badge act act-" + m.action, text: actionLabel(m.action) }))))
        );
        if (e.isMocked) out.push(h("p", { class: "muted", text: "A rule answered: the response shown is the rule's, and the origin was not contacted." }));
      }
      const c = e.conditions;
      if (c) {
        out.push(
          h("h4", { text: "Network conditions" }),
          kvTable([
            c.profile ? ["Profile", c.profile.name] : null,
            ["Held before sending (latency, delays)", fmtMs(c.latency)],
            ["Upload time", fmtMs(c.upload)],
            c.downloadBytesPerSecond ? ["Response paced at", fmtRate(c.downloadBytesPerSecond)] : null,
          ].filter(Boolean))
        );
      }
      const up = e.upstreamRequest;
      if (up) {
        out.push(
          h("h4", { text: "Sent upstream (rules changed the request; the Headers tab shows what the client sent)" }),
          kvTable([["Method", up.method], ["URL", up.url], ["Body size", fmtSize(up.bodySize) || "0 B"]]),
          h("h4", { text: "Headers sent upstream" }),
          headerTable(up.headers),
          up.body !== undefined && up.body !== null ? [h("h4", { text: "Body sent upstream" }), h("pre", { text: bodyText(up.body) })] : null
        );
      }
      const down = e.upstreamResponse;
      if (down) {
        out.push(
          h("h4", { text: "What the origin answered (before rules changed it)" }),
          kvTable([["Status", `${down.status} ${down.statusText || ""}`]]),
          headerTable(down.headers)
        );
      }
      return out;
    },
  };
}

export function wireRules() {
  $("btn-rules").onclick = () => openRules();
  // Esc would close the dialog and lose an edited rule: ask first.
  $("dialog").addEventListener("cancel", (ev) => {
    const form = $("rule-form");
    if (form && form.dataset.dirty && !confirm("Discard the changes to this rule?")) ev.preventDefault();
  });
  on("stream", (es) => {
    es.addEventListener("rules", reloadSoon);
    es.addEventListener("open", reloadSoon); // what a closed stream may have missed
  });
}
