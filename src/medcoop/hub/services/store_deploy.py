"""Deployment of store apps to edges: may this site install (and run) an app, and what
its edges report having installed, upgraded, uninstalled or refused.

Every report is a row of ``store_install_events`` (tenant-owned: a hospital sees only
its own sites); the current installs are the latest event per site and app. A refused
package (tampered, rolled back, frozen, wrongly delegated) is recorded with its reason
and shown to the organisation's administrators on the Installs page.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Site
from medcoop.hub.db.store_deploy_models import InstallEvent
from medcoop.hub.db.store_models import StoreNotice
from medcoop.hub.services.store.metering import entitlement_allows_run

__all__ = [
    "ACTIONS",
    "InstallDecision",
    "SiteInstall",
    "authorize_install",
    "recent_refusals",
    "record_install_event",
    "site_installs",
]

log = logging.getLogger(__name__)
ACTIONS = ("installed", "upgraded", "uninstalled", "refused")


@dataclass(frozen=True, slots=True)
class InstallDecision:
    """Whether a site may install (and run) an app, and why not."""

    allowed: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SiteInstall:
    """An app version installed at a site (or the last refusal), for pages and the API."""

    site_id: uuid.UUID
    site: str
    app_id: str
    version: str | None
    action: str
    at: datetime
    detail: str | None = None


def authorize_install(
    session: Session, org_id: uuid.UUID, site_id: uuid.UUID, app_id: str
) -> InstallDecision:
    """Whether ``site_id`` may install and run ``app_id`` now: the store's entitlement
    check (active, unexpired, under its study cap), on the hospital's own session."""
    decision = entitlement_allows_run(session, org_id=org_id, listing_key=app_id, site_id=site_id)
    return InstallDecision(decision.allowed, None if decision.allowed else decision.reason)


def record_install_event(
    session: Session,
    org_id: uuid.UUID,
    site_id: uuid.UUID,
    *,
    app_id: str,
    version: str | None,
    action: str,
    detail: str | None = None,
    vendor_org_id: uuid.UUID | None = None,
) -> InstallEvent:
    """Record one report of an edge (``action`` one of :data:`ACTIONS`).

    A refusal also queues a notice to the hospital's organisation (the store's outbox,
    delivered on its notification channels: e-mail, webhook), filed with the app's vendor
    as the other party when the vendor is known.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown install action {action!r}")
    event = InstallEvent(
        org_id=org_id,
        site_id=site_id,
        app_id=app_id,
        version=version,
        action=action,
        detail=(detail or None) and detail[:1000],
    )
    session.add(event)
    if action == "refused":
        log.warning("an edge refused a package of app %s: %s", app_id, (detail or "")[:200])
        if vendor_org_id is not None and vendor_org_id != org_id:
            session.flush()
            site = session.get(Site, (org_id, site_id))
            where = site.name if site is not None else "an edge"
            session.add(
                StoreNotice(
                    org_id=org_id,
                    partner_org_id=vendor_org_id,
                    recipient_org_id=org_id,
                    subject="install",
                    subject_id=event.id,
                    message=(f"{where}'s edge refused {app_id} {version or ''}: {detail or ''}")[
                        :400
                    ],
                    created_at=utcnow(),
                    notify_after=utcnow(),
                )
            )
    return event


def _rows(session: Session, *, refused: bool) -> list[SiteInstall]:
    query = (
        select(InstallEvent, Site.name)
        .join(Site, (Site.org_id == InstallEvent.org_id) & (Site.id == InstallEvent.site_id))
        .order_by(InstallEvent.at)
    )
    rows = [
        SiteInstall(e.site_id, name, e.app_id, e.version, e.action, e.at, e.detail)
        for e, name in session.execute(query)
        if (e.action == "refused") == refused
    ]
    return rows


def site_installs(session: Session) -> list[SiteInstall]:
    """Return the apps installed at each of the caller's sites (latest report per app)."""
    latest: dict[tuple[uuid.UUID, str], SiteInstall] = {}
    for row in _rows(session, refused=False):
        latest[(row.site_id, row.app_id)] = row
    return sorted(
        (r for r in latest.values() if r.action != "uninstalled"),
        key=lambda r: (r.site, r.app_id),
    )


def recent_refusals(session: Session, limit: int = 20) -> list[SiteInstall]:
    """Return the caller's most recent refused packages, newest first."""
    return list(reversed(_rows(session, refused=True)))[:limit]
