"""Writing summary cells (dose and protocol): one locked read and one write per touched cell.

One batch reads each touched cell once (``SELECT ... FOR UPDATE``, in one key order for
every worker) and writes it once; on PostgreSQL a cell another worker may be creating is
first inserted empty with ``ON CONFLICT DO NOTHING`` (which waits for that worker instead
of failing), then locked; SQLite serialises writers anyway. Every cell written is stamped
``updated_at``, and a cell that loses its last study is kept empty rather than deleted.
:func:`lock_site` is the per-site lock ingest takes shared and a rebuild exclusive.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    DoseSketch,
)
from medcoop.hub.db.analytics_models import DoseSummary, ProtocolCell
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.bulk import bulk_insert, bulk_update, insert_ignore
from medcoop.hub.services.analytics.summaries.contributions import CellKey

__all__ = [
    "DOSE_CELLS",
    "PROTOCOL_CELLS",
    "SKETCH_RAW",
    "CellChanges",
    "CellTable",
    "SummaryChanges",
    "cell_order",
    "cell_row",
    "lock_site",
]

log = logging.getLogger(__name__)

SKETCH_RAW = frozenset({"sketch"})  # bytes, as both drivers take them

@dataclass(frozen=True, slots=True)
class CellTable:
    """A table of summary cells: ``org_id``, five key columns, a count, a sketch, a time.

    The dose summaries (site, device, exam type, metric, month) and the protocol
    summaries (site, device, protocol, quantity, month) are written by the same code.
    """

    model: Any
    keys: tuple[str, str, str, str, str]
    count: str

    @property
    def table(self) -> Any:
        return self.model.__table__

    def column(self, name: str) -> Any:
        return getattr(self.model, name)


DOSE_CELLS = CellTable(
    DoseSummary, ("site_id", "device_id", "exam_type", "metric", "month"), "n_studies"
)
PROTOCOL_CELLS = CellTable(
    ProtocolCell, ("site_id", "device_id", "protocol", "quantity", "month"), "n"
)


@dataclass(slots=True)
class CellChanges:
    """What one batch adds to and removes from each cell of one table, applied in one pass."""

    cells: CellTable = DOSE_CELLS
    adds: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))
    removes: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))

    def change(
        self, before: Sequence[tuple[CellKey, float]], after: Sequence[tuple[CellKey, float]]
    ) -> None:
        """Record that a study's contributions went from ``before`` to ``after``.

        Both are multisets: a protocol cell gets one value per acquisition of a study.
        """
        if not before:  # a new study (most of them): nothing to take out
            for key, value in after:
                self.adds[key].append(value)
            return
        old, new = Counter(before), Counter(after)
        for (key, value), times in (old - new).items():
            self.removes[key].extend([value] * times)
        for (key, value), times in (new - old).items():
            self.adds[key].extend([value] * times)

    def apply(self, session: Session, org_id: uuid.UUID) -> int:
        """Write the changes: one read (locked) and one write per touched cell.

        Returns the number of cells touched.
        """
        keys = sorted(set(self.adds) | set(self.removes), key=cell_order)
        if not keys:
            return 0
        found = _read_cells(session, self.cells, keys)
        missing = [key for key in keys if key not in found]
        if missing and session.connection().dialect.name == "postgresql":
            # Another batch may be creating the same cells: insert empty ones that way
            # (ON CONFLICT DO NOTHING waits for it instead of failing), then lock them.
            _insert_empty(session, self.cells, org_id, missing)
            found.update(_read_cells(session, self.cells, missing))
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        # when the cells changed: a pooled block stands for its month's cells up to its
        # built_at, so queries read the cells changed after it (see compact)
        now = utcnow()
        for key in keys:
            stored = found.get(key)
            sketch = DoseSketch.from_bytes(stored) if stored is not None else DoseSketch()
            removes = self.removes.get(key)
            if removes:
                lacked = sketch.remove_many(removes)
                if lacked:
                    # bookkeeping out of step (rows older than the summaries, or exam types
                    # changed by a release): run `medcoop hub rebuild-summaries`
                    log.warning("summary %s lacked %d value(s) to remove", key, lacked)
            adds = self.adds.get(key)
            if adds:
                sketch.add_many(adds)
            if sketch.count == 0 and stored is None:
                continue
            # a cell that lost its last study is kept, empty: deleting it would leave its
            # old values in a pooled block with nothing newer to replace them
            row = cell_row(org_id, key, sketch.count, sketch.to_bytes(), now, self.cells)
            (updates if stored is not None else inserts).append(row)
        bulk_update(session, self.cells.table, ("org_id", *self.cells.keys), updates)
        bulk_insert(session, self.cells.table, inserts, raw=SKETCH_RAW)
        return len(keys)


@dataclass(slots=True)
class SummaryChanges:
    """How one batch changes the dose summaries and the protocol summaries."""

    dose: CellChanges = field(default_factory=lambda: CellChanges(DOSE_CELLS))
    protocols: CellChanges = field(default_factory=lambda: CellChanges(PROTOCOL_CELLS))

    def apply(self, session: Session, org_id: uuid.UUID) -> int:
        """Write both (dose cells first, in one order for every worker)."""
        return self.dose.apply(session, org_id) + self.protocols.apply(session, org_id)


def cell_row(
    org_id: uuid.UUID,
    key: CellKey,
    n_studies: int,
    sketch: bytes,
    updated_at: datetime,
    cells: CellTable = DOSE_CELLS,
) -> dict[str, Any]:
    """One row of ``cells`` (its key columns, then the values)."""
    row: dict[str, Any] = {"org_id": org_id}
    row.update(zip(cells.keys, key, strict=True))
    row[cells.count] = n_studies
    row["sketch"] = sketch
    row["updated_at"] = updated_at
    return row


def _insert_empty(
    session: Session, cells: CellTable, org_id: uuid.UUID, keys: list[CellKey]
) -> None:
    empty, now = DoseSketch().to_bytes(), utcnow()
    rows = [cell_row(org_id, key, 0, empty, now, cells) for key in keys]
    insert_ignore(session, cells.table, rows)


def cell_order(key: CellKey) -> tuple[str, str, str, str, int]:
    site_id, device_id, exam_type, metric, month = key
    return (str(site_id), str(device_id), exam_type, metric, month)


def _read_cells(session: Session, cells: CellTable, keys: list[CellKey]) -> dict[CellKey, bytes]:
    """Read (and on PostgreSQL lock, in key order) the stored cells among ``keys``."""
    columns = [cells.column(name) for name in cells.keys]
    narrowing = [
        column.in_(sorted({k[i] for k in keys}, key=str))
        for i, column in enumerate(columns)
        if i != 3  # metrics or quantities: few, and read anyway
    ]
    query = (
        select(*columns, cells.column("sketch"))
        .where(*narrowing)
        # one lock order for every worker, so two batches cannot deadlock on cells
        .order_by(*columns)
        .with_for_update()
    )
    wanted = set(keys)
    found = {}
    for row in session.execute(query):
        key = tuple(row[:5])
        if key in wanted:
            found[key] = bytes(row[5])  # type: ignore[index]
    return found  # type: ignore[return-value]


def lock_site(session: Session, site_id: uuid.UUID, *, exclusive: bool = False) -> None:
    """Take the per-site summary lock for this transaction (PostgreSQL; no-op on SQLite).

    Ingest takes it shared, :func:`rebuild` exclusive, so a rebuild never interleaves with
    a batch of the same site.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    key = int.from_bytes(site_id.bytes[8:], "big", signed=True)
    connection.execute(text(f"SELECT {lock}(:key)"), {"key": key})
