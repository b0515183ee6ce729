// Network conditions: the toolbar's profile picker (NectoProxy's presets and the stored custom
// profiles) and, while a profile slows traffic, a banner under the toolbar and the tab title
// saying so, so that nobody forgets it is on. Live on the event stream's `event: network`.

import { api, q } from "./api.js";
import { $, h, append, closeDialog, closeMenus, menu, showDialog, throttle, toast } from "./dom.js";
import { on } from "./state.js";

const net = { profiles: [], active: null };
const BASE_TITLE = document.title || "Necto";

export function fmtRate(bytesPerSecond) {
  const b = Number(bytesPerSecond) || 0;
  if (!b) return "unlimited";
  if (b < 1024) return `${b} B/s`;
  if (b < 1024 * 1024) return `${+(b / 1024).toFixed(b < 10 * 1024 ? 1 : 0)} KB/s`;
  return `${+(b / 1048576).toFixed(1)} MB/s`;
}

function latencyText(p) {
  if (!p.latency && !p.latencyJitter) return "no added latency";
  return `${p.latency}${p.latencyJitter ? ` ± ${p.latencyJitter}` : ""} ms latency`;
}

/** A profile's numbers in words: "↓ 97 KB/s · ↑ 41 KB/s · 400 ± 100 ms latency · 1 % loss". */
export function profileSummary(p) {
  const parts = [`↓ ${fmtRate(p.downloadBandwidth)}`, `↑ ${fmtRate(p.uploadBandwidth)}`, latencyText(p)];
  if (p.packetLoss) parts.push(`${p.packetLoss} % loss`);
  return parts.join(" · ");
}

function slows(p) {
  return !!p && !!(p.downloadBandwidth || p.uploadBandwidth || p.latency || p.latencyJitter || p.packetLoss);
}

export async function loadNetwork() {
  try {
    const data = await api("/api/network/profiles");
    net.profiles = data.profiles || [];
    net.active = data.activeProfile || null;
  } catch {
    return;
  }
  render();
}

const reloadSoon = throttle(() => loadNetwork(), 300);

async function activate(id) {
  closeMenus();
  try {
    const r = id ? await api(`/api/network/activate/${q(id)}`, { method: "POST" }) : await api("/api/network/deactivate", { method: "POST" });
    net.active = r.activeProfile || null;
    render();
    toast(net.active ? `Network conditions on: ${net.active.name}` : "Network conditions off");
  } catch (e) {
    toast(e.message);
  }
  loadNetwork();
}

let drawn = null; // the state render() last drew

function render() {
  // a reload that changed nothing leaves the menu and the banner alone: re-creating them would
  // lose a click under way on one of their buttons
  const key = JSON.stringify([net.profiles, net.active]);
  if (key === drawn) return;
  drawn = key;
  const p = net.active;
  const on_ = slows(p);
  const btn = $("btn-network");
  btn.textContent = on_ ? `● ${p.name} ▾` : p ? `${p.name} ▾` : "Network ▾";
  btn.classList.toggle("net-on", on_);
  btn.title = p ? `Network profile: ${p.name} (${profileSummary(p)}). Click to change or turn off.` : "Network conditions: off. Click to simulate a slow or lossy network.";
  const banner = $("network-banner");
  banner.hidden = !on_;
  document.title = on_ ? `● ${p.name} · ${BASE_TITLE}` : BASE_TITLE;
  if (on_) {
    banner.replaceChildren(
      h("span", { class: "net-icon", "aria-hidden": "true", text: "●" }),
      h("span", {}, "Network conditions on: ", h("strong", { id: "network-active-name", text: p.name }), ` — ${profileSummary(p)}`, p.packetLoss ? " (dropped requests get a 503)" : "", ". Every request through Necto is slowed."),
      h("span", { class: "spacer" }),
      h("button", { class: "small", text: "Change…", onclick: (ev) => (ev.stopPropagation(), $("btn-network").click()) }),
      h("button", { class: "small primary", id: "btn-network-off", text: "Turn off", onclick: () => activate(null) })
    );
  }
  renderMenu();
}

