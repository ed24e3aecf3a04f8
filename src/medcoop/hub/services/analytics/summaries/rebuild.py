"""Recomputing a site's dose and protocol summary cells from its stored rows.

After the migration that introduced the table, or a release that changes the exam types
(``medcoop hub rebuild-summaries``). Each site is rebuilt in its own transaction under
the exclusive per-site lock (:func:`~.cells.lock_site`) that ingest takes shared.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    DoseSketch,
)
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.bulk import bulk_insert, bulk_update
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import IrradiationEventRow, Site, Study, UsageFact
from medcoop.hub.services.analytics.summaries.cells import (
    DOSE_CELLS,
    PROTOCOL_CELLS,
    SKETCH_RAW,
    CellTable,
    cell_order,
    cell_row,
    lock_site,
)
from medcoop.hub.services.analytics.summaries.contributions import (
    EVENT_FACTS,
    STUDY_FACTS,
    CellKey,
    contributions,
    protocol_contributions,
    study_labels,
)

__all__ = [
    "RebuildResult",
    "rebuild",
]

_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What :func:`rebuild` did."""

    sites: int
    studies: int
    cells: int


def rebuild(session: Session, *, site_ids: Sequence[uuid.UUID] | None = None) -> RebuildResult:
    """Recompute the summaries of ``site_ids`` (default: every site the session sees).

    Each site is rebuilt in its own transaction (committed here), under the exclusive
    per-site lock, so ingest may keep running.
    """
    query = select(Site.org_id, Site.id).order_by(Site.org_id, Site.id)
    if site_ids is not None:
        query = query.where(Site.id.in_(list(site_ids)))
    sites = session.execute(query).all()
    session.rollback()
    studies = cells = 0
    for org_id, site_id in sites:
        try:
            begin_write(session)
            lock_site(session, site_id, exclusive=True)
            counted, written = _rebuild_site(session, org_id, site_id)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        studies += counted
        cells += written
    return RebuildResult(sites=len(sites), studies=studies, cells=cells)


def _rebuild_site(session: Session, org_id: uuid.UUID, site_id: uuid.UUID) -> tuple[int, int]:
    values: dict[CellKey, list[float]] = defaultdict(list)
    by_protocol: dict[CellKey, list[float]] = defaultdict(list)
    studies = 0
    for chunk in _site_studies(session, site_id):
        studies += len(chunk)
        ids = list(chunk)
        events: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        columns = [getattr(IrradiationEventRow, name) for name in EVENT_FACTS]
        for row in session.execute(
            select(IrradiationEventRow.study_id, *columns).where(
                IrradiationEventRow.study_id.in_(ids)
            )
        ):
            events[row[0]].append(dict(zip(EVENT_FACTS, row[1:], strict=True)))
        protocols = dict(
            session.execute(
                select(UsageFact.study_id, UsageFact.performed_protocol).where(
                    UsageFact.study_id.in_(ids)
                )
            ).all()
        )
        labels = []
        for study_id, study in chunk.items():
            protocol, held = protocols.get(study_id), events[study_id]
            for key, value in contributions(study, protocol, held):
                values[key].append(value)
            for key, value in protocol_contributions(study, protocol, held):
                by_protocol[key].append(value)
            labels.append({"org_id": org_id, "id": study_id, **study_labels(study, protocol, held)})
        # studies stored before they carried their labels get them (the table's filters)
        bulk_update(session, Study.__table__, ("org_id", "id"), labels)
    written = _replace_cells(session, DOSE_CELLS, org_id, site_id, values)
    _replace_cells(session, PROTOCOL_CELLS, org_id, site_id, by_protocol)
    return studies, written


def _replace_cells(
    session: Session,
    cells: CellTable,
    org_id: uuid.UUID,
    site_id: uuid.UUID,
    values: dict[CellKey, list[float]],
) -> int:
    """Replace the site's cells of ``cells`` by ``values``; return the cells with values."""
    site = cells.column("site_id")
    keys = [cells.column(name) for name in cells.keys[1:]]
    # cells that no longer get a value stay, empty (see CellChanges.apply)
    for stored in session.execute(select(*keys).where(site == site_id)).all():
        device_id, group, name, month = stored
        values.setdefault((site_id, device_id, group, name, month), [])
    session.execute(
        delete(cells.model).where(site == site_id).execution_options(synchronize_session=False)
    )
    rows, now = [], utcnow()
    for key, found in sorted(values.items(), key=lambda item: cell_order(item[0])):
        sketch = DoseSketch()
        sketch.add_many(found)
        rows.append(cell_row(org_id, key, sketch.count, sketch.to_bytes(), now, cells))
    bulk_insert(session, cells.table, rows, raw=SKETCH_RAW)
    return sum(row[cells.count] > 0 for row in rows)


def _site_studies(session: Session, site_id: uuid.UUID) -> Iterable[dict[uuid.UUID, dict]]:
    """Yield the site's studies in chunks (keyset pages by id), as ``id → facts``."""
    columns = [getattr(Study, name) for name in STUDY_FACTS]
    last: uuid.UUID | None = None
    while True:
        query = select(Study.id, *columns).where(Study.site_id == site_id)
        if last is not None:
            query = query.where(Study.id > last)
        rows = session.execute(query.order_by(Study.id).limit(_CHUNK)).all()
        if not rows:
            return
        yield {row[0]: dict(zip(STUDY_FACTS, row[1:], strict=True)) for row in rows}
        last = rows[-1][0]

