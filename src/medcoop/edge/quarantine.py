"""The quarantine: objects the edge could not process, kept locally until fixed or purged.

Each quarantined object is a file (mode 0600, written and fsynced before its row is
committed) plus a database row naming a reason code (:class:`QuarantineReason`), the
findings as (field, kind) pairs, the file and the sender (calling AE title, or the STOW-RS
client's address). Reasons and findings are written by our code and name a category, a
field and a kind only, never a value read from the object, so listing the quarantine never
shows a patient's identity. An object re-sent while quarantined (same SOP Instance, or the
same bytes when it has no readable identity) updates its entry, it never adds one. Nothing
is silently dropped: an object leaves the quarantine only by a successful retry or an
administrator's purge.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from medcoop.edge.store import EdgeStore, now_s

__all__ = ["Finding", "Quarantine", "QuarantineReason", "QuarantinedObject"]

#: Where an identifier was found and what kind it is (``("study_description", "name")``).
Finding = tuple[str, str]


class QuarantineReason(StrEnum):
    """Why an object is in quarantine (stored as the value)."""

    #: Not DICOM, or without SOP Class / Instance UID: the sender's fault.
    MALFORMED = "malformed"
    #: DICOM whose content cannot be read (damaged elements, a broken SR tree).
    UNREADABLE = "unreadable"
    #: Cut short: its length, sequences or events do not add up.
    TRUNCATED = "truncated"
    #: A dose report that yields no dose facts.
    UNUSABLE_DOSE_REPORT = "unusable_dose_report"
    #: The de-identified record still held an identifying value (kept in custody).
    RESIDUAL_IDENTIFIER = "residual_identifier"
    #: Identity burned into the pixels and no dose facts to take (kept in custody).
    BURNED_IN_ANNOTATION = "burned_in_annotation"
    #: An entry from before reason codes that matched no pattern.
    OTHER = "other"

    @property
    def sender_fault(self) -> bool:
        """Whether the object itself cannot be used: the sender is answered with a failure.

        Residual identifiers and burned-in text are the edge's to resolve (a configuration
        change, a release); the object is valid and safely kept, so the sender is told it
        was stored, and a retry releases it later.
        """
        return self not in (
            QuarantineReason.RESIDUAL_IDENTIFIER,
            QuarantineReason.BURNED_IN_ANNOTATION,
        )

    @property
    def failure_status(self) -> int:
        """The status a sender is given for an object quarantined for this reason.

        The same codes answer a C-STORE (PS3.4 Table B.2-1) and fill a STOW-RS
        FailureReason (PS3.18): 0xC000 cannot understand, for what is not DICOM;
        0xA900 data set does not match SOP class, for content that cannot be read, is
        cut short or, for a dose report, holds no dose. 0x0000 when it is held, not failed.
        """
        if not self.sender_fault:
            return 0x0000
        return 0xC000 if self in (QuarantineReason.MALFORMED, QuarantineReason.OTHER) else 0xA900


@dataclass(frozen=True, slots=True)
class QuarantinedObject:
    """One quarantined object, as ``medcoop edge quarantine list`` shows it."""

    quarantine_id: int
    created_at: datetime
    reason_code: QuarantineReason
    reason: str
    findings: tuple[Finding, ...]
    origin: str
    sender: str | None
    file_path: Path | None
    size_bytes: int
    seen_count: int
    last_seen_at: datetime


_COLUMNS = (
    "id, created_at, reason_code, reason, findings, origin, sender, file_path, size_bytes, "
    "seen_count, last_seen_at"
)


class Quarantine:
    """Quarantined objects: files in ``folder`` indexed in the edge's database."""

    def __init__(self, store: EdgeStore, folder: Path) -> None:
        self.store = store
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(
        self,
        data: bytes,
        *,
        code: QuarantineReason,
        reason: str,
        origin: str,
        object_key: str,
        findings: Sequence[Finding] = (),
        sender: str | None = None,
        counters: tuple[str, ...] = (),
    ) -> int:
        """Keep ``data`` (no identifying values in ``reason``!); return the quarantine ID.

        ``object_key`` identifies the object without identifying anyone (its remapped SOP
        Instance UID, or a hash of its bytes): a re-sent object replaces its entry's file
        and reason and counts one more sighting, not a new entry.
        """
        path = self.folder / f"{uuid.uuid4().hex}.dcm"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        old_file: str | None = None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            with self.store.transaction() as conn:
                row = conn.execute(
                    "SELECT id, file_path FROM quarantine WHERE object_key = ?", (object_key,)
                ).fetchone()
                values = (code.value, reason[:300], _dump(findings), origin[:64],
                          None if sender is None else sender[:64], path.name, len(data), now_s())
                if row is None:
                    cursor = conn.execute(
                        "INSERT INTO quarantine (reason_code, reason, findings, origin, sender, "
                        "file_path, size_bytes, last_seen_at, created_at, object_key) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, values[-1], object_key),
                    )
                    qid = int(cursor.lastrowid or 0)
                    self.store.bump(conn, "quarantined")
                else:
                    qid, old_file = int(row[0]), row[1]
                    conn.execute(
                        "UPDATE quarantine SET reason_code = ?, reason = ?, findings = ?, "
                        "origin = ?, sender = ?, file_path = ?, size_bytes = ?, "
                        "last_seen_at = ?, seen_count = seen_count + 1 WHERE id = ?",
                        (*values, qid),
                    )
                for name in counters:
                    self.store.bump(conn, name)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if old_file and old_file != path.name:
            (self.folder / old_file).unlink(missing_ok=True)
        return qid

    def list(
        self,
        limit: int = 1000,
        *,
        only_id: int | None = None,
        code: QuarantineReason | None = None,
    ) -> list[QuarantinedObject]:
        """Return quarantined objects (the one with ``only_id``, or of one reason), oldest first."""
        where, args = "", [limit]
        if only_id is not None:
            where, args = "WHERE id = ?", [only_id, limit]
        elif code is not None:
            where, args = "WHERE reason_code = ?", [code.value, limit]  # type: ignore[list-item]
        with self.store.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM quarantine {where} ORDER BY id LIMIT ?", args
            ).fetchall()
        return [self._item(row) for row in rows]

    def count(self) -> int:
        """Return how many objects are in quarantine."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])

    def counts_by_reason(self) -> dict[str, int]:
        """Return how many objects are in quarantine per reason code (largest first)."""
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code "
                "ORDER BY count(*) DESC, reason_code"
            ).fetchall()
        return {code: int(n) for code, n in rows}

    def get(self, quarantine_id: int) -> QuarantinedObject:
        """Return one entry (``KeyError`` when there is none)."""
        found = self.list(limit=1, only_id=quarantine_id)
        if found:
            return found[0]
        raise KeyError(f"no quarantined object with ID {quarantine_id}")

    def read(self, item: QuarantinedObject) -> bytes:
        """Return the quarantined object's bytes."""
        if item.file_path is None or not item.file_path.exists():
            raise FileNotFoundError(f"quarantined object {item.quarantine_id} has no file")
        return item.file_path.read_bytes()

    def note_retry(
        self,
        quarantine_id: int,
        *,
        code: QuarantineReason,
        reason: str,
        findings: Sequence[Finding] = (),
    ) -> None:
        """Record a retry that failed again, with what it found this time."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE quarantine SET retried_at = ?, reason_code = ?, reason = ?, "
                "findings = ? WHERE id = ?",
                (now_s(), code.value, reason[:300], _dump(findings), quarantine_id),
            )

    def release(self, item: QuarantinedObject) -> None:
        """Remove an entry whose object has now been processed."""
        self._remove(item)

    def purge(self, quarantine_id: int) -> None:
        """Delete a quarantined object for good (an administrator's decision)."""
        self._remove(self.get(quarantine_id))

    def _remove(self, item: QuarantinedObject) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM quarantine WHERE id = ?", (item.quarantine_id,))
            self.store.bump(conn, "quarantined", -1)
        if item.file_path is not None:
            item.file_path.unlink(missing_ok=True)

    def _item(self, row: tuple) -> QuarantinedObject:  # type: ignore[type-arg]
        try:
            code = QuarantineReason(row[2])
        except ValueError:  # written by a newer release
            code = QuarantineReason.OTHER
        return QuarantinedObject(
            quarantine_id=row[0],
            created_at=datetime.fromtimestamp(row[1], UTC),
            reason_code=code,
            reason=row[3],
            findings=tuple((str(f), str(k)) for f, k in json.loads(row[4] or "[]")),
            origin=row[5],
            sender=row[6],
            file_path=None if row[7] is None else self.folder / row[7],
            size_bytes=row[8],
            seen_count=row[9],
            last_seen_at=datetime.fromtimestamp(row[10] or row[1], UTC),
        )


def _dump(findings: Sequence[Finding]) -> str:
    # one entry per (field, kind): an RDSR repeating a name in every event is one finding
    return json.dumps(sorted({(str(f)[:80], str(k)[:40]) for f, k in findings}))
