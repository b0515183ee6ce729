// The rule editor: one form for every action with each of its documented config fields, the
// API's 400 message shown beside the field it names, and drafts made from a recorded entry
// ("mock with this response", "block this URL", "map remote").

import { api } from "./api.js";
import { h, b64bytes, bytesToText } from "./dom.js";
import { state } from "./state.js";

export const ACTIONS = [
  ["mock", "Mock", "Answers with this status, headers and body; the origin is not contacted."],
  ["map-local", "Map local", "Answers with a local file, or the request path's file under a directory."],
  ["map-remote", "Map remote", "Sends the request to another origin (path and query kept by default)."],
  ["modify-request", "Modify request", "Edits the request before it goes on."],
  ["modify-response", "Modify response", "Edits the origin's response before the client gets it."],
  ["delay", "Delay", "Holds the request before it goes on."],
  ["throttle", "Throttle", "Delivers the response body at this rate, after the extra latency."],
  ["block", "Block", "Answers with an error; the origin is never reached."],
  ["replay-from", "Replay from a recording", "Answers from a recorded session or HAR file: the Nth call gets the Nth recorded answer."],
];

// Field kinds: text (trimmed, empty = not set), area (as typed, empty = not set), int, num,
// bool (always sent), select, headers ("Name: value" lines), list (lines or commas),
// pairs ("name=value" lines), jsonset ("$.path = JSON value" lines), findReplace (rows), session.
const FIELDS = {
  "match.url": { label: "URL", kind: "text", placeholder: "https://api.example.com/v1/*", hint: "The full URL. * any characters, ? one; /regex/flags for a regular expression." },
  "match.method": { label: "Method", kind: "methods", placeholder: "GET, POST (any when empty)" },
  "match.host": { label: "Host", kind: "text", placeholder: "api.example.com or *.example.com" },
  "match.path": { label: "Path", kind: "text", placeholder: "/v1/users/*", hint: "Without the query." },
  "match.headers": { label: "Headers", kind: "headers", placeholder: "Authorization: Bearer *\nX-Debug: *", hint: "One per line, Name: pattern (* = present)." },
  "match.bodyContains": { label: "Body contains", kind: "text", placeholder: "a substring of the request body" },
  "config.status": { label: "Status", kind: "int", placeholder: "200" },
  "config.statusText": { label: "Status text", kind: "text", placeholder: "(from the status)" },
  "config.headers": { label: "Headers", kind: "headers", placeholder: "Content-Type: application/json", hint: "One per line, Name: value; repeat a name for several values." },
  "config.body": { label: "Body", kind: "area", rows: 8 },
  "config.bodyFile": { label: "Body file", kind: "text", placeholder: "/absolute/path/to/body.json (instead of the body)" },
  "config.bodyEncoding": { label: "Body encoding", kind: "select", options: [["text", "text"], ["base64", "base64 (binary body)"]] },
  "config.delay": { label: "Delay (ms)", kind: "num", placeholder: "0" },
  "config.localPath": { label: "Local path", kind: "text", placeholder: "/absolute/path/file.json or /absolute/dir/", hint: "A file answers every match; a directory serves the request path under it (index.html for a directory)." },
  "config.preserveHost": { label: "Preserve host", kind: "bool", default: false, hint: "Accepted for NectoProxy; no effect on a file answer." },
  "config.targetUrl": { label: "Target URL", kind: "text", placeholder: "https://staging.example.com", hint: "The request's path is appended to this URL's path, queries joined; Host and SNI are the new origin's." },
  "config.preservePath": { label: "Keep the path", kind: "bool", default: true },
  "config.preserveQuery": { label: "Keep the query", kind: "bool", default: true },
  "config.setHeaders": { label: "Set headers", kind: "headers", placeholder: "Access-Control-Allow-Origin: *" },
  "config.removeHeaders": { label: "Remove headers", kind: "list", placeholder: "Cookie, X-Debug" },
  "config.setQueryParams": { label: "Set query parameters", kind: "pairs", placeholder: "debug=1" },
  "config.removeQueryParams": { label: "Remove query parameters", kind: "list", placeholder: "utm_source, utm_medium" },
  "config.replaceBody": { label: "Replace body with", kind: "area", rows: 4, hint: "Empty: the body is kept." },
  "config.findReplace": { label: "Find and replace in the body", kind: "findReplace", hint: "find: literal text or /regex/flags; replace may use $1, $&, $$." },
  "config.setJson": { label: "Set JSON values", kind: "jsonset", placeholder: '$.user.name = "x"\n$.items[*].price = 0', hint: "One per line, $.path = JSON value (text that is not JSON is a string)." },
  "config.removeJson": { label: "Remove JSON paths", kind: "list", placeholder: "$.token\n$..password" },
  "config.setStatus": { label: "Set status", kind: "int", placeholder: "(unchanged)" },
  "config.variance": { label: "Variance (± ms)", kind: "num", placeholder: "0" },
  "config.bytesPerSecond": { label: "Bytes per second", kind: "num", placeholder: "102400", hint: "100 KB/s = 102400." },
  "config.latency": { label: "Extra latency (ms)", kind: "num", placeholder: "0" },
  "config.session": { label: "Session", kind: "session" },
  "config.harFile": { label: "or HAR file", kind: "text", placeholder: "/absolute/path/recording.har" },
  "config.matchBy": { label: "Pair requests by", kind: "select", options: [["url", "method + URL (query order ignored)"], ["template", "method + path template (/users/{id})"]] },
  "config.onMiss": { label: "When nothing was recorded", kind: "select", options: [["passthrough", "go on to the origin (later rules apply)"], ["404", "answer 404"]] },
  "config.replayTiming": { label: "Replay the recorded timing", kind: "bool", default: false },
};

