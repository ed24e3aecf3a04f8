"""Installs of store apps on edges, as the edges report them: one row per event.

An edge reports each install, upgrade, uninstall and each refused package
(``POST /api/v1/store/installs/report``). The rows are the audit trail; a site's
installed apps are the latest event per app (:mod:`medcoop.hub.services.store_deploy`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, new_id, utcnow

__all__ = ["InstallEvent"]


class InstallEvent(TenantOwned, Base):
    """One install, upgrade, uninstall or refusal of an app version at a site's edge."""

    __tablename__ = "store_install_events"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "site_id"], ["sites.org_id", "sites.id"]),
        Index("ix_store_install_events_site_app", "org_id", "site_id", "app_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column()
    app_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(64))
    #: ``installed``, ``upgraded``, ``uninstalled`` or ``refused``.
    action: Mapped[str] = mapped_column(String(20))
    #: Why a package was refused (the edge's error code and message); no identifying data.
    detail: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(default=utcnow)
