// Small DOM helpers. Captured content is untrusted: it only ever reaches the page through
// textContent / attributes set here, never as HTML.

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

/** Append children, skipping null/undefined/false (so `cond ? x : null` never prints "null"). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 2500);
}

/** The one modal dialog: `wide` for the diff, compare and inventory views. */
export function showDialog(children, { wide = false, label = "" } = {}) {
  const dialog = $("dialog");
  const body = $("dialog-body");
  body.replaceChildren();
  append(body, [children]);
  dialog.classList.toggle("wide", wide);
  dialog.setAttribute("aria-label", label);
  if (!dialog.open) dialog.showModal();
  body.scrollTop = 0;
  return body;
}

export function closeDialog() {
  if ($("dialog").open) $("dialog").close();
}

export function fmtSize(n) {
  if (n === null || n === undefined || n < 0) return "";
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
  return (n / (1 << 20)).toFixed(1) + " MB";
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  if (ms >= 10000) return (ms / 1000).toFixed(1) + " s";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (ms >= 10) return ms.toFixed(0) + " ms";
  return ms.toFixed(1) + " ms";
}

export function fmtClock(epochMs) {
  const d = new Date(epochMs);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function b64bytes(b64) {
  const bin = atob(b64 || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** UTF-8 text, or null when the bytes are not text (invalid UTF-8 or NUL bytes). */
export function bytesToText(bytes) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return text.includes("\0") ? null : text;
  } catch {
    return null;
  }
}

export function kvTable(pairs, cls = "kv") {
  return h(
    "table",
    { class: cls },
    h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { text: v ?? "" }))))
  );
}

export function download(blob, filename) {
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

export async function copy(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    toast(what);
  } catch {
    showDialog([h("p", { text: "Copy this:" }), h("pre", { id: "copy-text", text })]);
  }
}

/** Call fn at most every `ms`, always once more after the last call (a live stream never starves it). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return function run(...args) {
    const wait = last + ms - performance.now();
    if (wait <= 0) {
      clearTimeout(timer);
      timer = null;
      last = performance.now();
      fn(...args);
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = performance.now();
        fn(...args);
      }, wait);
    }
  };
}

/** A drop-down menu: `button` toggles `panel`; a click elsewhere or Esc closes it. */
export function menu(button, panel) {
  button.addEventListener("click", (ev) => {
    ev.stopPropagation();
    const open = panel.hidden;
    closeMenus();
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  });
  panel.classList.add("menu-items");
  panel.addEventListener("click", (ev) => ev.stopPropagation());
}

export function closeMenus() {
  let closed = false;
  for (const m of document.querySelectorAll(".menu-items:not([hidden]), .context-menu:not([hidden])")) {
    m.hidden = true;
    closed = true;
  }
  return closed;
}
