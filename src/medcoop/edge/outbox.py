"""The durable outbox: de-identified records waiting for the hub, each with its idempotency key.

A record enters the outbox in the same SQLite transaction that marks its study as emitted, so
a crash (``kill -9``) at any moment either keeps both or neither. The ``record_key`` is
unique: re-emitting the same content is a no-op, and a record sent but not yet marked sent
when the edge died is sent again after restart and recognised by the hub as a duplicate.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from medcoop.edge.store import EdgeStore, now_s
from medcoop.records import StudyRecord

__all__ = ["Backlog", "Outbox", "PendingRecord"]

_SENT_KEEP_S = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """One unsent record: its row id, idempotency key and JSON body."""

    row_id: int
    record_key: str
    body: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is waiting to be sent."""

    size: int
    size_bytes: int
    oldest_at: datetime | None
    rejected: int

    def age_s(self, now_at: datetime | None = None) -> float:
        """Seconds since the oldest unsent record was queued (0 with an empty backlog)."""
        if self.oldest_at is None:
            return 0.0
        return max(0.0, ((now_at or datetime.now(UTC)) - self.oldest_at).total_seconds())


class Outbox:
    """Records queued for the hub, stored in the edge's database."""

    def __init__(self, store: EdgeStore) -> None:
        self.store = store

    def enqueue(self, conn: sqlite3.Connection, record: StudyRecord) -> bool:
        """Queue ``record`` in the caller's transaction; False when its key is queued already."""
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (record_key, study_uid, body, created_at) "
            "VALUES (?, ?, ?, ?)",
            (record.record_key, record.study_uid, record.model_dump_json(), now_s()),
        )
        if cursor.rowcount:
            self.store.bump(conn, "records_queued")
            return True
        return False

    def pending(self, limit: int) -> list[PendingRecord]:
        """Return up to ``limit`` unsent records, oldest first."""
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, record_key, body FROM outbox "
                "WHERE sent_at IS NULL AND rejected IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [PendingRecord(row_id, key, body) for row_id, key, body in rows]

    def mark_sent(self, row_ids: list[int], *, meta: dict[str, str | None] | None = None) -> None:
        """Mark records as accepted by the hub (new or duplicate there).

        ``meta``: status values to store in the same commit (see ``EdgeStore.set_metas``).
        """
        sent_at = now_s()
        with self.store.transaction() as conn:
            if meta:
                self.store.set_metas(meta, conn)
            cursor = conn.executemany(
                "UPDATE outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                [(sent_at, row_id) for row_id in row_ids],
            )
            self.store.bump(conn, "records_sent", cursor.rowcount)
            conn.execute(
                "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                (sent_at - _SENT_KEEP_S,),
            )

    def note_attempt(self, row_ids: list[int]) -> None:
        """Count a failed delivery attempt for these records."""
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?",
                [(row_id,) for row_id in row_ids],
            )

    def mark_rejected(self, row_id: int, detail: str) -> None:
        """Set aside a record the hub refused as invalid (kept, shown by status, never dropped)."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET rejected = ? WHERE id = ? AND rejected IS NULL",
                (detail[:500], row_id),
            )
            self.store.bump(conn, "records_rejected", cursor.rowcount)

    def requeue_rejected(self) -> int:
        """Give every rejected record another chance (after a fix); return how many."""
        with self.store.transaction() as conn:
            count = conn.execute(
                "UPDATE outbox SET rejected = NULL WHERE rejected IS NOT NULL AND sent_at IS NULL"
            ).rowcount
            self.store.bump(conn, "records_rejected", -count)
        return count

    def backlog(self) -> Backlog:
        """Return the size, bytes and age of what waits to be sent."""
        with self.store.reading() as conn:
            size, size_bytes, oldest = conn.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0), min(created_at) FROM outbox "
                "WHERE sent_at IS NULL AND rejected IS NULL"
            ).fetchone()
            rejected = conn.execute(
                "SELECT count(*) FROM outbox WHERE rejected IS NOT NULL AND sent_at IS NULL"
            ).fetchone()[0]
        oldest_at = None if oldest is None else datetime.fromtimestamp(oldest, UTC)
        return Backlog(size=size, size_bytes=size_bytes, oldest_at=oldest_at, rejected=rejected)

    def sent_keys(self) -> set[str]:
        """Return the keys of records the hub has accepted (kept for a week)."""
        with self.store.reading() as conn:
            rows = conn.execute("SELECT record_key FROM outbox WHERE sent_at IS NOT NULL")
            return {row[0] for row in rows}
