// What the page is showing, what the user chose (remembered in localStorage) and the URL.

export const state = {
  sessions: [],
  sessionId: null,
  health: null,
  // the list
  mode: "server", // server: paged from the API; local: scanned and filtered in the page
  want: "server", // the mode being loaded (mode follows when its data arrives)
  local: [], // local mode: the matching entries, in list order
  localIds: new Set(),
  count: 0,
  rows: new Map(), // index -> list entry (a window of them; pages far from view are dropped)
  generation: 0,
  scan: null, // local mode: {scanned, total, done, capped}
  selected: new Set(),
  anchor: null,
  cursor: null,
  detailId: null,
  detailTab: "Headers",
  base: null, // entry chosen as "A" for a later compare: {id, label}
  sort: { field: "timestamp", dir: "asc" },
  filters: { filter: "", methods: "", statusCodes: "", hosts: "" }, // `filter`: the filter language
  filterError: null, // the API's 400 for a malformed filter: {error, position, token}
  eventsFilter: null, // the filter the live stream was opened with (it marks entries that match)
  types: new Set(), // type chips (empty = all)
  hideNoise: false,
  endpoint: null, // {host, method, template} from the inventory
};

export const CAPTURE_ORDER = { field: "timestamp", dir: "asc" };

export function inCaptureOrder() {
  return state.sort.field === "timestamp" && state.sort.dir === "asc";
}

// ---------------------------------------------------------------- remembered choices
const PREFS_KEY = "necto.prefs";
export const DEFAULT_NOISE = [
  "*.googleapis.com",
  "*.gvt1.com",
  "*.gvt2.com",
  "clients*.google.com",
  "accounts.google.com",
  "connectivitycheck.gstatic.com",
  "*.services.mozilla.com",
  "*.telemetry.mozilla.org",
  "detectportal.firefox.com",
  "*.events.data.microsoft.com",
  "*.msftconnecttest.com",
  "edge.microsoft.com",
  "ocsp.*",
  "*.ocsp.*",
  "crl.*",
];

function loadPrefs() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") || {};
  } catch {}
  return {
    columns: { widths: {}, hidden: null, ...(saved.columns || {}) },
    detailWidth: saved.detailWidth || null,
    theme: saved.theme || "auto",
    noiseHosts: Array.isArray(saved.noiseHosts) ? saved.noiseHosts : DEFAULT_NOISE.slice(),
  };
}

export const prefs = loadPrefs();

export function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {}
}

// ---------------------------------------------------------------- events between modules
const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}

export function emit(name, ...args) {
  for (const fn of listeners.get(name) || []) fn(...args);
}

// ---------------------------------------------------------------- URL state
// session, filters, sort and the open entry live in the URL: reload, bookmark, share.

export function readUrl() {
  const p = new URLSearchParams(location.search);
  const out = {
    session: p.get("session"),
    entry: p.get("entry"),
    filter: p.get("q") || "",
    methods: p.get("method") || "",
    statusCodes: p.get("status") || "",
    hosts: p.get("host") || "",
    types: (p.get("type") || "").split(",").filter(Boolean),
    hideNoise: p.get("noise") === "hide",
    sort: null,
    endpoint: null,
    tab: p.get("tab"),
  };
  const sort = (p.get("sort") || "").split(":");
  if (sort[0]) out.sort = { field: sort[0], dir: sort[1] === "desc" ? "desc" : "asc" };
  const ep = p.get("endpoint");
  if (ep) {
    const [method, host, ...rest] = ep.split(" ");
    if (method && host && rest.length) out.endpoint = { method, host, template: rest.join(" ") };
  }
  return out;
}

export function writeUrl() {
  const p = new URLSearchParams();
  if (state.sessionId) p.set("session", state.sessionId);
  const f = state.filters;
  if (f.filter) p.set("q", f.filter);
  if (f.methods) p.set("method", f.methods);
  if (f.statusCodes) p.set("status", f.statusCodes);
  if (f.hosts) p.set("host", f.hosts);
  if (state.types.size) p.set("type", [...state.types].join(","));
  if (state.hideNoise) p.set("noise", "hide");
  if (!inCaptureOrder()) p.set("sort", `${state.sort.field}:${state.sort.dir}`);
  if (state.endpoint) p.set("endpoint", `${state.endpoint.method} ${state.endpoint.host} ${state.endpoint.template}`);
  if (state.detailId) {
    p.set("entry", state.detailId);
    if (state.detailTab && state.detailTab !== "Headers") p.set("tab", state.detailTab);
  }
  const search = p.toString();
  const url = location.pathname + (search ? "?" + search : "");
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}