// Each action's config fields, in the README's order; [key, overrides] where a default differs.
const ACTION_FIELDS = {
  mock: ["status", "statusText", "headers", "body", "bodyEncoding", "bodyFile", "delay"],
  "map-local": ["localPath", "preserveHost"],
  "map-remote": ["targetUrl", "preservePath", "preserveQuery"],
  "modify-request": ["setHeaders", "removeHeaders", "setQueryParams", "removeQueryParams", "replaceBody", "findReplace", "setJson", "removeJson"],
  "modify-response": ["setStatus", "setHeaders", "removeHeaders", "replaceBody", "findReplace", "setJson", "removeJson"],
  delay: [["delay", { placeholder: "1000", label: "Delay (ms, required)" }], "variance"],
  throttle: [["bytesPerSecond", { label: "Bytes per second (required)" }], "latency"],
  block: [["status", { placeholder: "403" }], ["body", { placeholder: "Blocked by Necto", rows: 3 }]],
  "replay-from": ["session", "harFile", "matchBy", "onMiss", "replayTiming"],
};
const MATCH_FIELDS = ["url", "method", "host", "path", "headers", "bodyContains"];
const WIDE = new Set(["headers", "area", "findReplace", "jsonset", "pairs"]);

export function actionLabel(action) {
  const a = ACTIONS.find(([id]) => id === action);
  return a ? a[1] : action;
}

// ---------------------------------------------------------------- values <-> inputs
function headerLines(obj) {
  return Object.entries(obj || {})
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}`))
    .join("\n");
}

function parseHeaderLines(text) {
  const out = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf(":");
    if (at <= 0) throw new Error(`line ${i + 1}: write Name: value`);
    const name = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    out[name] = name in out ? [].concat(out[name], value) : value;
  });
  return out;
}

function parseList(text) {
  return text.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
}

function parsePairs(text) {
  const out = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`line ${i + 1}: write name=value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return out;
}

