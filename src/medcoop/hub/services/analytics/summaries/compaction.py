"""Compaction: (re)building the pooled blocks of a month from its cells.

A block is every site's (and site-and-device's) sketch of one exam type, metric and month,
packed densely (:func:`~medcoop.analytics.sketches.pack_rows`). Blocks are built from the
cells, never written by ingest, and stamped :data:`BLOCK_MARGIN` early so that a change a
block missed is always read from the cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import String, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    SketchMatrix,
    merge_rows,
    pack_rows,
)
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.tenancy import pooled_execute

__all__ = [
    "BLOCK_MARGIN",
    "compact",
    "uuid_bytes",
]

#: A block's ``built_at`` is this long before it was built: longer than a write
#: transaction can take from stamping ``updated_at`` (just before commit) to committing,
#: plus the clock differences between hub workers. A cell change the block missed is
#: then always stamped after ``built_at``, and read from the cells.
BLOCK_MARGIN = timedelta(minutes=5)


def uuid_bytes(text_id: str) -> bytes:
    """Return the 16 bytes of the database's text of a UUID (32 hex digits on SQLite,
    canonical on PostgreSQL), without building a UUID object."""
    return bytes.fromhex(text_id.replace("-", ""))


def compact(
    session: Session,
    exam_type: str,
    metric: str,
    months: Iterable[int],
    *,
    margin: timedelta = BLOCK_MARGIN,
) -> int:
    """(Re)build the pooled blocks of ``months`` from their cells; commit; return the count.

    Each month's cells are read in one statement (one snapshot on either back end), after
    ``built_at`` is fixed at now less ``margin``: a change that statement missed commits
    later, so it is stamped after ``built_at`` (see :data:`BLOCK_MARGIN`) and queries read
    it from the cells. A block never replaces a newer one.
    """
    session.rollback()
    built = []
    # before the first read: on SQLite the whole transaction reads that first snapshot
    built_at = utcnow() - margin
    for month in months:
        rows = pooled_execute(
            session,
            select(
                sql_cast(DoseSummary.site_id, String),
                sql_cast(DoseSummary.device_id, String),
                DoseSummary.sketch,
            ).where(
                DoseSummary.exam_type == exam_type,
                DoseSummary.metric == metric,
                DoseSummary.month == month,
                DoseSummary.n_studies > 0,
            ),
        ).all()
        built.append(_block(exam_type, metric, month, built_at, rows))
    session.rollback()
    if not built:
        return 0
    begin_write(session)
    table = DoseBlock.__table__
    if session.connection().dialect.name == "postgresql":
        insert = postgresql.insert(table)
    else:
        insert = sqlite.insert(table)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=["exam_type", "metric", "month"],
        set_={name: excluded[name] for name in _BLOCK_VALUES},
        where=table.c.built_at < excluded.built_at,
    )
    try:
        pooled_execute(session, statement, built)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(built)


_BLOCK_VALUES = ("built_at", "n_sites", "n_cells", "sites", "devices")


def _block(
    exam_type: str, metric: str, month: int, built_at: datetime, rows: Sequence[Any]
) -> dict[str, Any]:
    """Pack one month's cells: per-site rows, and per site-and-device rows."""
    ids = np.frombuffer(
        b"".join(uuid_bytes(site) + uuid_bytes(device) for site, device, _ in rows),
        dtype="V32",
    )
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    blobs = [bytes(rows[i][2]) for i in order.tolist()]
    raw = ids.view(np.uint8).reshape(-1, 32)
    site_keys, first, site_rows = np.unique(
        raw[:, :16].copy().view("V16").ravel(), return_index=True, return_inverse=True
    )
    per_device = merge_rows(np.arange(len(blobs)), blobs)
    per_site = _per_site(per_device, first, site_rows)
    return {
        "exam_type": exam_type,
        "metric": metric,
        "month": month,
        "built_at": built_at,
        "n_sites": int(site_keys.size),
        "n_cells": len(blobs),
        "sites": pack_rows(site_keys.view(np.uint8).reshape(-1, 16), per_site),
        "devices": pack_rows(raw, per_device),
    }


def _per_site(per_device: SketchMatrix, first: np.ndarray, site_rows: np.ndarray) -> SketchMatrix:
    """Sum the per-device rows of each site (rows sorted by site: site ``i``'s rows are the
    run from ``first[i]``; ``site_rows`` is each row's site).

    The same matrix as :func:`merge_rows` of the blobs grouped by site, bit for bit: both
    share one key range, counts and zeros are exact integers either way, and the sums add
    each blob's sum in row order per site as ``merge_rows`` does (``0.0 + x == x``).
    """
    if first.size == 0:  # no cells: the empty matrix
        return per_device
    return SketchMatrix(
        np.arange(first.size),
        per_device.min_key,
        np.add.reduceat(per_device.counts, first, axis=0),
        np.add.reduceat(per_device.zeros, first),
        np.bincount(site_rows, weights=per_device.sums, minlength=first.size),
    )
