"""The SQLite schema and its versioned migrations (`PRAGMA user_version`)."""

from __future__ import annotations

import sqlite3

import aiosqlite

# Bodies are large: 32 KiB pages halve SQLite's CPU per stored megabyte compared with 4 KiB
# (measured). Takes effect only when the file is created.
PAGE_SIZE = 32768

SCHEMA_V1 = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 0,
    is_recording INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready'
);
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    started REAL NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    http_version TEXT NOT NULL,
    request_headers BLOB NOT NULL,
    request_body_size INTEGER NOT NULL,
    request_truncated INTEGER NOT NULL,
    status INTEGER,
    status_text TEXT NOT NULL,
    response_http_version TEXT NOT NULL,
    response_headers BLOB NOT NULL,
    response_body_size INTEGER NOT NULL,
    response_wire_size INTEGER NOT NULL,
    response_truncated INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    blocked REAL NOT NULL, dns REAL NOT NULL, connect REAL NOT NULL, ssl REAL NOT NULL,
    send REAL NOT NULL, wait REAL NOT NULL, receive REAL NOT NULL,
    duration REAL NOT NULL,
    server_ip TEXT, server_port INTEGER, client_ip TEXT, client_port INTEGER,
    connection_id TEXT,
    tls BLOB,
    error TEXT,
    extra BLOB,
    source TEXT NOT NULL,
    -- Large values last: SQLite reads a row's columns in order, so anything after a large
    -- body would cost a walk through the body's overflow pages.
    websocket BLOB,
    request_body BLOB,
    response_body BLOB
);
CREATE INDEX entries_by_session ON entries(session_id, started, seq);
-- Covers session totals (count and bytes), which the sessions list shows all the time.
CREATE INDEX entries_sizes ON entries(session_id, response_body_size, request_body_size);
"""

# Connectivity settings (DNS mappings, SSL passthrough, the upstream proxy): small tables the
# running proxy reads whole and applies at once when they change.
CONNECTIVITY_V2 = """
CREATE TABLE dns_mappings (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    target_ip TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    description TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE ssl_passthrough (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    reason TEXT,
    created_at INTEGER NOT NULL
);
-- One row at most: the upstream proxy configuration as JSON (with its password: the database
-- file is private to its owner).
CREATE TABLE upstream_proxy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    config BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
"""

# Rules, custom network profiles and the small state beside them (issue 13). `rule_state` holds
# `version` (bumped by every change to rules, profiles or the active profile, so a running Necto
# notices another process's change) and `network.active` (the active profile's id).
RULES_V3 = """
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    priority REAL NOT NULL,
    match BLOB NOT NULL,
    action TEXT NOT NULL,
    config BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE network_profiles (
    id TEXT PRIMARY KEY,
    fields BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE rule_state (
    key TEXT PRIMARY KEY,
    value BLOB
);
"""


# HAR fidelity (issue 12): imported pages, log fields and every warning are kept per import;
# `entries.ord` keeps an imported file's order. ALTER TABLE puts `ord` after the bodies, so
# only queries that read the bodies anyway select it; the expression index orders a session
# without reading it (captured rows leave it NULL and sort by `started`).
HAR_IMPORTS_V4 = """
ALTER TABLE entries ADD COLUMN ord REAL;
CREATE INDEX entries_by_order ON entries(session_id, COALESCE(ord, started), seq);
CREATE TABLE har_imports (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    imported INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    warning_count INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    log BLOB
);
CREATE INDEX har_imports_by_session ON har_imports(session_id, created_at);
CREATE TABLE har_pages (
    import_id TEXT NOT NULL REFERENCES har_imports(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    page BLOB NOT NULL,
    PRIMARY KEY (import_id, position)
);
CREATE TABLE har_import_warnings (
    import_id TEXT NOT NULL REFERENCES har_imports(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    skipped INTEGER NOT NULL DEFAULT 0,
    entry_index INTEGER,
    path TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (import_id, n)
);
"""

# Breakpoints (issue 14): NectoProxy's fields as columns, the rest (match, conditions, timeouts)
# as JSON. A change bumps `rule_state` key `breakpoints.version`, so a running Necto notices
# another process's change (the CLI) on its next request.
BREAKPOINTS_V5 = """
CREATE TABLE breakpoints (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    type TEXT NOT NULL,
    fields BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
"""

# Frames of WebSocket sockets still open (folded into entries.websocket when they close).
WEBSOCKET_FRAMES_V6 = """
CREATE TABLE websocket_frames (
    entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (entry_id, n)
) WITHOUT ROWID;
"""

# Search and annotations (issue 15). Annotations belong to an entry and go with it. The search
# index itself (`entry_text`, FTS5 with the trigram tokenizer, or a plain table where SQLite lacks
# them) is created when the store opens (necto/store/search.py); here is what it hangs on:
# `search_state.upto` is the highest `seq` indexed (the indexer catches up from there), derived
# facts per entry (the GraphQL operation name), and `search_gone`, the seqs of deleted entries
# whose index rows are still to be removed (done lazily: deleting from FTS5 costs as much as
# indexing). The trigger keeps `upto` below any seq SQLite may hand out again (it reuses the
# highest ones after they are deleted).
SEARCH_V7 = """
CREATE TABLE annotations (
    id TEXT PRIMARY KEY,
    traffic_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    color TEXT NOT NULL,
    tags BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX annotations_by_entry ON annotations(traffic_id, created_at);
CREATE TABLE search_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL,
    mode TEXT NOT NULL
);
INSERT INTO search_state (id, upto, mode) VALUES (1, 0, '');
CREATE TABLE entry_facts (
    seq INTEGER PRIMARY KEY,
    graphql TEXT
);
CREATE TABLE search_gone (seq INTEGER PRIMARY KEY);
CREATE TRIGGER entries_search_gone AFTER DELETE ON entries BEGIN
    DELETE FROM entry_facts WHERE seq = old.seq;
    INSERT OR IGNORE INTO search_gone (seq) VALUES (old.seq);
    UPDATE search_state SET upto = (SELECT COALESCE(MAX(seq), 0) FROM entries)
        WHERE upto > (SELECT COALESCE(MAX(seq), 0) FROM entries);
END;
"""

# Large bodies as files in the body store (issue 19, necto/store/bodies.py): each column holds
# the SHA-256 of a file under bodies/ (NULL: the body, if any, is inline). `*_raw_file` is the
# body as it travelled, kept when decoding it was cut short. Deleting or changing a row notes
# the hashes it named in `body_candidates`; the store removes those files that no row names
# any more (BodyFiles.collect_bodies), and a sweep at start removes what a crash left.
BODY_FILES_V8 = """
ALTER TABLE entries ADD COLUMN request_body_file TEXT;
ALTER TABLE entries ADD COLUMN response_body_file TEXT;
ALTER TABLE entries ADD COLUMN request_raw_file TEXT;
ALTER TABLE entries ADD COLUMN response_raw_file TEXT;
CREATE INDEX entries_request_body_file ON entries(request_body_file) WHERE request_body_file IS NOT NULL;
CREATE INDEX entries_response_body_file ON entries(response_body_file) WHERE response_body_file IS NOT NULL;
CREATE INDEX entries_request_raw_file ON entries(request_raw_file) WHERE request_raw_file IS NOT NULL;
CREATE INDEX entries_response_raw_file ON entries(response_raw_file) WHERE response_raw_file IS NOT NULL;
CREATE TABLE body_candidates (sha256 TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER entries_body_files_deleted AFTER DELETE ON entries
WHEN old.request_body_file IS NOT NULL OR old.response_body_file IS NOT NULL
  OR old.request_raw_file IS NOT NULL OR old.response_raw_file IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO body_candidates (sha256)
  SELECT f FROM (SELECT old.request_body_file AS f UNION SELECT old.response_body_file
                 UNION SELECT old.request_raw_file UNION SELECT old.response_raw_file)
  WHERE f IS NOT NULL;
END;
CREATE TRIGGER entries_body_files_changed
AFTER UPDATE OF request_body_file, response_body_file, request_raw_file, response_raw_file ON entries
BEGIN
  INSERT OR IGNORE INTO body_candidates (sha256)
  SELECT f FROM (SELECT old.request_body_file AS f UNION SELECT old.response_body_file
                 UNION SELECT old.request_raw_file UNION SELECT old.response_raw_file)
  WHERE f IS NOT NULL AND f NOT IN (COALESCE(new.request_body_file, ''), COALESCE(new.response_body_file, ''),
                                    COALESCE(new.request_raw_file, ''), COALESCE(new.response_raw_file, ''));
END;
"""

# Each entry's HAR, serialised once (issue 19, necto/har/fragments.py): built after capture by
# the background pass that also indexes for search (up to `har_fragment_state.upto`, kept below
# any seq SQLite may hand out again, as search_state's), read by exports instead of converting
# the entry again. A fragment goes when its entry goes or changes (moving an import from staging
# to its session changes only session_id, which a fragment does not hold); `format` names the
# code that built it.
HAR_FRAGMENTS_V9 = """
CREATE TABLE har_fragments (
    seq INTEGER PRIMARY KEY,
    format TEXT NOT NULL,
    data BLOB NOT NULL,
    cut INTEGER NOT NULL,
    force TEXT,
    mime TEXT NOT NULL,
    page BLOB
);
CREATE TABLE har_fragment_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
INSERT INTO har_fragment_state (id, upto) VALUES (1, 0);
CREATE TRIGGER entries_fragment_deleted AFTER DELETE ON entries BEGIN
    DELETE FROM har_fragments WHERE seq = old.seq;
    UPDATE har_fragment_state SET upto = (SELECT COALESCE(MAX(seq), 0) FROM entries)
        WHERE upto > (SELECT COALESCE(MAX(seq), 0) FROM entries);
END;
CREATE TRIGGER entries_fragment_changed AFTER UPDATE OF
    id, started, method, url, host, http_version, request_headers, request_body_size,
    request_truncated, status, status_text, response_http_version, response_headers,
    response_body_size, response_wire_size, response_truncated, content_type, blocked, dns,
    connect, ssl, send, wait, receive, duration, server_ip, server_port, client_ip, client_port,
    connection_id, tls, error, extra, source, websocket, request_body, response_body, ord,
    request_body_file, response_body_file, request_raw_file, response_raw_file ON entries
BEGIN
    DELETE FROM har_fragments WHERE seq = old.seq;
END;
"""

MIGRATIONS: list[str] = [
    SCHEMA_V1,
    CONNECTIVITY_V2,
    RULES_V3,
    HAR_IMPORTS_V4,
    BREAKPOINTS_V5,
    WEBSOCKET_FRAMES_V6,
    SEARCH_V7,
    BODY_FILES_V8,
    HAR_FRAGMENTS_V9,
]


class SchemaTooNew(Exception):
    """The database was written by a newer Necto."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this Necto understands ({len(MIGRATIONS)}); upgrade Necto"
        )
        self.found = found


async def migrate(db: aiosqlite.Connection) -> None:
    """Bring the schema up to date, one transaction per version."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = row[0] if row else 0
    if version > len(MIGRATIONS):
        raise SchemaTooNew(version)
    for target in range(version + 1, len(MIGRATIONS) + 1):
        try:
            await db.executescript("BEGIN;\n" + MIGRATIONS[target - 1] + f"\nPRAGMA user_version = {target};\nCOMMIT;")
        except sqlite3.Error:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
