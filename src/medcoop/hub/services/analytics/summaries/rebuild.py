"""Recomputing a site's dose summary cells from its stored rows.

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
from medcoop.hub.db.analytics_models import DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.bulk import bulk_insert
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import IrradiationEventRow, Site, Study, UsageFact
from medcoop.hub.services.analytics.summaries.cells import (
    SKETCH_RAW,
    cell_order,
    cell_row,
    lock_site,
)
from medcoop.hub.services.analytics.summaries.contributions import (
    EVENT_FACTS,
    STUDY_FACTS,
    CellKey,
    contributions,
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
        for study_id, study in chunk.items():
            for key, value in contributions(study, protocols.get(study_id), events[study_id]):
                values[key].append(value)
    stored = session.execute(
        select(
            DoseSummary.device_id, DoseSummary.exam_type, DoseSummary.metric, DoseSummary.month
        ).where(DoseSummary.site_id == site_id)
    ).all()
    # cells that no longer get a value stay, empty (see SummaryChanges.apply)
    for device_id, exam_type, metric, month in stored:
        values.setdefault((site_id, device_id, exam_type, metric, month), [])
    session.execute(
        delete(DoseSummary)
        .where(DoseSummary.site_id == site_id)
        .execution_options(synchronize_session=False)
    )
    rows, now = [], utcnow()
    for key, found in sorted(values.items(), key=lambda item: cell_order(item[0])):
        sketch = DoseSketch()
        sketch.add_many(found)
        rows.append(cell_row(org_id, key, sketch.count, sketch.to_bytes(), now))
    bulk_insert(session, DoseSummary.__table__, rows, raw=SKETCH_RAW)
    return studies, sum(row["n_studies"] > 0 for row in rows)


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
