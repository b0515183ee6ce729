// "Copy as": cURL, fetch, Python requests and HTTPie from one entry. Everything captured is
// hostile until quoted: shell words are single-quoted (the method too), code strings are
// JSON-escaped literals, binary bodies travel as escapes, never raw bytes.

import { b64bytes, bytesToText } from "./dom.js";

/** One shell word: inert in bash, dash and zsh whatever it contains. */
export function shq(s) {
  return "'" + String(s).replace(/'/g, "'\\''") + "'";
}

const SKIP = new Set(["content-length", "proxy-connection", "connection", "keep-alive", "transfer-encoding"]);

function headers(e) {
  return (e.requestHeaderList || []).filter((x) => !x.name.startsWith(":") && !SKIP.has(x.name.toLowerCase()));
}

function body(e) {
  if (!e.requestBody) return null;
  const bytes = b64bytes(e.requestBody);
  if (!bytes.length) return null;
  return { bytes, text: bytesToText(bytes) };
}

export function acceptsCompression(e) {
  return headers(e).some((x) => x.name.toLowerCase() === "accept-encoding" && /gzip|deflate|br|zstd/i.test(x.value));
}

/** printf '%b' escapes (octal, portable across shells) for a binary body piped on stdin. */
function printfBytes(bytes) {
  let out = "";
  for (const b of bytes) out += "\\0" + b.toString(8).padStart(3, "0");
  return "printf '%b' '" + out + "' | ";
}

export function curlCommand(e) {
  const args = [["curl"]];
  if (e.method === "HEAD") args.push(["--head"]);
  else args.push(["-X", shq(e.method)]);
  if (/[[\]{}]/.test(e.url)) args.push(["--globoff"]);
  args[0].push(shq(e.url));
  for (const x of headers(e)) {
    // curl drops a header given as "Name:" with nothing after it; "Name;" sends it empty
    args.push(["-H", shq(x.value === "" ? `${x.name};` : `${x.name}: ${x.value}`)]);
  }
  if (acceptsCompression(e)) args.push(["--compressed"]);
  const b = body(e);
  let prefix = "";
  if (b && b.text !== null) args.push(["--data-binary", shq(b.text)]);
  else if (b) {
    prefix = printfBytes(b.bytes);
    args.push(["--data-binary", "@-"]);
  }
  return prefix + args.map((a) => a.join(" ")).join(" \\\n  ");
}

const FETCH_FORBIDDEN = new Set(["host", "cookie", "accept-encoding", "user-agent", "origin", "referer"]);

export function fetchCode(e) {
  const hs = {};
  let cookies = false;
  for (const x of headers(e)) {
    const n = x.name.toLowerCase();
    if (n === "cookie") cookies = true;
    if (FETCH_FORBIDDEN.has(n)) continue;
    hs[x.name] = hs[x.name] !== undefined ? hs[x.name] + ", " + x.value : x.value;
  }
  const lines = [`const response = await fetch(${JSON.stringify(e.url)}, {`, `  method: ${JSON.stringify(e.method)},`];
  lines.push(`  headers: ${JSON.stringify(hs, null, 2).replace(/\n/g, "\n  ")},`);
  const b = body(e);
  if (b && b.text !== null) lines.push(`  body: ${JSON.stringify(b.text)},`);
  else if (b) lines.push(`  body: Uint8Array.from(atob(${JSON.stringify(e.requestBody)}), (c) => c.charCodeAt(0)),`);
  if (cookies) lines.push(`  credentials: "include", // the browser sends its own cookies`);
  lines.push("});", "console.log(response.status, await response.text());");
  return lines.join("\n");
}

/** A Python string literal (JSON's escapes are all valid Python escapes). */
function py(s) {
  return JSON.stringify(String(s));
}

export function pythonCode(e) {
  const hs = new Map();
  for (const x of headers(e)) {
    const prev = hs.get(x.name);
    hs.set(x.name, prev === undefined ? x.value : prev + (x.name.toLowerCase() === "cookie" ? "; " : ", ") + x.value);
  }
  const lines = ["import requests", "", "response = requests.request(", `    ${py(e.method)},`, `    ${py(e.url)},`];
  lines.push("    headers={");
  for (const [k, v] of hs) lines.push(`        ${py(k)}: ${py(v)},`);
  lines.push("    },");
  const b = body(e);
  if (b && b.text !== null) lines.push(`    data=${py(b.text)}.encode("utf-8"),`);
  else if (b) lines.push(`    data=bytes.fromhex(${py(Array.from(b.bytes, (x) => x.toString(16).padStart(2, "0")).join(""))}),`);
  lines.push(")", "print(response.status_code)", "print(response.text)");
  return lines.join("\n");
}

export function httpieCommand(e) {
  const parts = [];
  const b = body(e);
  let prefix = "";
  parts.push("http");
  if (b && b.text !== null) parts.push("--ignore-stdin", "--raw", shq(b.text));
  else if (b) prefix = printfBytes(b.bytes);
  else parts.push("--ignore-stdin");
  parts.push(shq(e.method), shq(e.url));
  const words = [parts.join(" ")];
  for (const x of headers(e)) words.push(shq(x.value === "" ? `${x.name};` : `${x.name}:${x.value}`));
  return prefix + words.join(" \\\n  ");
}

export const SNIPPETS = [
  ["curl", "cURL", curlCommand],
  ["fetch", "fetch", fetchCode],
  ["python", "Python requests", pythonCode],
  ["httpie", "HTTPie", httpieCommand],
];
