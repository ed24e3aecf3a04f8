"""The edge's one SQLite database: schema, connection, transactions and counters.

Everything durable on the edge lives here (WAL mode, ``synchronous=FULL``): the outbox,
per-study state (pseudonymous dose and usage facts only), the quarantine index, the consent
opt-out list and the counters ``medcoop edge status`` shows. One connection is shared by
all threads behind a lock: SQLite serialises writers anyway, and one connection keeps
commits ordered and cheap.

Receivers write through :meth:`EdgeStore.commit_grouped` (group commit): work submitted
by concurrent associations while a commit is in progress runs in the next transaction,
each piece in its own savepoint, and one ``COMMIT`` (one fsync) makes it all durable
before any of its callers returns.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["COUNTERS", "EdgeStore"]

T = TypeVar("T")

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
        self._owner: int | None = None  # the thread inside a write transaction, if any
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer a C-STORE with success.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        # Group commit: callers queue work; whoever finds no commit in progress leads the
        # next one (no extra thread, so a lone caller pays no hand-off).
        self._group = threading.Condition(threading.Lock())
        self._queue: list[_Work[object]] = []
        self._leading = False
        #: Commits made by :meth:`commit_grouped` and the work they carried (tests read them).
        self.group_commits = 0
        self.grouped_works = 0
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
            self._owner = threading.get_ident()
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._owner = None
            conn.execute("COMMIT")

    def commit_grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction; return its result once committed.

        Work from concurrent callers shares one transaction and one fsync. Each runs in its
        own savepoint: an exception rolls back that work only, and is raised to its caller
        once the others are committed. When the transaction as a whole fails (disk full
        at ``COMMIT``) every caller in it gets the error and nothing of it is kept.
        """
        if self._owner == threading.get_ident():  # inside this thread's transaction: join it
            return work(self._conn)
        item: _Work[T] = _Work(work)
        with self._group:
            self._queue.append(item)  # type: ignore[arg-type]
            while self._leading and not item.done:
                self._group.wait()
            if not item.done:
                self._leading = True
                batch, self._queue = self._queue, []
        if not item.done:
            try:
                self._commit_batch(batch)
            finally:
                with self._group:
                    self._leading = False
                    self._group.notify_all()
        return item.result()

    def _commit_batch(self, batch: list[_Work[object]]) -> None:
        with self._lock:
            conn = self._conn
            self._owner = threading.get_ident()
            # Alone in its transaction, work needs no savepoint: rolling back is enough.
            savepoints = len(batch) > 1
            try:
                conn.execute("BEGIN IMMEDIATE")
                for item in batch:
                    if savepoints:
                        conn.execute("SAVEPOINT work")
                    try:
                        item.value = item.work(conn)
                    except Exception as exc:
                        item.error = exc
                        if not conn.in_transaction:  # SQLite gave the whole transaction up
                            raise
                        conn.execute("ROLLBACK TO work" if savepoints else "ROLLBACK")
                    if savepoints:
                        conn.execute("RELEASE work")
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                for item in batch:
                    item.value, item.error = None, item.error or exc
                if not isinstance(exc, Exception):
                    raise
            finally:
                self._owner = None
                self.group_commits += 1
                self.grouped_works += len(batch)
                for item in batch:
                    item.done = True

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the connection for reads."""
        with self._lock:
            yield self._conn

    def bump(self, conn: sqlite3.Connection, name: str, by: int = 1) -> None:
        """Add ``by`` to a counter inside the caller's transaction."""
        conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    def bump_many(self, conn: sqlite3.Connection, names: tuple[str, ...]) -> None:
        """Add 1 to each of several (distinct) counters in one statement."""
        marks = ",".join("?" * len(names))
        conn.execute(f"UPDATE counters SET value = value + 1 WHERE name IN ({marks})", names)

    def counters(self) -> dict[str, int]:
        """Return every counter's value."""
        with self.reading() as conn:
            return dict(conn.execute("SELECT name, value FROM counters").fetchall())

    def set_meta(self, key: str, value: str | None) -> None:
        """Store a small status value (e.g. the uploader's last error)."""
        self.set_metas({key: value})

    def set_metas(
        self, values: dict[str, str | None], conn: sqlite3.Connection | None = None
    ) -> None:
        """Store several status values in one commit (or in the caller's transaction)."""
        if conn is None:
            with self.transaction() as own:
                self.set_metas(values, own)
            return
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def get_meta(self, key: str) -> str | None:
        """Return a status value stored with :meth:`set_meta`."""
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


class _Work(Generic[T]):
    """One caller's piece of a group commit."""

    __slots__ = ("done", "error", "value", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T]) -> None:
        self.work = work
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = False

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def now_s() -> float:
    """Seconds since the epoch (UTC), as stored in the database."""
    return time.time()
