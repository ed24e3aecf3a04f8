"""The edge's one SQLite database: schema and its migrations, connection, transactions, SQL.

Everything durable on the edge lives here (WAL mode, ``synchronous=FULL``): the outbox,
per-study state (pseudonymous dose and usage facts only), the quarantine index, the consent
opt-out list and the counters ``medcoop edge status`` shows. One connection is shared by
all threads behind a lock: SQLite serialises writers anyway, and one connection keeps
commits ordered and cheap. The pipeline's queries on study state live here too
(:meth:`EdgeStore.load_study` and friends), so the pipeline holds no SQL.

The schema is versioned (``PRAGMA user_version``) and upgraded in place by
:data:`MIGRATIONS` when a newer release opens an older database; a copy of the database is
taken first (``edge.sqlite3.bak-v<N>``, mode 0600). A database written by a newer release
is refused rather than misread. Edges from before versioning (``user_version`` 0) hold
schema 1 exactly.

Receivers write through :meth:`EdgeStore.commit_grouped` (group commit): work submitted
by concurrent associations while a commit is in progress runs in the next transaction,
each piece in its own savepoint, and one ``COMMIT`` (one fsync) makes it all durable
before any of its callers returns.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from medcoop.edge.errors import EdgeError

__all__ = [
    "COUNTERS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EdgeStore",
    "Migration",
    "OpenStudy",
    "SchemaTooNewError",
]

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

#: Schema 1: the database as every edge released before versioning created it.
_SCHEMA_1 = """
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

#: Schema 2: actionable quarantine entries (reason code, findings as (field, kind) pairs,
#: the sending AE, one entry per object however often it is re-sent).
_SCHEMA_2 = """
ALTER TABLE quarantine ADD COLUMN reason_code TEXT NOT NULL DEFAULT 'other';
ALTER TABLE quarantine ADD COLUMN findings TEXT NOT NULL DEFAULT '[]';
ALTER TABLE quarantine ADD COLUMN sender TEXT;
ALTER TABLE quarantine ADD COLUMN object_key TEXT;
ALTER TABLE quarantine ADD COLUMN seen_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE quarantine ADD COLUMN last_seen_at REAL;
UPDATE quarantine SET last_seen_at = created_at;
UPDATE quarantine SET reason_code = CASE
    WHEN reason LIKE 'residual identifiers%' THEN 'residual_identifier'
    WHEN reason LIKE 'malformed%' THEN 'malformed'
    WHEN reason LIKE 'unreadable%' THEN 'unreadable'
    WHEN reason LIKE 'dose report without usable content%' THEN 'unusable_dose_report'
    WHEN reason LIKE 'burned-in%' THEN 'burned_in_annotation'
    WHEN reason LIKE 'mpps extraction failed%' THEN 'unreadable'
    ELSE 'other' END;
CREATE UNIQUE INDEX quarantine_object ON quarantine (object_key) WHERE object_key IS NOT NULL;
CREATE INDEX quarantine_reason ON quarantine (reason_code);
"""


#: Schema 3: on-premise app runs (medcoop.apps.edge): a run per (study, app version),
#: collecting objects until the study is complete, then queued, run and its results
#: exported per destination. Keys are the edge's pseudonymous UIDs; the objects a run
#: needs are files under ``app-runs/inbox`` (identified, on premise, deleted after the run).
_SCHEMA_3 = """
CREATE TABLE app_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_key TEXT NOT NULL,
    app_key TEXT NOT NULL,
    state TEXT NOT NULL,
    destinations TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    last_object_at REAL NOT NULL,
    due_at REAL NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    detail TEXT,
    sandbox TEXT,
    duration_s REAL
);
CREATE UNIQUE INDEX app_runs_collecting ON app_runs (study_key, app_key)
    WHERE state = 'collecting';
CREATE INDEX app_runs_state ON app_runs (state, due_at);
CREATE TABLE app_objects (
    run_id INTEGER NOT NULL REFERENCES app_runs (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (run_id, object_key)
);
CREATE INDEX app_objects_path ON app_objects (path);
CREATE TABLE app_exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES app_runs (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX app_exports_due ON app_exports (destination, next_at) WHERE sent_at IS NULL;
"""


