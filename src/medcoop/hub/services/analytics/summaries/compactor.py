"""The compaction job: rebuild the pooled blocks whose cells changed since they were built.

Queries compact a few stale months after answering (:func:`~.compaction.compact` on the
GET path); this job does it in the background too, so quiet months get their block
without waiting for a query. It reads and writes through a session pooled for
``Purpose.COMPACT_SUMMARIES`` and only touches months whose last change is older than
:data:`~.compaction.BLOCK_MARGIN` (a block built now would be stale at once otherwise).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from medcoop.hub.background import PeriodicJob
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.tenancy import pooled, pooled_execute
from medcoop.hub.services.analytics.summaries.compaction import BLOCK_MARGIN, compact

__all__ = ["SummaryCompactor", "stale_blocks"]

log = logging.getLogger(__name__)


def stale_blocks(
    session: Session, *, now: datetime | None = None, margin: timedelta = BLOCK_MARGIN
) -> list[tuple[str, str, int]]:
    """Return ``(exam type, metric, month)`` of every block missing or older than its
    cells' last change, where that change is older than ``margin`` (oldest first)."""
    quiet_at = (now or utcnow()) - margin
    changed = (
        select(
            DoseSummary.exam_type,
            DoseSummary.metric,
            DoseSummary.month,
            func.max(DoseSummary.updated_at).label("changed_at"),
        )
        .group_by(DoseSummary.exam_type, DoseSummary.metric, DoseSummary.month)
        .subquery()
    )
    query = (
        select(changed.c.exam_type, changed.c.metric, changed.c.month)
        .outerjoin(
            DoseBlock,
            and_(
                DoseBlock.exam_type == changed.c.exam_type,
                DoseBlock.metric == changed.c.metric,
                DoseBlock.month == changed.c.month,
            ),
        )
        .where(
            changed.c.changed_at <= quiet_at,
            or_(DoseBlock.built_at.is_(None), DoseBlock.built_at < changed.c.changed_at),
        )
        .order_by(changed.c.changed_at)
    )
    found = [(str(e), str(m), int(month)) for e, m, month in pooled_execute(session, query)]
    session.rollback()
    return found


class SummaryCompactor(PeriodicJob):
    """Compacts stale pooled blocks, at most ``per_pass`` a pass (a background job)."""

    name = "compactor"
    run_at_start = False  # a web worker starting is no reason to compact

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        interval_s: float = 60.0,
        per_pass: int = 24,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._factory = session_factory
        self.per_pass = per_pass

    def run_once(self, now: datetime | None = None) -> int:
        """Compact the stale blocks due at ``now``; return how many were rebuilt."""
        built = 0
        with self._factory() as session:
            pooled(session, Purpose.COMPACT_SUMMARIES)
            for exam_type, metric, month in stale_blocks(session, now=now)[: self.per_pass]:
                if self.stopping:
                    break
                try:
                    built += compact(session, exam_type, metric, [month])
                except SQLAlchemyError:  # another worker's block won, or the database left
                    log.warning("could not compact %s %s %s", exam_type, metric, month)
        return built
