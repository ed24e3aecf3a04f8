"""Entitlement checks and usage metering: what the app runtime asks before and after a run.

- :func:`entitlement_allows_run` answers whether an organisation (at a site) may start a
  new run of an app now, and why not: no entitlement, expired, study cap reached. It only
  reads, so the runtime may ask as often as it likes.
- :func:`record_usage` meters one run (studies processed, runs) against the entitlement
  that allows it, idempotently per ``run_key``; it refuses a run that is not allowed, and
  ends a trial's entitlement the moment its cap is reached (audited, both sides told).
- :func:`usage_rows` / :func:`usage_csv` total the metered usage per entitlement over a
  period, for invoicing (the customer's or the vendor's side).

Sessions are tenant sessions: the hospital's for the checks (an edge's site token is its
hospital's), either party's for the export.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from medcoop.hub.db.base import utcnow
from medcoop.hub.db.store_models import StoreEntitlement, StoreUsage
from medcoop.hub.services.store.commerce import end_entitlement
from medcoop.hub.services.store.errors import RunRefusedError

__all__ = [
    "USAGE_COLUMNS",
    "RunDecision",
    "UsageOutcome",
    "UsageRow",
    "entitlement_allows_run",
    "record_usage",
    "usage_csv",
    "usage_rows",
]

#: Paid kinds first: a run is metered on a subscription before a trial's cap is spent.
_PREFERENCE = {"subscription": 0, "quote": 1, "per_study": 2, "free": 3, "trial": 4}


@dataclass(frozen=True, slots=True)
class RunDecision:
    """Whether a new run may start, and on which entitlement (or why not)."""

    allowed: bool
    reason: str
    entitlement_id: uuid.UUID | None = None
    kind: str | None = None
    studies_left: int | None = None
    expires_at: datetime | None = None


def _why_not(entitlement: StoreEntitlement, now: datetime) -> str | None:
    if entitlement.state != "active":
        return f"{entitlement.kind} entitlement {entitlement.state}"
    if entitlement.expires_at is not None and entitlement.expires_at <= now:
        return f"{entitlement.kind} entitlement expired"
    if entitlement.study_cap is not None and entitlement.studies_used >= entitlement.study_cap:
        return f"{entitlement.kind} study cap of {entitlement.study_cap} reached"
    return None


def _candidates(
    session: Session, org_id: uuid.UUID, listing_key: str, site_id: uuid.UUID | None
) -> list[StoreEntitlement]:
    site: ColumnElement[bool] = StoreEntitlement.site_id.is_(None)
    if site_id is not None:
        site = site | (StoreEntitlement.site_id == site_id)
    rows = session.scalars(
        select(StoreEntitlement).where(
            StoreEntitlement.org_id == org_id,
            StoreEntitlement.listing_key == listing_key,
            site,
        )
    ).all()
    return sorted(rows, key=lambda e: (_PREFERENCE.get(e.kind, 9), e.starts_at))


def entitlement_allows_run(
    session: Session,
    *,
    org_id: uuid.UUID,
    listing_key: str,
    site_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> RunDecision:
    """Whether ``org_id`` (at ``site_id``) may start a new run of the app ``listing_key``
    (its manifest id) at ``now``: an active entitlement, unexpired, under its study cap.

    An expired trial, or one at its cap, stops new runs; runs already started finish.
    """
    now = now or utcnow()
    reasons: list[str] = []
    for entitlement in _candidates(session, org_id, listing_key, site_id):
        why = _why_not(entitlement, now)
        if why is not None:
            reasons.append(why)
            continue
        left = (
            entitlement.study_cap - entitlement.studies_used
            if entitlement.study_cap is not None
            else None
        )
        return RunDecision(
            True, "entitled", entitlement.id, entitlement.kind, left, entitlement.expires_at
        )
    return RunDecision(False, reasons[-1] if reasons else f"no entitlement to {listing_key}")


@dataclass(frozen=True, slots=True)
class UsageOutcome:
    """A metered run: its usage row, and the decision it was metered under."""

    usage: StoreUsage
    decision: RunDecision
    replayed: bool


def record_usage(
    session: Session,
    *,
    org_id: uuid.UUID,
    listing_key: str,
    run_key: str,
    site_id: uuid.UUID | None = None,
    studies: int = 1,
    runs: int = 1,
    now: datetime | None = None,
) -> UsageOutcome:
    """Meter one run of ``listing_key`` (``studies`` processed) for ``org_id``.

    ``run_key`` (the runtime's run id) makes it idempotent: the same key is metered once.
    Raises :class:`RunRefusedError` when no entitlement allows the run. A capped
    entitlement is ended when the run reaches its cap (its trial expires with it).
    """
    if studies < 0 or runs < 0:
        raise ValueError("usage is counted up, never down")
    now = now or utcnow()
    earlier = session.scalar(
        select(StoreUsage).where(StoreUsage.org_id == org_id, StoreUsage.run_key == run_key)
    )
    if earlier is not None:
        decision = RunDecision(True, "already metered", earlier.entitlement_id)
        return UsageOutcome(earlier, decision, replayed=True)
    decision = entitlement_allows_run(
        session, org_id=org_id, listing_key=listing_key, site_id=site_id, now=now
    )
    if not decision.allowed or decision.entitlement_id is None:
        raise RunRefusedError(decision.reason)
    entitlement = session.get(StoreEntitlement, (org_id, decision.entitlement_id))
    assert entitlement is not None
    usage = StoreUsage(
        org_id=org_id,
        partner_org_id=entitlement.partner_org_id,
        entitlement_id=entitlement.id,
        listing_key=listing_key,
        site_id=site_id,
        run_key=run_key[:100],
        studies=studies,
        runs=runs,
        at=now,
    )
    session.add(usage)
    entitlement.studies_used += studies
    entitlement.runs_used += runs
    if entitlement.study_cap is not None and entitlement.studies_used >= entitlement.study_cap:
        end_entitlement(
            session, entitlement, "expire", now, f"study cap of {entitlement.study_cap} reached"
        )
    session.flush()
    return UsageOutcome(usage, decision, replayed=False)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Metered usage of one entitlement over a period."""

    customer_org_id: uuid.UUID
    vendor_org_id: uuid.UUID
    entitlement_id: uuid.UUID
    listing_key: str
    site_id: uuid.UUID | None
    studies: int
    runs: int


def usage_rows(
    session: Session,
    *,
    side: Literal["customer", "vendor"],
    org_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> list[UsageRow]:
    """Usage per entitlement in ``[start, end)``, for the customer's or the vendor's side."""
    party = StoreUsage.org_id if side == "customer" else StoreUsage.partner_org_id
    rows = session.execute(
        select(
            StoreUsage.org_id,
            StoreUsage.partner_org_id,
            StoreUsage.entitlement_id,
            StoreUsage.listing_key,
            StoreUsage.site_id,
            func.sum(StoreUsage.studies),
            func.sum(StoreUsage.runs),
        )
        .where(party == org_id, StoreUsage.at >= start, StoreUsage.at < end)
        .group_by(
            StoreUsage.org_id,
            StoreUsage.partner_org_id,
            StoreUsage.entitlement_id,
            StoreUsage.listing_key,
            StoreUsage.site_id,
        )
        .order_by(StoreUsage.listing_key, StoreUsage.org_id)
    ).all()
    return [UsageRow(a, b, c, d, e, int(f or 0), int(g or 0)) for a, b, c, d, e, f, g in rows]


USAGE_COLUMNS = (
    "period_start",
    "period_end",
    "customer_org_id",
    "vendor_org_id",
    "entitlement_id",
    "app",
    "site_id",
    "studies",
    "runs",
)


def usage_csv(rows: list[UsageRow], *, start: datetime, end: datetime) -> str:
    """The usage rows as CSV (one line per entitlement), for invoicing."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(USAGE_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                start.isoformat(),
                end.isoformat(),
                r.customer_org_id,
                r.vendor_org_id,
                r.entitlement_id,
                r.listing_key,
                r.site_id or "",
                r.studies,
                r.runs,
            ]
        )
    return out.getvalue()
