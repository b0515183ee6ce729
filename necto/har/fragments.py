"""An entry's HAR, serialised once: what a plain export writes for it, less its response body
text and its `pageref`, which are spliced in at export time.

Converting an Entry to HAR in Python costs about 100 µs; reading a stored fragment and splicing
the body in costs a few. Fragments are built after capture, by the same lazy pass that indexes
entries for search (necto/store/search.py), and stored in `har_fragments` with the `FORMAT` of
the code that built them: any change to that code (or to Necto's version) makes every stored
fragment stale, and a stale or missing fragment just means the export converts that entry
itself. A fragment is exactly what `entry_to_har` would write: tests/test_har_fragments.py
renders every fixture both ways and compares the bytes.

Entries that are not plain enough to splice get no fragment (`build` returns None): an
imported entry whose file put its own `text`, `encoding` or `comment` in `content` or its own
`pageref` beside the entry, and a response whose body size is unknown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from necto import __version__
from necto.har.derive import derive_mime
from necto.har.export import entry_to_har, marked_body
from necto.har.pages import ExportPlan, page_key
from necto.model import Entry, HarFragment


def _format() -> str:
    """A digest of the code that shapes an exported entry, and of Necto's version."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in (
        here / "fragments.py",
        here / "export.py",
        here / "derive.py",
        here / "pages.py",
        here.parent / "vocab.py",
        here.parent / "model.py",
        here.parent / "store" / "rows.py",
    ):
        try:
            digest.update(path.read_bytes())
        except OSError:  # no sources (a frozen build): the version alone names the format
            digest.update(path.name.encode())
    return digest.hexdigest()[:16]


FORMAT = _format()
# Where the body goes, as `entry_to_har(..., body_mark=MARK)` writes it.
MARK = "necto-fragment-body-5b1f0c9e"
_MARKED = marked_body(MARK)
_CONTENT_OWN = ("text", "encoding", "comment")
_ENTRY_OWN = ("pageref", "_pageref", "comment")


class _NoPage(ExportPlan):
    def pageref(self, e: Entry) -> tuple[str | None, str | None]:
        return None, None


_NO_PAGE = _NoPage()


def build(e: Entry) -> HarFragment | None:
    """The fragment of an entry as the store reads it (bodies in, up to some limit); None when
    it cannot have one: WebSockets (their frames change after the row is written), request
    bodies in the body store (the fragment would hold them), and the cases above."""
    if e.websocket is not None or e.request_body_file is not None or e.extra.get("annotations"):
        return None
    h: dict[str, Any] = e.extra.get("har") or {}
    content = h.get("content") or {}
    if any(k in content for k in _CONTENT_OWN) or any(k in (h.get("entry") or {}) for k in _ENTRY_OWN):
        return None
    body = e.response_body
    marked = e.status is not None and (body is not None or e.response_body_file is not None)
    if marked and e.response_body_size < 0:
        return None
    e.response_body = None  # entry_to_har writes the mark in its place
    try:
        data = orjson.dumps(entry_to_har(e, plan=_NO_PAGE, body_mark=MARK if marked else None))
    finally:
        e.response_body = body
    cut = -1
    if marked:
        cut = data.find(_MARKED)
        if cut < 0 or data.find(_MARKED, cut + 1) >= 0:
            return None
        data = data[:cut] + data[cut + len(_MARKED) :]
    mime = str(content.get("mimeType", derive_mime(e)))
    return HarFragment(FORMAT, data, cut, (h.get("encoding") or {}).get("content"), mime, page_key(e))