#: Schema 4: the objects app runs produced (pseudonymous SOP Instance UIDs), so that a
#: result a PACS forwards back to the edge is never fed to an app again (no loop).
_SCHEMA_4 = """
CREATE TABLE app_outputs (
    object_key TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""


#: Schema 5: succeeded runs of store apps waiting to be metered at the hub.
_SCHEMA_5 = """
CREATE TABLE app_usage (
    run_id INTEGER PRIMARY KEY REFERENCES app_runs (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    run_key TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reported_at REAL,
    refused TEXT,
    last_error TEXT
);
CREATE INDEX app_usage_due ON app_usage (next_at) WHERE reported_at IS NULL AND refused IS NULL;
"""


#: Schema 6: finished app runs waiting to be reported to the hub's monitoring
#: (medcoop.apps.monitor_report): de-identified RunReport JSON, sent in batches.
_SCHEMA_6 = """
CREATE TABLE app_monitor (
    run_id INTEGER PRIMARY KEY REFERENCES app_runs (id) ON DELETE CASCADE,
    report TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reported_at REAL,
    refused TEXT,
    last_error TEXT
);
CREATE INDEX app_monitor_due ON app_monitor (next_at)
    WHERE reported_at IS NULL AND refused IS NULL;
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the edge's schema: ``version`` is the schema it produces."""

    version: int
    what: str
    sql: str


#: Every schema step, in order; a release that changes the schema appends one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "outbox, studies, MPPS, quarantine, consent, counters", _SCHEMA_1),
    Migration(2, "actionable quarantine (reason code, findings, sender, one entry per object)",
              _SCHEMA_2),
    Migration(3, "on-premise app runs, the objects they wait for, result exports", _SCHEMA_3),
    Migration(4, "the objects app runs produced (never fed back to an app)", _SCHEMA_4),
    Migration(5, "store apps' runs waiting to be metered at the hub", _SCHEMA_5),
    Migration(6, "app runs waiting to be reported to the hub's monitoring", _SCHEMA_6),
)
#: The schema this release reads and writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


class SchemaTooNewError(EdgeError):
    """The database was written by a newer release of the edge (downgrades are not supported)."""

    def __init__(self, path: Path, found: int) -> None:
        super().__init__(
            f"{path}: schema version {found} is newer than this release's {SCHEMA_VERSION}; "
            "upgrade medcoop (the database is left untouched)"
        )
        self.found = found


@dataclass(frozen=True, slots=True)
class OpenStudy:
    """A study whose record is not yet (re)sent: what ``edge status`` shows per study."""

    study_uid: str
    last_update_at: float
    has_rdsr: bool
    mpps_completed: bool
    sent_before: bool


