// Talking to Necto's API: the token (when one is needed) and errors that keep what the API said.

const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("necto-token", params.get("token"));
export const TOKEN = sessionStorage.getItem("necto-token");

export function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

/** An API answer that was not 2xx: `message` is its `error`, `body` the whole JSON (detail, reasons...). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  const init = { ...options, headers };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  }
  delete init.json;
  delete init.raw;
  const resp = await fetch(path, init);
  const type = resp.headers.get("Content-Type") || "";
  if (!resp.ok) {
    const body = type.includes("json") ? await resp.json().catch(() => null) : null;
    throw new ApiError(resp.status, body || { error: resp.statusText || `HTTP ${resp.status}` });
  }
  if (options.raw) return resp;
  return type.includes("json") ? resp.json() : resp;
}

export const q = encodeURIComponent;
