"""Writing the dose summary cells: one locked read and one write per touched cell.

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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    DoseSketch,
)
from medcoop.hub.db.analytics_models import DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.bulk import bulk_insert, bulk_update, insert_ignore
from medcoop.hub.services.analytics.summaries.contributions import CellKey

__all__ = [
    "SKETCH_RAW",
    "SummaryChanges",
    "cell_order",
    "cell_row",
    "lock_site",
]

log = logging.getLogger(__name__)

_KEY = ("org_id", "site_id", "device_id", "exam_type", "metric", "month")
SKETCH_RAW = frozenset({"sketch"})  # bytes, as both drivers take them


@dataclass(slots=True)
class SummaryChanges:
    """What one batch adds to and removes from each cell, applied in one pass."""

    adds: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))
    removes: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))

    def change(
        self, before: Sequence[tuple[CellKey, float]], after: Sequence[tuple[CellKey, float]]
    ) -> None:
        """Record that a study's contributions went from ``before`` to ``after``."""
        old, new = dict(before), dict(after)
        for key, value in old.items():
            if new.get(key) != value:
                self.removes[key].append(value)
        for key, value in new.items():
            if old.get(key) != value:
                self.adds[key].append(value)

    def apply(self, session: Session, org_id: uuid.UUID) -> int:
        """Write the changes: one read (locked) and one write per touched cell.

        Returns the number of cells touched.
        """
        keys = sorted(set(self.adds) | set(self.removes), key=cell_order)
        if not keys:
            return 0
        found = _read_cells(session, keys)
        missing = [key for key in keys if key not in found]
        if missing and session.connection().dialect.name == "postgresql":
            # Another batch may be creating the same cells: insert empty ones that way
            # (ON CONFLICT DO NOTHING waits for it instead of failing), then lock them.
            _insert_empty(session, org_id, missing)
            found.update(_read_cells(session, missing))
        inserts, updates = [], []
        # when the cells changed: a pooled block stands for its month's cells up to its
        # built_at, so queries read the cells changed after it (see compact)
        now = utcnow()
        for key in keys:
            stored = found.get(key)
            sketch = DoseSketch.from_bytes(stored) if stored is not None else DoseSketch()
            removes = self.removes.get(key)
            if removes:
                missing = sketch.remove_many(removes)
                if missing:
                    # bookkeeping out of step (rows older than the summaries, or exam types
                    # changed by a release): run `medcoop hub rebuild-summaries`
                    log.warning("summary %s lacked %d value(s) to remove", key, missing)
            adds = self.adds.get(key)
            if adds:
                sketch.add_many(adds)
            if sketch.count == 0 and stored is None:
                continue
            # a cell that lost its last study is kept, empty: deleting it would leave its
            # old values in a pooled block with nothing newer to replace them
            row = cell_row(org_id, key, sketch.count, sketch.to_bytes(), now)
            (updates if stored is not None else inserts).append(row)
        table = DoseSummary.__table__
        bulk_update(session, table, _KEY, updates)  # type: ignore[arg-type]
        bulk_insert(session, table, inserts, raw=SKETCH_RAW)  # type: ignore[arg-type]
        return len(keys)


def cell_row(
    org_id: uuid.UUID, key: CellKey, n_studies: int, sketch: bytes, updated_at: datetime
) -> dict[str, Any]:
    """One :class:`DoseSummary` row (its :data:`_KEY` columns, then the values)."""
    site_id, device_id, exam_type, metric, month = key
    return {
        "org_id": org_id,
        "site_id": site_id,
        "device_id": device_id,
        "exam_type": exam_type,
        "metric": metric,
        "month": month,
        "n_studies": n_studies,
        "sketch": sketch,
        "updated_at": updated_at,
    }


def _insert_empty(session: Session, org_id: uuid.UUID, keys: list[CellKey]) -> None:
    empty, now = DoseSketch().to_bytes(), utcnow()
    rows = [cell_row(org_id, key, 0, empty, now) for key in keys]
    insert_ignore(session, DoseSummary.__table__, rows)  # type: ignore[arg-type]


def cell_order(key: CellKey) -> tuple[str, str, str, str, int]:
    site_id, device_id, exam_type, metric, month = key
    return (str(site_id), str(device_id), exam_type, metric, month)


def _read_cells(session: Session, keys: list[CellKey]) -> dict[CellKey, bytes]:
    """Read (and on PostgreSQL lock, in key order) the stored cells among ``keys``."""
    sites = sorted({k[0] for k in keys}, key=str)
    devices = sorted({k[1] for k in keys}, key=str)
    exams = sorted({k[2] for k in keys})
    months = sorted({k[4] for k in keys})
    query = (
        select(
            DoseSummary.site_id,
            DoseSummary.device_id,
            DoseSummary.exam_type,
            DoseSummary.metric,
            DoseSummary.month,
            DoseSummary.sketch,
        )
        .where(
            DoseSummary.site_id.in_(sites),
            DoseSummary.device_id.in_(devices),
            DoseSummary.exam_type.in_(exams),
            DoseSummary.month.in_(months),
        )
        # one lock order for every worker, so two batches cannot deadlock on cells
        .order_by(
            DoseSummary.site_id,
            DoseSummary.device_id,
            DoseSummary.exam_type,
            DoseSummary.metric,
            DoseSummary.month,
        )
        .with_for_update()
    )
    wanted = set(keys)
    found = {}
    for site_id, device_id, exam_type, metric, month, sketch in session.execute(query):
        key = (site_id, device_id, exam_type, metric, month)
        if key in wanted:
            found[key] = bytes(sketch)
    return found


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
