"""Compare two entries, or two whole sessions / HAR files, for regressions and timing.

Pure functions over `Entry` (no store, no HTTP), so the API, `necto diff` and replay all give
the same answer. Volatile headers (Date, request ids, ...) and headers that only restate the
body (Content-Length) are ignored by default; JSON bodies are diffed structurally and every
change is named by its JSON path (`$.items[1].price`), which callers can also ignore.
"""

from necto.compare.entries import compare_entries, diff_body, diff_headers, json_changes, replay_comparison
from necto.compare.options import DERIVED_HEADERS, VOLATILE_HEADERS, CompareOptions
from necto.compare.sessions import Fetch, compare_sources, diff_sessions, iterate, list_fetcher, pairing_key
from necto.jsonpath import format_path, parse_json_path
from necto.rewrite import HostRewrite, parse_rewrites, rewrite_url

__all__ = [
    "DERIVED_HEADERS",
    "VOLATILE_HEADERS",
    "CompareOptions",
    "Fetch",
    "HostRewrite",
    "compare_entries",
    "compare_sources",
    "diff_body",
    "diff_headers",
    "diff_sessions",
    "format_path",
    "iterate",
    "json_changes",
    "list_fetcher",
    "pairing_key",
    "parse_json_path",
    "parse_rewrites",
    "replay_comparison",
    "rewrite_url",
]
