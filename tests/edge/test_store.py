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
