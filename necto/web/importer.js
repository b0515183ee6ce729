// Import a HAR file: the result with warnings and skipped entries, or, when the file cannot be
// used, what was wrong with it (the API's answer plus a look at the file itself).

import { api } from "./api.js";
import { h, showDialog } from "./dom.js";
import { emit } from "./state.js";

const MAGIC = [
  [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
  [[0xff, 0xd8, 0xff], "a JPEG image"],
  [[0x47, 0x49, 0x46, 0x38], "a GIF image"],
  [[0x25, 0x50, 0x44, 0x46], "a PDF document"],
  [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive (if it holds a HAR, unzip it first)"],
  [[0x1f, 0x8b], "a gzip file (gunzip it first)"],
  [[0x52, 0x49, 0x46, 0x46], "a RIFF file (WebP, WAV or AVI)"],
  [[0x7f, 0x45, 0x4c, 0x46], "an executable (ELF)"],
];
const PARSE_LIMIT = 32 << 20; // files up to this size are parsed here to say exactly what is wrong

function startsWith(bytes, sig) {
  return sig.every((b, i) => bytes[i] === b);
}

function kindOf(v) {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** Why this file is not a usable HAR, in words; null when the page cannot tell. */
export async function explainHarFile(file) {
  if (file.size === 0) return "The file is empty (0 bytes): there is nothing to import.";
  const head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  for (const [sig, what] of MAGIC) if (startsWith(head, sig)) return `This is ${what}, not a HAR file. A HAR file is JSON text that starts with {"log": …}.`;
  let text = new TextDecoder("utf-8").decode(head).replace(/^\uFEFF/, "");
  const lead = text.length - text.trimStart().length;
  text = text.trimStart();
  if (!text) return "The file holds only whitespace.";
  const jsonp = /^[A-Za-z_$][\w$.]*\s*\(/.test(text);
  if (text[0] !== "{" && text[0] !== "[" && !jsonp) {
    const shown = text.slice(0, 40).replace(/\s+/g, " ");
    return `Not JSON: at byte ${lead} the file starts with “${shown}${text.length > 40 ? "…" : ""}”; a HAR file starts with {.`;
  }
  if (file.size > PARSE_LIMIT) return null;
  let full = (await file.text()).replace(/^\uFEFF/, "").trim();
  if (jsonp) full = full.replace(/^[A-Za-z_$][\w$.]*\s*\(/, "").replace(/\)\s*;?\s*$/, "");
  let data;
  try {
    data = JSON.parse(full);
  } catch (e) {
    return `Not valid JSON: ${e.message}.`;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return `The JSON's top level is ${kindOf(data)}; a HAR file is an object with a "log" property.`;
  }
  if (!("log" in data)) {
    const keys = Object.keys(data);
    const list = keys.slice(0, 6).map((k) => `"${k}"`).join(", ") + (keys.length > 6 ? ", …" : "");
    return keys.length
      ? `This JSON has no "log" property (its top-level keys are ${list}), so it is not a HAR file.`
      : `This JSON is an empty object: no "log" property, so it is not a HAR file.`;
  }
  if (!data.log || typeof data.log !== "object" || Array.isArray(data.log)) return `"log" is ${kindOf(data.log)}, not an object.`;
  if (!Array.isArray(data.log.entries)) {
    return "entries" in data.log ? `"log.entries" is ${kindOf(data.log.entries)}, not an array.` : `"log" has no "entries" array.`;
  }
  if (!data.log.entries.length) return `"log.entries" is empty: the HAR holds no requests.`;
  return null;
}

function describe(w) {
  if (typeof w === "string") return w;
  return [w.index !== undefined && w.index !== null ? `entry ${w.index}` : "", w.path || w.field || "", w.message || w.reason || ""].filter(Boolean).join(": ");
}

function reasonsList(title, items, id) {
  if (!items || !items.length) return null;
  return [h("h4", { text: title }), h("ul", { class: "warnings", id }, items.map((w) => h("li", { text: describe(w) })))];
}

export async function importFile(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("sessionName", "Imported: " + file.name.replace(/\.(har|json)$/i, ""));
  showDialog([h("p", { text: `Importing ${file.name}…` })]);
  let result;
  try {
    result = await api("/api/har/import", { method: "POST", body: form });
  } catch (e) {
    const body = e.body || {};
    const reason = e.status === 400 || !e.status ? await explainHarFile(file).catch(() => null) : null;
    const skipped = body.skipped || body.reasons || [];
    showDialog([
      h("h3", { id: "import-title", text: `Import of ${file.name} failed: ${e.message}` }),
      reason ? h("p", { id: "import-error", class: "error-text", text: reason }) : null,
      body.message ? h("p", { id: reason ? "import-message" : "import-error", text: body.message }) : null,
      body.detail ? h("p", { class: "muted", id: "import-detail", text: `Parser: ${body.detail}` }) : null,
      !reason && !body.message && !body.detail && !skipped.length ? h("p", { id: "import-error", text: e.message }) : null,
      reasonsList(`Skipped entries (${body.skippedCount ?? skipped.length})`, skipped, "import-skipped"),
      reasonsList(`Warnings (${body.warningCount ?? (body.warnings || []).length})`, body.warnings, "import-warnings"),
      e.status === 400 ? h("p", { class: "muted", text: "Nothing was imported; no session was created." }) : null,
    ]);
    return;
  }
  const warnings = result.warnings || [];
  const skipped = result.skipped || [];
  const warningCount = result.warningCount ?? warnings.length;
  const skippedCount = result.skippedCount ?? skipped.length;
  if (result.imported === 0 && result.total > 0) {
    showDialog([
      h("h3", { id: "import-title", text: `0 of ${result.total} entries could be imported from ${file.name}` }),
      reasonsList(`Skipped entries (${skippedCount})`, skipped, "import-skipped"),
      reasonsList(`Warnings (${warningCount})`, warnings, "import-warnings"),
    ]);
    emit("sessions-changed");
    return;
  }
  showDialog([
    h("h3", { id: "import-title", text: `Imported ${result.imported} of ${result.total} entries into "${result.sessionName}"` }),
    h("p", { id: "import-warning-count", text: `${warningCount} warnings, ${skippedCount} skipped` }),
    reasonsList("Warnings", warnings, "import-warnings"),
    reasonsList("Skipped", skipped, "import-skipped"),
  ]);
  emit("imported", result.sessionId);
}
