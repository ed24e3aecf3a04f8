"""Edges' reports about themselves: stored per site, read for the organisation's overview."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medcoop.hub.db.base import utcnow
from medcoop.hub.db.edge_models import EdgeReport
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Site, Token, TokenKind

__all__ = ["EdgeOverview", "edge_overview", "record_report"]

_MAX_KEYS = 64


def _counts(values: dict[str, int]) -> dict[str, int]:
    # reason codes and counter names are short identifiers; anything else is dropped
    return {
        str(k)[:40]: max(0, int(v))
        for k, v in list(values.items())[:_MAX_KEYS]
        if str(k).replace("_", "").isalnum()
    }


def record_report(
    session: Session,
    org_id: uuid.UUID,
    site_id: uuid.UUID,
    *,
    quarantine_by_reason: dict[str, int],
    counters: dict[str, int],
    open_studies: int,
    backlog: int,
    edge_version: str | None,
) -> EdgeReport:
    """Replace the site's last report (the session is scoped to the site's organisation)."""
    begin_write(session)
    row = session.scalar(select(EdgeReport).where(EdgeReport.site_id == site_id))
    if row is None:
        row = EdgeReport(org_id=org_id, site_id=site_id)
        session.add(row)
    row.reported_at = utcnow()
    row.edge_version = edge_version
    row.quarantine_by_reason = _counts(quarantine_by_reason)
    row.counters = _counts(counters)
    row.open_studies = max(0, open_studies)
    row.backlog = max(0, backlog)
    session.commit()
    return row


class EdgeOverview:
    """The organisation's edges: each site's last report, last contact and quarantine totals.

    ``contact`` is each site's last authenticated call to the hub (its site token's last
    use, recorded to the minute), which an edge makes even when it has nothing to report.
    """

    def __init__(
        self,
        rows: list[tuple[Site, EdgeReport | None]],
        contact: dict[uuid.UUID, datetime | None] | None = None,
    ) -> None:
        self.sites = rows
        self.contact = contact or {}
        totals: Counter[str] = Counter()
        for _, report in rows:
            if report is not None:
                totals.update(report.quarantine_by_reason)
        self.quarantine_by_reason = dict(totals.most_common())


    def last_contact(self, site: Site, report: EdgeReport | None) -> datetime | None:
        """The later of the site token's last use and the edge's last report."""
        seen = [t for t in (self.contact.get(site.id), report and report.reported_at) if t]
        return max(seen) if seen else None


def edge_overview(session: Session, org_id: uuid.UUID) -> EdgeOverview:
    """Every site of the tenant with its edge's last report (None before the first).

    Three statements whatever the number of sites: sites, reports, tokens' last use.
    """
    sites = session.scalars(select(Site).order_by(Site.name)).all()
    reports = {r.site_id: r for r in session.scalars(select(EdgeReport)).all()}
    # tokens are a global table: bound to the caller's organisation explicitly
    contact = session.execute(
        select(Token.site_id, func.max(Token.last_used_at))
        .where(
            Token.org_id == org_id,
            Token.kind == TokenKind.SITE.value,
            Token.revoked_at.is_(None),
        )
        .group_by(Token.site_id)
    ).all()
    last_use = {site_id: at for site_id, at in contact if site_id is not None}
    return EdgeOverview([(site, reports.get(site.id)) for site in sites], last_use)