function item(p) {
  const active = net.active && net.active.id === p.id;
  return h(
    "div",
    { class: "net-item" + (active ? " active" : "") },
    h(
      "button",
      { "data-profile": p.id, title: p.description || "", "aria-pressed": String(!!active), onclick: () => activate(p.id) },
      h("span", { class: "net-check", text: active ? "✓" : "" }),
      h("span", { class: "net-name", text: p.name }),
      h("span", { class: "net-nums muted", text: p.id === "preset-0" ? "no limits" : profileSummary(p) })
    ),
    p.isPreset ? null : h("button", { class: "chip-x", title: `Delete the profile “${p.name}”`, "aria-label": `Delete ${p.name}`, text: "✕", onclick: () => removeProfile(p) })
  );
}

function renderMenu() {
  const panel = $("network-items");
  const presets = net.profiles.filter((p) => p.isPreset);
  const custom = net.profiles.filter((p) => !p.isPreset);
  panel.replaceChildren();
  append(panel, [
    h(
      "div",
      { class: "net-item" + (net.active ? "" : " active") },
      h("button", { "data-profile": "", "aria-pressed": String(!net.active), onclick: () => activate(null) }, h("span", { class: "net-check", text: net.active ? "" : "✓" }), h("span", { class: "net-name", text: "Off" }), h("span", { class: "net-nums muted", text: "traffic at full speed" }))
    ),
    h("div", { class: "menu-heading", text: "Presets" }),
    presets.map(item),
    h("div", { class: "menu-heading", text: "Custom" }),
    custom.length ? custom.map(item) : h("div", { class: "muted menu-note", text: "None yet" }),
    h("button", { id: "btn-new-profile", text: "New custom profile…", onclick: () => (closeMenus(), profileForm()) }),
  ]);
}

async function removeProfile(p) {
  if (!confirm(`Delete the network profile “${p.name}”?`)) return;
  try {
    await api(`/api/network/profiles/${q(p.id)}`, { method: "DELETE" });
  } catch (e) {
    toast(e.message);
  }
  loadNetwork();
}

function profileForm() {
  const field = (label, name, attrs = {}) => h("label", { class: "field", "data-field": name }, h("span", { text: label }), h("input", { name, ...attrs }));
  const form = h(
    "form",
    { class: "rule-form", id: "profile-form", novalidate: true },
    h("h3", { text: "New network profile" }),
    h("p", { class: "error-text", id: "profile-error", hidden: true }),
    h("div", { class: "grid2" },
      field("Name", "name", { required: true, placeholder: "Hotel Wi-Fi" }),
      field("Description", "description"),
      field("Download (KB/s, 0 = unlimited)", "downloadBandwidth", { type: "number", min: 0, step: "any", value: 0 }),
      field("Upload (KB/s, 0 = unlimited)", "uploadBandwidth", { type: "number", min: 0, step: "any", value: 0 }),
      field("Latency (ms)", "latency", { type: "number", min: 0, max: 30000, value: 0 }),
      field("Jitter (± ms)", "latencyJitter", { type: "number", min: 0, max: 5000, value: 0 }),
      field("Packet loss (%)", "packetLoss", { type: "number", min: 0, max: 100, step: "any", value: 0 })),
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit", text: "Create" }), h("button", { type: "button", text: "Cancel", onclick: closeDialog }))
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (n) => form.elements[n].value;
    const num = (n, scale = 1) => Math.round(Number(v(n) || 0) * scale);
    const body = {
      name: v("name").trim(),
      description: v("description").trim(),
      downloadBandwidth: num("downloadBandwidth", 1024),
      uploadBandwidth: num("uploadBandwidth", 1024),
      latency: Number(v("latency") || 0),
      latencyJitter: Number(v("latencyJitter") || 0),
      packetLoss: Number(v("packetLoss") || 0),
    };
    try {
      await api("/api/network/profiles", { method: "POST", json: body });
      closeDialog();
      toast(`Profile “${body.name}” created: pick it in the Network menu`);
      loadNetwork();
    } catch (e) {
      const err = $("profile-error");
      err.hidden = false;
      err.textContent = e.message;
    }
  });
  showDialog([form], { label: "New network profile" });
  form.elements.name.focus();
}

export function wireNetwork() {
  menu($("btn-network"), $("network-items"));
  on("stream", (es) => {
    es.addEventListener("network", reloadSoon);
    es.addEventListener("open", reloadSoon); // what a closed stream may have missed
  });
}
