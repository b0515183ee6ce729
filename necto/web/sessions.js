// The session toolbar. One meaning of "recording" everywhere: only the active session records,
// and it can be paused; any other session shows "not recording" and offers "Record here".

import { api } from "./api.js";
import { $, h, toast, throttle } from "./dom.js";
import { state, emit } from "./state.js";
import { filtersActive } from "./filters.js";

const NAME_SHOWN = 48; // characters of a name shown in the drop-down; the rest is ellipsized

function shortName(name) {
  return name.length > NAME_SHOWN ? name.slice(0, NAME_SHOWN - 1) + "…" : name;
}

export function currentSession() {
  return state.sessions.find((s) => s.id === state.sessionId);
}

export async function loadSessions() {
  state.sessions = await api("/api/sessions");
  renderSessions();
  return state.sessions;
}

export const refreshSessions = throttle(() => loadSessions().catch(() => {}), 1000);

/** The entry count shown for a session: for the one on screen, unfiltered, the list's own count. */
function countOf(s) {
  if (s.id === state.sessionId && !state.fresh && state.mode === "server" && !filtersActive()) return state.count;
  return s.trafficCount;
}

function optionText(s) {
  return `${s.isActive ? "● " : ""}${shortName(s.name)} (${countOf(s)})`;
}

export function renderSessions() {
  const sel = $("session-select");
  const want = state.sessions.map((s) => s.id).join(",");
  if (sel.dataset.ids !== want) {
    sel.replaceChildren(...state.sessions.map((s) => h("option", { value: s.id, title: s.name })));
    sel.dataset.ids = want;
  }
  state.sessions.forEach((s, i) => {
    const text = optionText(s);
    if (sel.options[i].textContent !== text) sel.options[i].textContent = text;
    if (sel.options[i].title !== s.name) sel.options[i].title = s.name;
  });
  sel.value = state.sessionId || "";
  const s = currentSession();
  sel.title = s ? s.name : "";
  const pill = $("session-state");
  if (!s) return;
  const recording = s.isActive && s.isRecording;
  pill.textContent = recording ? "recording" : s.isActive ? "paused" : "not recording";
  pill.className = "pill" + (recording ? " rec" : s.isActive ? " paused" : "");
  pill.title = s.isActive
    ? recording
      ? "New traffic is recorded into this session"
      : "This is the active session, but recording is paused"
    : "Only the active session records. “Record here” makes this one active.";
  const pause = $("btn-pause-session");
  pause.hidden = !s.isActive;
  pause.textContent = s.isRecording ? "Pause" : "Resume";
  $("btn-activate-session").hidden = s.isActive;
}

/** Live entries of other sessions (or of this one, filtered) still count in the drop-down. */
export function countLive(entries) {
  let touched = false;
  for (const e of entries) {
    const s = state.sessions.find((x) => x.id === e.sessionId);
    if (s) {
      s.trafficCount++;
      touched = true;
    }
  }
  if (touched) renderSessions();
}

export async function sessionAction(kind) {
  const s = currentSession();
  try {
    if (kind === "new") {
      const name = prompt("Name of the new session:", "Session " + new Date().toLocaleString());
      if (!name) return;
      const created = await api("/api/sessions", { method: "POST", json: { name, activate: true } });
      await loadSessions();
      emit("switch-session", created.id);
      return;
    }
    if (!s) return;
    if (kind === "rename") {
      const name = prompt("New name:", s.name);
      if (!name) return;
      await api(`/api/sessions/${s.id}`, { method: "PATCH", json: { name } });
    } else if (kind === "activate") {
      await api(`/api/sessions/${s.id}/activate`, { method: "POST" });
    } else if (kind === "pause") {
      await api(`/api/sessions/${s.id}`, { method: "PATCH", json: { isRecording: !s.isRecording } });
    } else if (kind === "delete") {
      if (!confirm(`Delete session "${s.name}" and its ${s.trafficCount} entries?`)) return;
      await api(`/api/sessions/${s.id}`, { method: "DELETE" });
      await loadSessions();
      const next = state.sessions.find((x) => x.isActive) || state.sessions[0];
      emit("switch-session", next ? next.id : null);
      return;
    }
    await loadSessions();
  } catch (e) {
    toast(e.message);
  }
}
