// Entries that are connections rather than exchanges, and getting traffic in at all:
// tunnels (SSL passthrough or raw TCP: bytes each way, never decrypted) and client TLS
// failures (the client refused Necto's certificate) read differently in the list and the
// detail; the session's TLS-failure count sits by the list's count; the empty state says how
// to point clients at the proxy so that nothing (loopback included) goes around it.

import { api, q, withToken } from "./api.js";
import { $, h, copy, fmtMs, fmtSize, kvTable, showDialog, throttle, toast } from "./dom.js";
import { state, on } from "./state.js";

const ALERT = /alert ([a-z /]+?)(?:\)|'|$)/; // as the recorder reads mitmproxy's reason
// Alerts a client sends when it does not accept the certificate it was shown.
const REFUSED = /unknown ca|certificate unknown|bad certificate|unsupported certificate|certificate expired|certificate revoked|access denied/;

export function isConnectionEntry(e) {
  return e.kind === "tunnel" || e.kind === "tls-failed";
}

export function tlsAlert(e) {
  const m = ALERT.exec(e.error || "");
  return m ? m[1] : null;
}

/** One line for a tls-failed row: what happened and what to do about it. */
export function tlsFailureText(e) {
  const alert = tlsAlert(e);
  if (alert && REFUSED.test(alert)) {
    return `client refused Necto's certificate (${alert}) — trust the CA or add the host to SSL passthrough`;
  }
  return "client broke off the TLS handshake" + (alert ? ` (${alert})` : "") + " — trust Necto's CA, or add the host to SSL passthrough if the app pins certificates";
}

export function tunnelText(e) {
  const sent = fmtSize(e.requestBodySize) || "0 B";
  const received = fmtSize(e.responseBodySize ?? 0) || "0 B";
  return `tunnel, not decrypted · ↑ ${sent} sent · ↓ ${received} received`;
}

/** The list's cell for a connection entry, or undefined to draw it as any other entry. */
export function kindCell(col, e) {
  if (e.kind === "tls-failed") {
    if (col === "path") return tlsFailureText(e);
    if (col === "status") return "TLS ✕";
    if (col === "type") return "tls-failed";
    if (col === "size") return "";
  } else if (e.kind === "tunnel") {
    if (col === "path") return tunnelText(e);
    if (col === "type") return "tunnel";
    if (col === "status" && e.status === null) return "ERR";
  }
  return undefined;
}

export function kindTitle(col, e) {
  if (!isConnectionEntry(e)) return undefined;
  if (col === "path" || col === "status") return [e.url, e.error].filter(Boolean).join("\n");
  return undefined;
}

// ---------------------------------------------------------------- the entry detail
function trustCaLink() {
  return h("a", { class: "button", href: withToken("/api/certificates/download"), text: "Download the CA certificate" });
}

