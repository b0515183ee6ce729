"""SQLite storage for sessions and entries: one writer, batched; readers separate.

The public face is `Store` (assembled in core.py from one module per concern), `TrafficQuery`
and `Pending`; schema, row mapping and query building live in their own modules.
"""

from necto.store.core import Store
from necto.store.har_imports import SessionHar, WarningRow
from necto.store.integrity import DatabaseProblem
from necto.store.query import SORT_COLUMNS, TrafficQuery
from necto.store.rows import COLUMNS, ENTRY_COLUMNS, INSERT_ENTRY, entry_to_row, row_to_entry
from necto.store.schema import MIGRATIONS, SCHEMA_V1, SchemaTooNew
from necto.store.sessions import DEFAULT_SESSION_NAME
from necto.store.writer import BATCH_MAX, Drops, Finish, Frames, Pending

__all__ = [
    "BATCH_MAX",
    "COLUMNS",
    "DatabaseProblem",
    "Drops",
    "Finish",
    "Frames",
    "DEFAULT_SESSION_NAME",
    "ENTRY_COLUMNS",
    "INSERT_ENTRY",
    "MIGRATIONS",
    "SCHEMA_V1",
    "SORT_COLUMNS",
    "Pending",
    "SchemaTooNew",
    "SessionHar",
    "Store",
    "TrafficQuery",
    "WarningRow",
    "entry_to_row",
    "row_to_entry",
]
