"""The community protocol library: summarise own protocols, publish (opt-in), browse, adopt.

Summaries come from the organisation's protocol summaries, kept at ingest beside the
dose summaries (tenant-scoped session; ``medcoop hub rebuild-summaries`` refills them). Publishing
stores a :class:`~medcoop.analytics.protocols.PublishedProtocol` for one protocol the
caller chose, refused under ``min_studies``. Browsing reads every organisation's
published protocols with a session pooled for the protocol library (it sees no other
table) and never returns who published them beyond the label the publisher chose.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.protocols import (
    ComparisonRow,
    ProtocolSummary,
    PublishedProtocol,
    PublishError,
    compare,
    publish,
    summary_from_sketches,
)
from medcoop.analytics.sketches import merge_grouped
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.analytics_models import ProtocolCell, PublishedProtocolRow
from medcoop.hub.db.tenancy import concerns, pooled
from medcoop.hub.errors import HubError, NotFoundError
from medcoop.hub.services.analytics.dose import require_site

__all__ = ["compare_with_own", "get_published", "library", "own_protocols", "publish_protocol"]


def own_protocols(session: Session, site_id: uuid.UUID | None = None) -> dict[str, ProtocolSummary]:
    """Return summaries of the organisation's protocols (optionally of one site).

    Read from the protocol summaries ingest keeps (one statement over cells, merged per
    protocol and quantity), never from the studies: counts are exact, quartiles within
    the sketches' 1 %.
    """
    query = select(ProtocolCell.protocol, ProtocolCell.quantity, ProtocolCell.sketch).where(
        ProtocolCell.n > 0
    )
    if site_id is not None:
        require_site(session, site_id)
        query = query.where(ProtocolCell.site_id == site_id)
    grouped: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for protocol, quantity, sketch in session.execute(query):
        grouped[protocol].append((quantity, bytes(sketch)))
    return {
        name: summary_from_sketches(name, merge_grouped(grouped[name]))
        for name in sorted(grouped)
    }


def publish_protocol(
    session: Session,
    org_id: uuid.UUID,
    *,
    name: str,
    description: str,
    publisher: str,
    now: datetime,
    site_id: uuid.UUID | None = None,
) -> PublishedProtocolRow:
    """Publish one of the organisation's protocols (the caller commits).

    Raises
    ------
    NotFoundError
        The organisation has no studies with this protocol.
    HubError
        Publishing was refused (too few studies, no description): 400 with the reason.
    """
    summary = own_protocols(session, site_id).get(name)
    if summary is None:
        raise NotFoundError("protocol", name)
    try:
        document = publish(summary, description=description, published_at=now, publisher=publisher)
    except PublishError as exc:
        raise HubError(str(exc)) from exc
    row = PublishedProtocolRow(
        org_id=org_id,
        name=summary.name,
        modality=summary.modality,
        body_region=summary.body_region,
        n_studies=summary.n_studies,
        publisher=publisher,
        document=document.model_dump(mode="json"),
        published_at=now,
    )
    session.add(row)
    return row


def library(pool: Session, modality: str | None = None) -> list[PublishedProtocolRow]:
    """Return every organisation's published protocols, newest first (pooled session)."""
    pooled(pool, Purpose.PROTOCOL_LIBRARY)
    query = select(PublishedProtocolRow)
    if modality is not None:
        query = query.where(PublishedProtocolRow.modality == modality)
    rows = list(pool.scalars(query.order_by(PublishedProtocolRow.published_at.desc())))
    _concerns(pool, rows)
    return rows


def _concerns(pool: Session, rows: list[PublishedProtocolRow]) -> None:
    """Tell the access log what the library read: studies summarised, of how many
    publishing organisations (the library knows no site)."""
    concerns(pool, records=sum(r.n_studies for r in rows), sites=len({r.org_id for r in rows}))


def get_published(pool: Session, protocol_id: uuid.UUID) -> PublishedProtocol:
    """Return one published protocol from the library."""
    pooled(pool, Purpose.PROTOCOL_LIBRARY)
    row = pool.scalar(select(PublishedProtocolRow).where(PublishedProtocolRow.id == protocol_id))
    if row is None:
        raise NotFoundError("protocol", protocol_id)
    _concerns(pool, [row])
    return PublishedProtocol.model_validate(row.document)


def compare_with_own(
    session: Session, pool: Session, protocol_id: uuid.UUID, own_name: str
) -> tuple[PublishedProtocol, ProtocolSummary, list[ComparisonRow]]:
    """Compare a published protocol with one of the organisation's own, side by side."""
    published = get_published(pool, protocol_id)
    own = own_protocols(session).get(own_name)
    if own is None:
        raise NotFoundError("protocol", own_name)
    return published, own, compare(own, published.summary)
