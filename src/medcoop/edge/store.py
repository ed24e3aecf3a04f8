"""The edge's one SQLite database: schema, connection, transactions and counters.

Everything durable on the edge lives here (WAL mode, ``synchronous=FULL``): the outbox,
per-study state (pseudonymous dose and usage facts only), the quarantine index, the consent
opt-out list and the counters ``medcoop edge status`` shows. One connection is shared by
all threads behind a lock: SQLite serialises writers anyway, and one connection keeps
commits ordered and cheap.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["COUNTERS", "EdgeStore"]

#: The counters kept (shown by ``medcoop edge status``).
COUNTERS = (
    "received",
    "processed",
    "skipped",
    "consent_withheld",
    "quarantined",
    "records_queued",
    "records_sent",
    "records_rejected",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_key TEXT NOT NULL UNIQUE,
    study_uid TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    rejected TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL AND rejected IS NULL;
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    has_rdsr INTEGER NOT NULL DEFAULT 0,
    mpps_completed INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 1,
    last_update_at REAL NOT NULL,
    last_record_key TEXT
);
CREATE INDEX IF NOT EXISTS studies_dirty ON studies (last_update_at) WHERE dirty = 1;
CREATE TABLE IF NOT EXISTS mpps (mpps_uid TEXT PRIMARY KEY, study_uids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    reason TEXT NOT NULL,
    origin TEXT NOT NULL,
    file_path TEXT,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    retried_at REAL
);
CREATE TABLE IF NOT EXISTS consent (pseudonym TEXT PRIMARY KEY, opted_out_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class EdgeStore:
    """The edge's SQLite database, shared by the receivers, pipeline and uploader.

    Parameters
    ----------
    path : Path
        The database file (created with its folder when absent).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer a C-STORE with success.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)",
                [(name,) for name in COUNTERS],
            )

    def close(self) -> None:
        """Checkpoint and close the database."""
        with self._lock:
            # closing must not fail because the disk is full
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), rolled back on error."""
        with self._lock:
            conn = self._conn
            if conn.in_transaction:  # nested use joins the outer transaction
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the connection for reads."""
        with self._lock:
            yield self._conn

    def bump(self, conn: sqlite3.Connection, name: str, by: int = 1) -> None:
        """Add ``by`` to a counter inside the caller's transaction."""
        conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    def counters(self) -> dict[str, int]:
        """Return every counter's value."""
        with self.reading() as conn:
            return dict(conn.execute("SELECT name, value FROM counters").fetchall())

    def set_meta(self, key: str, value: str | None) -> None:
        """Store a small status value (e.g. the uploader's last error)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def get_meta(self, key: str) -> str | None:
        """Return a status value stored with :meth:`set_meta`."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


def now_s() -> float:
    """Seconds since the epoch (UTC), as stored in the database."""
    return time.time()