function parseJsonSet(text) {
  const out = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^\s*(\$\S*)\s*=\s?(.*)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: write $.path = value`);
    let value = m[2].trim();
    try {
      value = JSON.parse(value);
    } catch {} // not JSON: the text itself
    out[m[1]] = value;
  });
  return out;
}

/** The text an input shows for a stored value. */
function shown(kind, v) {
  if (v === undefined || v === null) return "";
  switch (kind) {
    case "headers":
      return headerLines(v);
    case "list":
      return (Array.isArray(v) ? v : [v]).join("\n");
    case "methods":
      return Array.isArray(v) ? v.join(", ") : String(v);
    case "pairs":
      return Object.entries(v).map(([k, x]) => `${k}=${Array.isArray(x) ? x.join(",") : x}`).join("\n");
    case "jsonset":
      return Object.entries(v).map(([k, x]) => `${k} = ${JSON.stringify(x)}`).join("\n");
    default:
      return String(v);
  }
}

function fieldInput(key, spec, value) {
  const name = key;
  if (spec.kind === "bool") return h("input", { type: "checkbox", name, checked: value === undefined || value === null ? spec.default : !!value });
  if (spec.kind === "select") {
    const sel = h("select", { name }, spec.options.map(([v, label]) => h("option", { value: v, text: label })));
    sel.value = value ?? spec.options[0][0];
    return sel;
  }
  if (spec.kind === "session") {
    const sel = h("select", { name }, h("option", { value: "", text: "(none: use a HAR file)" }), state.sessions.map((s) => h("option", { value: s.id, text: `${s.name} (${s.trafficCount})` })));
    if (value && !state.sessions.some((s) => s.id === value)) {
      const byName = state.sessions.find((s) => s.name === value);
      if (byName) value = byName.id;
      else sel.append(h("option", { value, text: value }));
    }
    sel.value = value || "";
    return sel;
  }
  if (spec.kind === "findReplace") return findReplaceRows(name, value);
  const multi = ["area", "headers", "list", "pairs", "jsonset"].includes(spec.kind);
  const attrs = { name, placeholder: spec.placeholder || null, spellcheck: "false", autocomplete: "off" };
  if (multi) {
    const area = h("textarea", { ...attrs, rows: spec.rows || (spec.kind === "area" ? 4 : 3) });
    area.value = shown(spec.kind, value);
    return area;
  }
  const input = h("input", { ...attrs, type: spec.kind === "int" || spec.kind === "num" ? "number" : "text", step: spec.kind === "num" ? "any" : null });
  input.value = shown(spec.kind, value);
  return input;
}

function findReplaceRows(name, value) {
  const box = h("div", { class: "fr-rows", "data-name": name });
  const add = (item = {}) => {
    const row = h(
      "div",
      { class: "fr-row" },
      h("input", { class: "fr-find", placeholder: "find (text or /regex/flags)", spellcheck: "false", value: item.find || "" }),
      h("span", { class: "muted", text: "→" }),
      h("input", { class: "fr-replace", placeholder: "replace with", spellcheck: "false", value: item.replace || "" }),
      h("button", { type: "button", class: "chip-x", title: "Remove this pair", "aria-label": "Remove this pair", text: "✕", onclick: () => row.remove() })
    );
    box.insertBefore(row, addBtn);
  };
  const addBtn = h("button", { type: "button", class: "small", text: "+ Add a pair", onclick: () => add() });
  box.append(addBtn);
  for (const item of value || []) add(item);
  return box;
}

/** One field's value from its input: undefined when not set; throws Error for bad text. */
function readField(form, key, spec) {
  if (spec.kind === "findReplace") {
    const box = form.querySelector(`.fr-rows[data-name="${key}"]`);
    const items = [...box.querySelectorAll(".fr-row")]
      .map((r) => ({ find: r.querySelector(".fr-find").value, replace: r.querySelector(".fr-replace").value }))
      .filter((x) => x.find !== "" || x.replace !== "");
    return items.length ? items : undefined;
  }
  const el = form.elements[key];
  if (!el) return undefined;
  if (spec.kind === "bool") return el.checked;
  const raw = el.value;
  switch (spec.kind) {
    case "area":
      return raw === "" ? undefined : raw;
    case "int":
    case "num": {
      if (raw.trim() === "") {
        if (el.validity && el.validity.badInput) throw new Error("must be a number");
        return undefined;
      }
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error("must be a number");
      return n;
    }
    case "headers": {
      const o = parseHeaderLines(raw);
      return Object.keys(o).length ? o : undefined;
    }
    case "list": {
      const l = parseList(raw);
      return l.length ? l : undefined;
    }
    case "methods": {
      const l = parseList(raw);
      return l.length === 0 ? undefined : l.length === 1 ? l[0] : l;
    }
    case "pairs": {
      const o = parsePairs(raw);
      return Object.keys(o).length ? o : undefined;
    }
    case "jsonset": {
      const o = parseJsonSet(raw);
      return Object.keys(o).length ? o : undefined;
    }
    case "select":
    case "session":
      return raw === "" ? undefined : raw;
    default:
      return raw.trim() === "" ? undefined : raw.trim();
  }
}

// ---------------------------------------------------------------- errors beside their field
/** The form field an API message names ("match.url: invalid regular expression: …",
 * "config.targetUrl is required for map-remote", "Rule name is required"), or null. */
export function fieldOfMessage(message, has) {
  const text = String(message || "");
  if (/^(Rule name|name )/.test(text)) return "name";
  if (/^(Invalid action|action )/.test(text)) return "action";
  if (/^(priority|enabled) /.test(text)) return text.split(" ")[0];
  if (/^config: give body or bodyFile/.test(text)) return has("config.bodyFile") ? "config.bodyFile" : null;
  if (/^config: replay-from needs/.test(text)) return "config.session";
  const m = /^((?:match|config)(?:\.[\w$-]+|\[\d+\])*)/.exec(text);
  if (!m) return null;
  let path = m[1];
  while (path) {
    if (has(path)) return path;
    const shorter = path.replace(/(\.[\w$-]+|\[\d+\])$/, "");
    if (shorter === path) break;
    path = shorter;
  }
  return null;
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field.has-error")) el.classList.remove("has-error");
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  const general = form.querySelector(".form-error");
  general.hidden = true;
  general.textContent = "";
}

function showError(form, key, message) {
  const field = key && form.querySelector(`.field[data-field="${key}"]`);
  const general = form.querySelector(".form-error");
  if (!field) {
    general.hidden = false;
    general.textContent = "Not saved: " + message;
    return;
  }
  field.classList.add("has-error");
  const slot = field.querySelector(".field-error");
  slot.hidden = false;
  slot.textContent = message;
  general.hidden = false;
  general.textContent = "Not saved: see the field marked below.";
  const input = field.querySelector("input, textarea, select");
  field.scrollIntoView({ block: "nearest" });
  if (input) input.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- the form
function fieldBox(key, spec, value) {
  const input = fieldInput(key, spec, value);
  const wide = WIDE.has(spec.kind) || spec.wide;
  const label = spec.kind === "bool"
    ? h("label", { class: "check" }, input, " " + spec.label)
    : h("label", { class: "field-label" }, h("span", { text: spec.label }), input);
  return h(
    "div",
    { class: "field" + (wide ? " wide" : "") + (spec.kind === "bool" ? " bool" : ""), "data-field": key },
    label,
    spec.hint ? h("small", { class: "muted hint", text: spec.hint }) : null,
    h("small", { class: "field-error", role: "alert", hidden: true })
  );
}

function configFields(action, config) {
  const boxes = [];
  const bools = h("div", { class: "bools" });
  for (const item of ACTION_FIELDS[action] || []) {
    const [name, over] = Array.isArray(item) ? item : [item, {}];
    const key = "config." + name;
    const spec = { ...FIELDS[key], ...over };
    const box = fieldBox(key, spec, (config || {})[name]);
    if (spec.kind === "bool") bools.append(box);
    else boxes.push(box);
  }
  if (bools.childElementCount) boxes.push(bools); // checkboxes together on one line
  return boxes;
}

/**
 * Render the editor for `draft` ({name, enabled, priority, match, action, config}) into `host`.
 * `id` set: saving updates that rule (PUT), else creates one (POST). `onSaved(rule)` runs after
 * a 2xx; `onCancel()` on Cancel. `note` is shown above the fields (why the draft looks so).
 */
export function ruleForm(host, { draft, id = null, onSaved, onCancel, onDelete, note = null, focus = null }) {
  const config = { ...(draft.config || {}) };
  const match = draft.match || {};
  const actionSel = h("select", { name: "action" }, ACTIONS.map(([v, label]) => h("option", { value: v, text: label })));
  actionSel.value = draft.action || "mock";
  const help = h("p", { class: "muted action-help" });
  const cfgBox = h("div", { class: "grid2 config-fields" });
  const drawConfig = () => {
    help.textContent = (ACTIONS.find(([a]) => a === actionSel.value) || [])[2] || "";
    cfgBox.replaceChildren(...configFields(actionSel.value, config));
    cfgLegend.textContent = `What it does: ${actionLabel(actionSel.value)}`;
  };
  const cfgLegend = h("legend");
  const form = h(
    "form",
    { class: "rule-form", id: "rule-form", "data-rule-id": id || "", novalidate: true },
    h("div", { class: "form-error error-text", role: "alert", hidden: true }),
    note ? h("p", { class: "note", id: "rule-form-note", text: note }) : null,
    h("div", { class: "stale note", id: "rule-stale", hidden: true }),
    h(
      "div",
      { class: "grid3" },
      fieldBox("name", { label: "Name", kind: "text", placeholder: "Mock the login" }, draft.name),
      h("div", { class: "field", "data-field": "action" }, h("label", { class: "field-label" }, h("span", { text: "Action" }), actionSel), h("small", { class: "field-error", role: "alert", hidden: true })),
      fieldBox("priority", { label: "Priority", kind: "num", placeholder: "(after the last rule)", hint: "Lower runs first; dragging in the list renumbers." }, draft.priority),
      fieldBox("enabled", { label: "Enabled", kind: "bool", default: true }, draft.enabled)
    ),
    help,
    h(
      "fieldset",
      { class: "match-fields" },
      h("legend", { text: "Which requests: every field given must match (none: every request)" }),
      h("div", { class: "grid2" }, MATCH_FIELDS.map((f) => fieldBox("match." + f, FIELDS["match." + f], match[f])))
    ),
    h("fieldset", {}, cfgLegend, cfgBox),
    h(
      "div",
      { class: "actions form-actions" },
      h("button", { class: "primary", type: "submit", id: "btn-save-rule", text: id ? "Save" : "Create rule" }),
      h("button", { type: "button", text: "Cancel", onclick: () => onCancel && onCancel() }),
      id && onDelete ? h("span", { class: "spacer" }) : null,
      id && onDelete ? h("button", { type: "button", class: "danger", text: "Delete rule", onclick: () => onDelete() }) : null
    )
  );
  actionSel.addEventListener("change", () => {
    // what was typed into fields the new action shares (status, body, delay...) is kept
    Object.assign(config, collectConfig(form, actionSel.dataset.shown || draft.action || "mock", true));
    actionSel.dataset.shown = actionSel.value;
    drawConfig();
  });
  actionSel.dataset.shown = actionSel.value;
  drawConfig();
  form.addEventListener("input", () => (form.dataset.dirty = "1"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const { body, errors } = collect(form);
    if (errors.length) {
      errors.forEach(([key, msg]) => showError(form, key, msg));
      return;
    }
    const editing = form.dataset.ruleId;
    const save = form.querySelector("#btn-save-rule");
    save.disabled = true;
    try {
      const rule = editing
        ? await api(`/api/rules/${encodeURIComponent(editing)}`, { method: "PUT", json: body })
        : await api("/api/rules", { method: "POST", json: body });
      onSaved && onSaved(rule);
    } catch (e) {
      const has = (k) => !!form.querySelector(`.field[data-field="${k}"]`);
      showError(form, fieldOfMessage(e.message, has), e.message);
    } finally {
      save.disabled = false;
    }
  });
  host.replaceChildren(form);
  const first = form.querySelector(`.field[data-field="${focus || "name"}"] input, .field[data-field="${focus || "name"}"] textarea`);
  if (first) first.focus();
  return form;
}

function collectConfig(form, action, lenient = false) {
  const out = {};
  for (const item of ACTION_FIELDS[action] || []) {
    const name = Array.isArray(item) ? item[0] : item;
    const key = "config." + name;
    try {
      const v = readField(form, key, FIELDS[key]);
      if (v !== undefined) out[name] = v;
    } catch (e) {
      if (!lenient) throw Object.assign(e, { field: key });
    }
  }
  return out;
}

/** The rule JSON the form describes, and the fields that could not be read. */
function collect(form) {
  const errors = [];
  const read = (key, spec) => {
    try {
      return readField(form, key, spec);
    } catch (e) {
      errors.push([key, `${spec.label}: ${e.message}`]);
      return undefined;
    }
  };
  const match = {};
  for (const f of MATCH_FIELDS) {
    const v = read("match." + f, FIELDS["match." + f]);
    if (v !== undefined) match[f] = v;
  }
  const action = form.elements.action.value;
  const config = {};
  for (const item of ACTION_FIELDS[action] || []) {
    const name = Array.isArray(item) ? item[0] : item;
    const v = read("config." + name, FIELDS["config." + name]);
    if (v !== undefined) config[name] = v;
  }
  const priority = read("priority", { label: "Priority", kind: "num" });
  const body = {
    name: form.elements.name.value.trim(),
    enabled: form.elements.enabled.checked,
    match,
    action,
    config: action === "block" && !Object.keys(config).length ? null : config,
  };
  if (priority !== undefined) body.priority = priority;
  return { body, errors };
}

// ---------------------------------------------------------------- drafts from a recorded entry
const DROP_HEADERS = new Set("connection keep-alive proxy-connection transfer-encoding content-encoding content-length te trailer upgrade".split(" "));

function pathOf(url) {
  try {
    const u = new URL(url);
    return u.pathname;
  } catch {
    return url;
  }
}

function hostPattern(url) {
  try {
    const u = new URL(url);
    return u.port ? `${u.hostname}:${u.port}` : u.hostname;
  } catch {
    return "";
  }
}

function shortName(text) {
  return text.length > 120 ? text.slice(0, 119) + "…" : text;
}

/** A new rule's fields made from an entry (the full detail JSON): kind is mock, block or map-remote.
 * Returns {draft, note, focus}. */
export function draftFromEntry(kind, e) {
  if (kind === "mock") {
    const headers = {};
    for (const { name, value } of e.responseHeaderList || []) {
      if (DROP_HEADERS.has(name.toLowerCase()) || name.startsWith(":")) continue;
      headers[name] = name in headers ? [].concat(headers[name], value) : value;
    }
    const config = { status: e.status ?? 200, headers };
    if (e.statusText) config.statusText = e.statusText;
    const notes = [];
    if (e.responseBody !== null && e.responseBody !== undefined) {
      const bytes = b64bytes(e.responseBody);
      const text = bytesToText(bytes);
      if (text !== null) config.body = text;
      else Object.assign(config, { body: e.responseBody, bodyEncoding: "base64" });
    }
    if (e.status === null || e.status === undefined) notes.push("This entry got no response: the mock starts as an empty 200.");
    if (e.responseBodyTruncated) notes.push("The recorded body was cut by --max-body-size: the mock answers with the part that was kept.");
    return {
      draft: { name: shortName(`Mock ${e.method} ${pathOf(e.url)}`), enabled: true, match: { method: e.method, url: e.url }, action: "mock", config },
      note: ["Made from the recorded response: it answers this method and URL without contacting the origin."].concat(notes).join(" "),
      focus: "name",
    };
  }
  if (kind === "block") {
    return {
      draft: { name: shortName(`Block ${e.url}`), enabled: true, match: { url: e.url }, action: "block", config: null },
      note: "Blocks this exact URL (widen it with *, e.g. https://host/*); the origin is never reached.",
      focus: "config.status",
    };
  }
  const host = hostPattern(e.url);
  return {
    draft: { name: shortName(`Map ${host} elsewhere`), enabled: true, match: { host }, action: "map-remote", config: { preservePath: true, preserveQuery: true } },
    note: `Sends every request for ${host} to the target URL below (path and query kept).`,
    focus: "config.targetUrl",
  };
}