async function addPassthrough(domain) {
  try {
    await api("/api/ssl-passthrough", { method: "POST", json: { domain, reason: "added from the page after a client TLS failure" } });
    toast(`${domain} added to SSL passthrough: its next connections are tunnelled untouched`);
  } catch (err) {
    toast("Could not add it: " + err.message);
  }
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** What a connection entry is, above the detail's tabs (nothing for other entries). */
export function kindNotes(e) {
  const facts = (e.connectivity || {})[e.kind === "tunnel" ? "tunnel" : "tlsFailure"] || {};
  if (e.kind === "tls-failed") {
    const host = facts.sni || e.host;
    return h(
      "div",
      { class: "note note-tls", id: "kind-note" },
      h("strong", { text: capitalised(tlsFailureText(e).replace(/ — .*/, "")) }),
      h("p", { text: "Nothing of this connection was decrypted. To see its requests, make the client trust Necto's CA; an app that pins its certificates never will: add its host to SSL passthrough (its traffic then passes untouched, recorded as one tunnel entry)." }),
      kvTable([
        ["Host (SNI)", facts.sni || "(none sent)"],
        ["Alert", facts.alert || tlsAlert(e) || ""],
        ["Reason", facts.reason || e.error || ""],
      ]),
      h("div", { class: "actions" }, trustCaLink(), h("button", { id: "btn-add-passthrough", text: `Add ${host} to SSL passthrough`, onclick: () => addPassthrough(host) }))
    );
  }
  if (e.kind === "tunnel") {
    return h(
      "div",
      { class: "note note-tunnel", id: "kind-note" },
      h("strong", { text: facts.passthrough ? "Tunnel: passed through untouched (SSL passthrough)" : "Tunnel: passed through without decrypting" }),
      kvTable([
        ["Host (SNI)", facts.sni || e.host],
        ["Sent by the client", fmtSize(facts.bytesSent ?? e.requestBodySize) || "0 B"],
        ["Received from the server", fmtSize(facts.bytesReceived ?? e.responseBodySize ?? 0) || "0 B"],
        ["Open for", fmtMs(e.duration)],
        e.error ? ["Ended with", e.error] : null,
      ].filter(Boolean))
    );
  }
  return null;
}

// ---------------------------------------------------------------- TLS failures by the count
export async function refreshTlsNote() {
  const sid = state.sessionId;
  const note = $("tls-note");
  if (!sid) {
    note.hidden = true;
    return;
  }
  let n = 0;
  try {
    n = (await api(`/api/traffic/stats/${q(sid)}`)).tlsFailures || 0;
  } catch {
    return;
  }
  if (state.sessionId !== sid) return;
  note.hidden = n === 0;
  note.replaceChildren(`⚠ ${n}`, h("span", { class: "long", text: ` TLS failure${n === 1 ? "" : "s"}` }));
  note.title = `Clients broke off ${n} TLS handshake${n === 1 ? "" : "s"} with Necto in this session (they do not trust its CA, or pin certificates). Click for the fix.`;
}

const refreshSoon = throttle(refreshTlsNote, 1000);

function explainTlsFailures() {
  showDialog([
    h("h3", { text: "Clients refused Necto's certificate" }),
    h("p", { text: "Rows marked ⚠ are TLS handshakes a client broke off: it does not trust Necto's CA (install it, below), or it pins its certificates (add its host to SSL passthrough from the entry's detail: its traffic then passes untouched)." }),
    h("p", {}, trustCaLink()),
    trustSteps(),
  ]);
}

// ---------------------------------------------------------------- getting traffic in
function cmd(text) {
  return h("span", { class: "cmd" }, h("code", { text }), h("button", { class: "small copy-cmd", title: "Copy the command", text: "Copy", onclick: () => copy(text, "Copied") }));
}

/** Per-OS steps to trust the CA (from the API), filled in when they arrive. */
export function trustSteps() {
  const steps = h("div", { class: "trust-steps" });
  api("/api/certificates/ca/install")
    .then((info) => {
      for (const [platform, lines] of Object.entries(info.platforms)) steps.append(h("h4", { text: platform }), h("pre", { text: lines.join("\n") }));
    })
    .catch(() => {});
  return steps;
}

/** The empty state of the active session: how to point each kind of client at the proxy. */
export function setupHelp(health) {
  const host = health ? health.proxy.host : "127.0.0.1";
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const proxy = `${shown}:${health ? health.proxy.port : 8888}`;
  const url = `http://${proxy}`;
  return [
    h("h2", { text: "No traffic in this session yet" }),
    h("p", { text: "Point a browser, curl or a phone at the proxy, and requests appear here as they happen." }),
    h(
      "dl",
      { class: "setup", id: "setup-help" },
      h("dt", { text: "curl" }),
      h("dd", {}, cmd(`curl -x ${url} --cacert necto-ca-cert.pem https://example.com/`)),
      h("dt", { text: "Chromium, Chrome, Edge" }),
      h("dd", {}, cmd(`chromium --proxy-server=${url} --proxy-bypass-list="<-loopback>"`), h("div", { class: "muted", text: "<-loopback> stops Chromium from sending localhost and 127.0.0.1 around the proxy, so local dev servers are captured too." })),
      h("dt", { text: "Firefox" }),
      h("dd", {}, `Settings › Network Settings › Manual proxy: HTTP and HTTPS proxy `, h("code", { text: proxy }), ". For local sites, set ", h("code", { text: "network.proxy.allow_hijacking_localhost" }), " to true in ", h("code", { text: "about:config" }), "."),
      h("dt", { text: "Anything using the environment" }),
      h("dd", {}, cmd(`export https_proxy=${url} http_proxy=${url} no_proxy=`)),
      h("dt", { text: "Clients without proxy settings" }),
      h("dd", {}, "Run Necto in front of the app as a reverse proxy, ", cmd("necto run --mode regular --mode reverse:http://localhost:3000@8081"), " and open ", h("code", { text: "http://127.0.0.1:8081/" }), "; or as a SOCKS5 proxy, ", cmd("necto run --mode regular --mode socks5@1080"), ".")
    ),
    h("p", {}, h("a", { href: withToken("/api/certificates/download"), id: "ca-download", text: "Download the CA certificate" }), " and trust it (HTTPS needs it):"),
    trustSteps(),
  ];
}

/** Keep the TLS-failure note current: live tls-failed entries and deletions change it. */
export function wireKinds() {
  $("tls-note").addEventListener("click", explainTlsFailures);
  on("live", (batch) => {
    if (batch.some((e) => e.kind === "tls-failed" && e.sessionId === state.sessionId)) refreshSoon();
  });
  on("stream", (es) => es.addEventListener("removed", () => refreshSoon()));
}
