"""Site medians of DLP per examination from the dose summaries, against national DRLs.

The overview's DRL exceedances: ingest keeps one sketch per site × device × exam type ×
metric × month (:class:`~medcoop.hub.db.analytics_models.DoseSummary`); merging a site's
recent months gives its median study DLP without reading a single study, so the page
costs one statement whatever the organisation's size. Only DLP per complete examination
is compared here (the summaries' ``dlp`` is the study's total); the dose page's DRL
comparison (:func:`~medcoop.hub.services.analytics.dose.drl_comparisons`) covers every
quantity and scope from the studies themselves.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.drl import DrlEntry, load_national_drls
from medcoop.analytics.sketches import DoseSketch
from medcoop.hub.db.analytics_models import DoseSummary

__all__ = ["SiteDrl", "site_dlp_against_drls"]


@dataclass(frozen=True, slots=True)
class SiteDrl:
    """One site's median study DLP for an exam type against a national DRL."""

    site_id: uuid.UUID
    exam_type: str
    n: int
    median: float
    entry: DrlEntry

    @property
    def ratio_to_drl(self) -> float:
        """Median ÷ DRL."""
        return self.median / self.entry.value_si

    @property
    def exceeds(self) -> bool:
        """Whether the site's median is above the DRL."""
        return self.median > self.entry.value_si


def _month(at: datetime) -> int:
    return at.year * 100 + at.month


def site_dlp_against_drls(
    session: Session, *, from_at: datetime, min_n: int = 10, source_id: str | None = None
) -> list[SiteDrl]:
    """Compare each site's median study DLP since ``from_at`` (whole months) with DRLs."""
    entries: dict[str, DrlEntry] = {}
    for entry in load_national_drls():
        wanted = entry.quantity == "dlp" and entry.scope == "per_exam"
        if wanted and source_id in (None, entry.source_id):
            entries.setdefault(entry.exam_type, entry)
    rows = session.execute(
        select(DoseSummary.site_id, DoseSummary.exam_type, DoseSummary.sketch).where(
            DoseSummary.metric == "dlp",
            DoseSummary.month >= _month(from_at),
            DoseSummary.n_studies > 0,
            DoseSummary.exam_type.in_(list(entries)),
        )
    )
    merged: dict[tuple[uuid.UUID, str], DoseSketch] = defaultdict(DoseSketch)
    for site_id, exam_type, blob in rows:
        merged[(site_id, exam_type)].merge(DoseSketch.from_bytes(blob))
    found = []
    for (site_id, exam_type), sketch in sorted(merged.items(), key=str):
        median = sketch.quantile(0.5)
        if sketch.count >= min_n and median is not None:
            found.append(SiteDrl(site_id, exam_type, sketch.count, median, entries[exam_type]))
    return found
