"""The quarantine: objects the edge could not process, kept locally until fixed or purged.

Each quarantined object is a file (mode 0600, written and fsynced before its row is
committed) plus a database row with a reason. Reasons are written by our code and name a
category and an exception type only, never a value read from the object, so listing the
quarantine never shows a patient's identity. Nothing is silently dropped: an object leaves
the quarantine only by a successful retry or an administrator's purge.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from medcoop.edge.store import EdgeStore, now_s

__all__ = ["Quarantine", "QuarantinedObject"]


@dataclass(frozen=True, slots=True)
class QuarantinedObject:
    """One quarantined object, as ``medcoop edge status`` lists it."""

    quarantine_id: int
    created_at: datetime
    reason: str
    origin: str
    file_path: Path | None
    size_bytes: int


class Quarantine:
    """Quarantined objects: files in ``folder`` indexed in the edge's database."""

    def __init__(self, store: EdgeStore, folder: Path) -> None:
        self.store = store
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, data: bytes, *, reason: str, origin: str, counters: tuple[str, ...] = ()) -> int:
        """Keep ``data`` with ``reason`` (no identifying values!); return the quarantine ID."""
        path = self.folder / f"{uuid.uuid4().hex}.dcm"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            with self.store.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO quarantine (created_at, reason, origin, file_path, size_bytes) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (now_s(), reason[:300], origin[:64], path.name, len(data)),
                )
                self.store.bump(conn, "quarantined")
                for name in counters:
                    self.store.bump(conn, name)
                return int(cursor.lastrowid or 0)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def list(self, limit: int = 1000, *, only_id: int | None = None) -> list[QuarantinedObject]:
        """Return quarantined objects (or the one with ``only_id``), oldest first."""
        where, args = ("WHERE id = ?", (only_id, limit)) if only_id is not None else ("", (limit,))
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, created_at, reason, origin, file_path, size_bytes FROM quarantine "
                f"{where} ORDER BY id LIMIT ?",
                args,
            ).fetchall()
        return [
            QuarantinedObject(
                quarantine_id=row[0],
                created_at=datetime.fromtimestamp(row[1], UTC),
                reason=row[2],
                origin=row[3],
                file_path=None if row[4] is None else self.folder / row[4],
                size_bytes=row[5],
            )
            for row in rows
        ]

    def count(self) -> int:
        """Return how many objects are in quarantine."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])

    def retry(self, quarantine_id: int, process: Callable[[bytes, str], bool]) -> bool:
        """Process a quarantined object again; on success remove it from quarantine.

        Parameters
        ----------
        quarantine_id : int
            Which object.
        process : callable
            ``process(data, origin) -> bool``: True when the object was accepted this time;
            it must not quarantine a failure again (the object stays here, marked retried).

        Returns
        -------
        bool
            Whether the object left the quarantine.
        """
        item = self._get(quarantine_id)
        if item.file_path is None or not item.file_path.exists():
            raise FileNotFoundError(f"quarantined object {quarantine_id} has no file")
        data = item.file_path.read_bytes()
        if not process(data, f"retry:{item.origin}"):
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE quarantine SET retried_at = ? WHERE id = ?",
                    (now_s(), item.quarantine_id),
                )
            return False
        self._remove(item)
        return True

    def purge(self, quarantine_id: int) -> None:
        """Delete a quarantined object for good (an administrator's decision)."""
        self._remove(self._get(quarantine_id))

    def _get(self, quarantine_id: int) -> QuarantinedObject:
        found = self.list(limit=1, only_id=quarantine_id)
        if found:
            return found[0]
        raise KeyError(f"no quarantined object with ID {quarantine_id}")

    def _remove(self, item: QuarantinedObject) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM quarantine WHERE id = ?", (item.quarantine_id,))
            self.store.bump(conn, "quarantined", -1)
        if item.file_path is not None:
            item.file_path.unlink(missing_ok=True)
