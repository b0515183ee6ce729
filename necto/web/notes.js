// Annotations (NectoProxy's notes, tags and colour highlights) in the entry detail: list, add,
// edit, delete. The list shows them as a colour stripe and a ✎ marker (columns.js).

import { api, q } from "./api.js";
import { h, toast } from "./dom.js";

export const COLORS = ["gray", "red", "orange", "yellow", "green", "blue", "purple"];

function colorPicker(value) {
  const sel = h("select", { class: "note-color", "aria-label": "Colour" });
  for (const c of COLORS) sel.append(h("option", { value: c, text: c, selected: c === value }));
  return sel;
}

function tagsOf(text) {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** An editor for a new note (`note` null) or an existing one; `done()` after saving. */
function editor(entryId, note, done, cancel) {
  const content = h("textarea", { class: "note-content", rows: 3, placeholder: "Note (e.g. flaky: answered 500 once)", "aria-label": "Note" });
  content.value = note ? note.content : "";
  const color = colorPicker(note ? note.color : "yellow");
  const tags = h("input", { class: "note-tags", placeholder: "tags, comma-separated", "aria-label": "Tags" });
  tags.value = note ? note.tags.join(", ") : "";
  const error = h("span", { class: "error-text note-error" });
  const save = async () => {
    const body = { content: content.value.trim(), color: color.value, tags: tagsOf(tags.value) };
    try {
      if (note) await api("/api/annotations/" + q(note.id), { method: "PUT", json: body });
      else await api("/api/annotations", { method: "POST", json: { trafficId: entryId, ...body } });
      done();
    } catch (e) {
      error.textContent = e.message;
    }
  };
  return h(
    "div",
    { class: "note-editor" },
    content,
    h("div", { class: "note-row" }, color, tags),
    h("div", { class: "actions" },
      h("button", { class: "primary note-save", text: note ? "Save" : "Add note", onclick: save }),
      cancel ? h("button", { text: "Cancel", onclick: cancel }) : null,
      error)
  );
}

/** The "Notes" tab: the entry's annotations and a form to add one. `changed()` after any edit. */
export function notesTab(e, changed) {
  const box = h("div", { class: "notes", id: "notes" });
  const render = (notes) => {
    const items = notes.map((n) => {
      const item = h("div", { class: "note ann-" + n.color, dataset: { id: n.id } });
      const view = () =>
        item.replaceChildren(
          h("div", { class: "note-text", text: n.content }),
          h("div", { class: "note-meta" },
            h("span", { class: "note-swatch", title: n.color, text: n.color }),
            n.tags.map((t) => h("span", { class: "chip note-tag", text: t })),
            h("span", { class: "muted", text: new Date(n.updatedAt).toLocaleString() }),
            h("button", { class: "small note-edit", text: "Edit", onclick: () => item.replaceChildren(editor(e.id, n, changed, view)) }),
            h("button", { class: "small danger note-delete", text: "Delete", onclick: async () => {
              try {
                await api("/api/annotations/" + q(n.id), { method: "DELETE" });
                changed();
              } catch (err) {
                toast(err.message);
              }
            } }))
        );
      view();
      return item;
    });
    box.replaceChildren(
      items.length ? h("div", { class: "note-list" }, items) : h("p", { class: "muted", text: "No notes yet." }),
      h("h4", { text: "Add a note" }),
      editor(e.id, null, changed)
    );
  };
  render(e.annotations || []);
  return box;
}
