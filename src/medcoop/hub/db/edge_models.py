"""What each site's edge last reported about itself: quarantine counts by reason, counters.

One row per site, replaced by every report (``POST /api/v1/edge/status``). Counts only:
an edge's report names reason codes, never an object or a value.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKeyConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, utcnow

__all__ = ["EdgeReport"]


class EdgeReport(TenantOwned, Base):
    """A site's edge, as it last described itself."""

    __tablename__ = "edge_reports"
    __table_args__ = (ForeignKeyConstraint(["org_id", "site_id"], ["sites.org_id", "sites.id"]),)

    site_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    edge_version: Mapped[str | None] = mapped_column(String(40))
    #: ``{reason code: objects}`` (see ``medcoop.edge.quarantine.QuarantineReason``).
    quarantine_by_reason: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    #: The edge's counters (received, processed, quarantined, records_sent, ...).
    counters: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    open_studies: Mapped[int] = mapped_column(Integer, default=0)
    backlog: Mapped[int] = mapped_column(Integer, default=0)