class EdgeStore:
    """The edge's SQLite database, shared by the receivers, pipeline and uploader.

    Parameters
    ----------
    path : Path
        The database file (created with its folder when absent).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        _create_private(path)  # SQLite gives its -wal and -shm files the database's mode
        self._lock = threading.RLock()
        self._owner: int | None = None  # the thread inside a write transaction, if any
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we answer a C-STORE with success.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        #: The schema version found on opening (before any migration).
        self.opened_version = self._migrate()
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

    def _migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; return the version found."""
        conn = self._conn
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            conn.close()
            raise SchemaTooNewError(self.path, found)
        if found == 0 and _has_table(conn, "outbox"):
            found = 1  # an edge from before versioning: schema 1 exactly
            conn.execute("PRAGMA user_version = 1")
        if found == SCHEMA_VERSION:
            return found
        if found > 0:
            self._backup(found)
        for step in MIGRATIONS:
            if step.version <= found:
                continue
            # DDL and the version bump in one transaction: a crash leaves the old schema
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(step.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step.version}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return found

    def _backup(self, version: int) -> None:
        target = self.path.with_name(f"{self.path.name}.bak-v{version}")
        if target.exists():
            return  # the first copy of this version is the one worth keeping
        _create_private(target)
        target.unlink()  # VACUUM INTO wants a new file; the umask-free mode is set below
        self._conn.execute("VACUUM INTO ?", (str(target),))
        os.chmod(target, 0o600)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self.reading() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

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


    # --- study state (the pipeline's queries) -------------------------------------------
    def load_study(self, conn: sqlite3.Connection, study_uid: str) -> tuple[str | None, bool]:
        """Return a study's stored state (JSON, or None) and whether a record was queued."""
        row = conn.execute(
            "SELECT state, last_record_key FROM studies WHERE study_uid = ?", (study_uid,)
        ).fetchone()
        return (None, False) if row is None else (row[0], row[1] is not None)

    def save_study(
        self,
        conn: sqlite3.Connection,
        study_uid: str,
        state_json: str,
        *,
        has_rdsr: bool,
        mpps_completed: bool,
    ) -> None:
        """Store a study's state and mark it as waiting to be (re)sent."""
        conn.execute(
            "INSERT INTO studies (study_uid, state, has_rdsr, mpps_completed, dirty, "
            "last_update_at) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(study_uid) DO UPDATE SET "
            "state = excluded.state, has_rdsr = excluded.has_rdsr, "
            "mpps_completed = excluded.mpps_completed, dirty = 1, "
            "last_update_at = excluded.last_update_at",
            (study_uid, state_json, has_rdsr, mpps_completed, now_s()),
        )

    def mark_emitted(self, conn: sqlite3.Connection, study_uid: str, record_key: str) -> None:
        """Note that ``record_key`` was queued for the study (it is clean until it changes)."""
        conn.execute(
            "UPDATE studies SET dirty = 0, last_record_key = ? WHERE study_uid = ?",
            (record_key, study_uid),
        )

    def forget_study(self, conn: sqlite3.Connection, study_uid: str) -> None:
        """Delete a study's state (its patient opted out)."""
        conn.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))

    def due_studies(
        self, *, idle_before: float, complete_before: float, mpps_before: float
    ) -> list[str]:
        """Studies to send: idle since ``idle_before``; with MPPS completed and a dose
        report, untouched since ``complete_before``; with MPPS completed, since
        ``mpps_before``."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT study_uid FROM studies WHERE dirty = 1 AND (last_update_at <= ? OR "
                "(mpps_completed = 1 AND (last_update_at <= ? OR "
                "(has_rdsr = 1 AND last_update_at <= ?))))",
                (idle_before, mpps_before, complete_before),
            ).fetchall()
        return [row[0] for row in rows]

    def open_studies(self, limit: int = 1000) -> list[OpenStudy]:
        """Studies waiting to be (re)sent, oldest update first."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT study_uid, last_update_at, has_rdsr, mpps_completed, "
                "last_record_key IS NOT NULL FROM studies WHERE dirty = 1 "
                "ORDER BY last_update_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [OpenStudy(r[0], r[1], bool(r[2]), bool(r[3]), bool(r[4])) for r in rows]

    def count_open_studies(self) -> int:
        """How many studies wait to be (re)sent."""
        with self.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM studies WHERE dirty = 1").fetchone()[0])

    def prune_studies(self, cutoff: float) -> int:
        """Forget sent studies untouched since ``cutoff``; return how many."""
        with self.transaction() as conn:
            return conn.execute(
                "DELETE FROM studies WHERE dirty = 0 AND last_update_at < ?", (cutoff,)
            ).rowcount

    def mpps_studies(self, conn: sqlite3.Connection, mpps_uid: str) -> list[str]:
        """The (remapped) study UIDs an MPPS instance was seen with."""
        row = conn.execute(
            "SELECT study_uids FROM mpps WHERE mpps_uid = ?", (mpps_uid,)
        ).fetchone()
        return [] if row is None or not row[0] else row[0].split(",")

    def set_mpps_studies(
        self, conn: sqlite3.Connection, mpps_uid: str, study_uids: list[str]
    ) -> None:
        """Remember which studies an MPPS instance belongs to (an N-SET carries none)."""
        conn.execute(
            "INSERT INTO mpps (mpps_uid, study_uids) VALUES (?, ?) "
            "ON CONFLICT(mpps_uid) DO UPDATE SET study_uids = excluded.study_uids",
            (mpps_uid, ",".join(study_uids)),
        )


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


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; make an existing one 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def _statements(script: str) -> list[str]:
    # The migration scripts hold no semicolons inside statements.
    return [part.strip() for part in script.split(";") if part.strip()]
