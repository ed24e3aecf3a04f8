"""The edge database's group commit: concurrent work shares one transaction and one fsync."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from medcoop.edge.store import EdgeStore


@pytest.fixture
def store(tmp_path: Path) -> EdgeStore:
    opened = EdgeStore(tmp_path / "edge.sqlite3")
    yield opened
    opened.close()


def insert(key: str, *, fail: bool = False) -> Callable[[sqlite3.Connection], str]:
    def work(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", (key,))
        if fail:
            raise ValueError(key)
        return key

    return work


def submit_together(
    store: EdgeStore, works: list[Callable[[sqlite3.Connection], str]]
) -> list[object]:
    """Submit ``works`` from one thread each while the database is held, then let go.

    The first caller leads a commit of its own work (it found no commit in progress) and
    blocks on the held database; the others queue behind it and share the next commit.
    """
    results: list[object] = [None] * len(works)

    def call(index: int) -> None:
        try:
            results[index] = store.commit_grouped(works[index])
        except Exception as exc:
            results[index] = exc

    with store.reading():
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(works))]
        threads[0].start()
        while not store._leading:
            time.sleep(0.001)
        for thread in threads[1:]:
            thread.start()
        while len(store._queue) < len(works) - 1:
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=30)
    return results


def keys(store: EdgeStore) -> set[str]:
    with store.reading() as conn:
        return {row[0] for row in conn.execute("SELECT key FROM meta")}


def test_concurrent_callers_share_commits(store: EdgeStore) -> None:
    before = store.group_commits
    results = submit_together(store, [insert(f"k{i}") for i in range(8)])
    assert results == [f"k{i}" for i in range(8)]
    assert store.group_commits - before == 2  # the leader's own, then the seven queued
    assert keys(store) == {f"k{i}" for i in range(8)}


def test_a_failing_work_rolls_back_only_itself(store: EdgeStore) -> None:
    results = submit_together(store, [insert("a"), insert("b"), insert("c", fail=True)])
    assert results[:2] == ["a", "b"]
    assert isinstance(results[2], ValueError)
    assert keys(store) == {"a", "b"}


def test_a_lost_transaction_fails_every_caller_in_it(store: EdgeStore) -> None:
    def give_up(conn: sqlite3.Connection) -> str:
        conn.execute("ROLLBACK")  # what SQLite does itself on some errors (disk full)
        raise sqlite3.OperationalError("database or disk is full")

    results = submit_together(store, [insert("first"), insert("a"), give_up, insert("c")])
    assert results[0] == "first"  # committed alone, before the others queued
    assert all(isinstance(r, sqlite3.OperationalError) for r in results[1:])
    assert keys(store) == {"first"}  # nothing of the failed transaction was kept
    assert store.commit_grouped(insert("after")) == "after"  # and the store still works


def test_work_inside_a_transaction_joins_it(store: EdgeStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        assert store.commit_grouped(insert("inner")) == "inner"
        raise RuntimeError("roll the outer transaction back")
    assert keys(store) == set()


#: The schema of every edge released before versioning (PRAGMA user_version 0), as they
#: created it: hospitals' edges hold this and must upgrade in place.
RELEASED_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, record_key TEXT NOT NULL UNIQUE,
    study_uid TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, sent_at REAL, rejected TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL AND rejected IS NULL;
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, state TEXT NOT NULL, has_rdsr INTEGER NOT NULL DEFAULT 0,
    mpps_completed INTEGER NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 1,
    last_update_at REAL NOT NULL, last_record_key TEXT);
CREATE INDEX IF NOT EXISTS studies_dirty ON studies (last_update_at) WHERE dirty = 1;
CREATE TABLE IF NOT EXISTS mpps (mpps_uid TEXT PRIMARY KEY, study_uids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, reason TEXT NOT NULL,
    origin TEXT NOT NULL, file_path TEXT, size_bytes INTEGER NOT NULL DEFAULT 0,
    retried_at REAL);
CREATE TABLE IF NOT EXISTS consent (pseudonym TEXT PRIMARY KEY, opted_out_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def test_a_released_edge_database_upgrades_in_place(tmp_path: Path) -> None:
    import stat

    from medcoop.edge.node import open_pipeline
    from medcoop.edge.store import SCHEMA_VERSION

    from .conftest import encode, fleet_studies, make_settings

    settings = make_settings(tmp_path)
    db = settings.db_path
    db.parent.mkdir(parents=True)
    (settings.quarantine_dir).mkdir()
    (settings.quarantine_dir / "old.dcm").write_bytes(b"junk from an old release")
    with sqlite3.connect(db) as conn:
        conn.executescript(RELEASED_SCHEMA)
        conn.execute("INSERT INTO counters VALUES ('received', 7), ('quarantined', 2)")
        conn.execute(
            "INSERT INTO outbox (record_key, study_uid, body, created_at) "
            "VALUES ('k1', '2.25.1', '{}', 1.0)"
        )
        conn.executemany(
            "INSERT INTO quarantine (created_at, reason, origin, file_path, size_bytes) "
            "VALUES (1.0, ?, 'dimse', ?, 24)",
            [
                ("residual identifiers in the de-identified record (1 value(s))", "gone.dcm"),
                ("malformed: InvalidDicomError", "old.dcm"),
            ],
        )
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 0

    store, pipeline = open_pipeline(settings)
    try:
        assert store.opened_version == 1 and store.schema_version == SCHEMA_VERSION
        backup = db.with_name(db.name + ".bak-v1")
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        with sqlite3.connect(backup) as old:
            assert old.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 2
        assert store.counters()["received"] == 7
        assert pipeline.outbox.backlog().size == 1
        assert pipeline.quarantine.counts_by_reason() == {"malformed": 1, "residual_identifier": 1}
        old_junk = next(q for q in pipeline.quarantine.list() if q.reason_code.value == "malformed")
        assert old_junk.seen_count == 1 and old_junk.findings == ()
        # the upgraded quarantine works as a new one: the same junk again is a new entry
        # (old entries have no object key), sent once more it is not
        for _ in range(2):
            pipeline.process_bytes(b"junk from an old release", "dimse", sender="CT1")
        assert pipeline.quarantine.count() == 3
        assert pipeline.retry_item(old_junk).accepted_now is False
        good = encode(fleet_studies(1)[0].datasets[0])
        assert pipeline.process_bytes(good, "dimse").accepted
    finally:
        store.close()
    store, _ = open_pipeline(settings)  # opening again migrates nothing
    assert store.opened_version == SCHEMA_VERSION
    store.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    from medcoop.edge.store import SchemaTooNewError

    db = tmp_path / "edge.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaTooNewError, match="newer"):
        EdgeStore(db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 99
