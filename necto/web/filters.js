// Which entries the list shows. The filter box (the filter language), method, status and host
// go to the API (server-side); type chips, "hide noise" and an inventory endpoint are decided
// here, in the page.

import { state, prefs } from "./state.js";

export const TYPES = [
  ["xhr", "XHR/fetch"],
  ["js", "JS"],
  ["css", "CSS"],
  ["img", "Img"],
  ["doc", "Doc"],
  ["ws", "WS"],
  ["other", "Other"],
];

const EXT_TYPES = [
  [/\.m?js$/, "js"],
  [/\.css$/, "css"],
  [/\.(png|jpe?g|gif|webp|avif|svg|ico|bmp)$/, "img"],
  [/\.html?$/, "doc"],
];

/** DevTools-like resource type from what the list knows: protocol, content type, then extension. */
export function typeOf(e) {
  if (e.protocol === "ws" || e.protocol === "wss") return "ws";
  const ct = (e.contentType || "").toLowerCase().split(";")[0].trim();
  if (ct) {
    if (/javascript|ecmascript/.test(ct)) return "js";
    if (ct === "text/css") return "css";
    if (ct.startsWith("image/")) return "img";
    if (ct === "text/html" || ct === "application/xhtml+xml") return "doc";
    if (/json|xml|^text\/plain|form-urlencoded|event-stream|grpc|protobuf|graphql|msgpack|ndjson/.test(ct)) return "xhr";
    return "other";
  }
  const path = (e.path || "").split("?")[0].toLowerCase();
  for (const [re, type] of EXT_TYPES) if (re.test(path)) return type;
  return "other";
}

function globToRegex(glob) {
  const body = glob
    .trim()
    .toLowerCase()
    .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*");
  return new RegExp("^" + body + "$");
}

let noiseCache = { key: null, res: [] };

/** Is this host one of the browser's background hosts ("hide noise"; the list is editable). */
export function isNoise(host) {
  const key = prefs.noiseHosts.join("\n");
  if (noiseCache.key !== key) {
    noiseCache = { key, res: prefs.noiseHosts.filter((g) => g.trim()).map(globToRegex) };
  }
  const hst = (host || "").toLowerCase();
  return noiseCache.res.some((re) => re.test(hst));
}

export function hostPort(url) {
  try {
    const u = new URL(url);
    return u.host.toLowerCase();
  } catch {
    return "";
  }
}

export function templateRegex(template) {
  const parts = template.split(/(\{[^}]*\})/);
  const body = parts.map((p) => (p.startsWith("{") ? "[^/]+" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("");
  return new RegExp("^" + body + "$");
}

export function clientFiltersActive() {
  return state.types.size > 0 || state.hideNoise || !!state.endpoint;
}

export function filtersActive() {
  return clientFiltersActive() || Object.values(state.filters).some(Boolean);
}

let endpointRe = { template: null, re: null };

/** The page-side filters. */
export function matchesClient(e) {
  if (state.types.size && !state.types.has(typeOf(e))) return false;
  if (state.hideNoise && isNoise(e.host)) return false;
  const ep = state.endpoint;
  if (ep) {
    if (endpointRe.template !== ep.template) endpointRe = { template: ep.template, re: templateRegex(ep.template) };
    if (e.method.toUpperCase() !== ep.method.toUpperCase()) return false;
    if (hostPort(e.url) !== ep.host.toLowerCase()) return false;
    if (!endpointRe.re.test((e.path || "/").split("?")[0])) return false;
  }
  return true;
}

/** The server-side filters as one filter-language query (exports of the filtered view). */
export function serverFilter() {
  const f = state.filters;
  const quote = (v) => (/[\s()"]/.test(v) ? JSON.stringify(v) : v);
  const parts = [];
  if (f.filter) parts.push(f.filter.includes(" OR ") ? `(${f.filter})` : f.filter);
  if (f.methods) parts.push("method:" + quote(f.methods));
  if (f.statusCodes) parts.push("status:" + quote(f.statusCodes));
  if (f.hosts) parts.push("host:" + quote(f.hosts.split(",").map((x) => x.trim()).filter(Boolean).join(",")));
  return parts.join(" ");
}

/** The API's filters, repeated here so live entries can join a filtered list without a reload
 * (the filter box's query is decided by the server: the live stream marks matching entries). */
export function matchesServer(e) {
  const f = state.filters;
  if (f.filter && e.matchesFilter !== true) return false;
  if (f.methods) {
    const ms = f.methods.split(",").map((m) => m.trim().toUpperCase());
    if (!ms.includes(e.method.toUpperCase())) return false;
  }
  if (f.statusCodes) {
    const status = e.status ?? 0;
    const ok = f.statusCodes.split(",").some((c) => {
      c = c.trim().toLowerCase();
      if (/^\dxx$/.test(c)) return e.status !== null && Math.floor(e.status / 100) === Number(c[0]);
      return status === Number(c);
    });
    if (!ok) return false;
  }
  if (f.hosts) {
    const hs = f.hosts.split(",").map((x) => x.trim().toLowerCase()).filter(Boolean);
    if (hs.length && !hs.includes((e.host || "").toLowerCase())) return false;
  }
  return true;
}

/** The list's order, for the entries the page sorts itself (local mode). */
const SORT_KEYS = {
  timestamp: (e) => e.timestamp,
  duration: (e) => e.duration,
  size: (e) => e.responseBodySize ?? -1,
  status: (e) => e.status ?? -1,
  host: (e) => (e.host || "").toLowerCase(),
  method: (e) => e.method,
  url: (e) => e.url,
};

export function compareEntries(a, b) {
  const key = SORT_KEYS[state.sort.field] || SORT_KEYS.timestamp;
  const x = key(a);
  const y = key(b);
  let c = x < y ? -1 : x > y ? 1 : 0;
  if (c === 0) c = a.timestamp - b.timestamp;
  return state.sort.dir === "desc" ? -c : c;
}
