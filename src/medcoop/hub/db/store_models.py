"""The app store's tables: vendors, listings and their versions, facets, and commerce.

Ownership (``hub/db/tenancy.py``):

- a vendor's own things are :class:`~medcoop.hub.db.base.TenantOwned` by the vendor
  organisation: its vendor record (``store_vendors``), listings, versions, facet rows;
  hospitals read published listings across tenants only through the door, for
  :attr:`~medcoop.hub.db.access.Purpose.CATALOGUE`;
- what a hospital and a vendor share is :class:`~medcoop.hub.db.base.TwoPartyOwned`,
  with the hospital as ``org_id`` and the vendor as ``partner_org_id``: trials, quotes,
  orders, entitlements, usage, service requests, their audit events, and reviews;
- notices (``store_notices``, the store's outbox) are filed like the object they tell
  of, and name the party they are for.

Full-text search keeps its own structure per back end (``hub/services/store/search.py``):
an FTS5 table ``store_search_fts`` on SQLite, an expression GIN index on
``store_listings`` on PostgreSQL; both are created by the migration, not by the models.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, TwoPartyOwned, new_id, utcnow

__all__ = [
    "StoreEntitlement",
    "StoreEvent",
    "StoreListing",
    "StoreListingFacet",
    "StoreListingVersion",
    "StoreNotice",
    "StoreOrder",
    "StoreQuote",
    "StoreReview",
    "StoreServiceRequest",
    "StoreTrial",
    "StoreUsage",
    "StoreVendor",
]


# --- the vendor's own -------------------------------------------------------------------------


class StoreVendor(TenantOwned, Base):
    """An organisation that sells in the store; the platform approves it first."""

    __tablename__ = "store_vendors"

    #: The vendor's slug: its app ids start with it, and it is its TUF delegation path.
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: ``pending``, ``approved`` or ``suspended``.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[uuid.UUID | None] = mapped_column()


class StoreListing(TenantOwned, Base):
    """One app or service in the catalogue, owned by its vendor (``org_id``)."""

    __tablename__ = "store_listings"
    __table_args__ = (
        Index("ix_store_listings_status", "status"),
        # search joins and facet lookups find a listing by id alone (across vendors)
        Index("ix_store_listings_id", "id", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: ``app`` or ``service``.
    kind: Mapped[str] = mapped_column(String(16))
    #: The app id (``acme.chest-triage``) or the service's id, unique in the store.
    listing_key: Mapped[str] = mapped_column(String(100), unique=True)
    vendor_slug: Mapped[str] = mapped_column(String(63))
    vendor_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40))
    #: ``published`` or ``withdrawn``: only published listings are in the catalogue.
    status: Mapped[str] = mapped_column(String(16), default="published")
    latest_version: Mapped[str | None] = mapped_column(String(40))
    #: The latest manifest (apps) or service description (services), as JSON.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    has_trial: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Title, summary and the rest of the searchable text, for the search back ends.
    search_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreListingVersion(TenantOwned, Base):
    """One published version of an app, with its manifest and changelog."""

    __tablename__ = "store_listing_versions"

    listing_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    changelog: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The package's TUF target path once its wheel is published (``vendors/<v>/...``).
    target_path: Mapped[str | None] = mapped_column(String(300))


class StoreListingFacet(TenantOwned, Base):
    """One facet value of a listing (``modality`` = ``CT``): facets are counted here."""

    __tablename__ = "store_listing_facets"
    __table_args__ = (
        Index("ix_store_listing_facets_facet_value", "facet", "value"),
        # facet counts start from the matching listings: a covering index by listing
        Index("ix_store_listing_facets_listing", "listing_id", "facet", "value"),
    )

    listing_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    facet: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(120), primary_key=True)


# --- shared by a hospital (org_id) and a vendor (partner_org_id) ------------------------------


class StoreTrial(TwoPartyOwned, Base):
    """A trial request and its life: requested → approved/declined → expired/converted."""

    __tablename__ = "store_trials"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column()
    listing_key: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[uuid.UUID | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    study_cap: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(2000), default="")
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column()


class StoreQuote(TwoPartyOwned, Base):
    """A quotation: requested → quoted → accepted/declined/expired; accepted → ordered."""

    __tablename__ = "store_quotes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    studies_per_year: Mapped[int | None] = mapped_column(Integer)
    site_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    questions: Mapped[str] = mapped_column(String(4000), default="")
    price_amount: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))
    terms: Mapped[str | None] = mapped_column(String(4000))
    valid_until: Mapped[datetime | None] = mapped_column()
    order_id: Mapped[uuid.UUID | None] = mapped_column()
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreOrder(TwoPartyOwned, Base):
    """A purchase or subscription; placing it issues entitlements (payment is elsewhere)."""

    __tablename__ = "store_orders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column()
    #: ``subscription``, ``per_study``, ``quote`` or ``free``.
    pricing: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str | None] = mapped_column(String(64))
    quote_id: Mapped[uuid.UUID | None] = mapped_column()
    trial_id: Mapped[uuid.UUID | None] = mapped_column()
    site_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_amount: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))
    #: ``active`` or ``cancelled``.
    state: Mapped[str] = mapped_column(String(16))
    placed_by: Mapped[uuid.UUID | None] = mapped_column()
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column()


class StoreEntitlement(TwoPartyOwned, Base):
    """The right of an organisation (at one site, or all) to run an app: capped, expiring."""

    __tablename__ = "store_entitlements"
    __table_args__ = (Index("ix_store_entitlements_org_listing", "org_id", "listing_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column()
    listing_key: Mapped[str] = mapped_column(String(100))
    #: ``None``: every site of the organisation.
    site_id: Mapped[uuid.UUID | None] = mapped_column()
    #: ``trial`` or the order's pricing (``subscription``, ``per_study``, ``quote``, ``free``).
    kind: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[uuid.UUID | None] = mapped_column()
    trial_id: Mapped[uuid.UUID | None] = mapped_column()
    #: ``active``, ``expired``, ``converted`` (a trial turned into an order), ``revoked``.
    state: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    study_cap: Mapped[int | None] = mapped_column(Integer)
    studies_used: Mapped[int] = mapped_column(Integer, default=0)
    runs_used: Mapped[int] = mapped_column(Integer, default=0)


class StoreUsage(TwoPartyOwned, Base):
    """Metered use of an entitlement: one row per run (``run_key`` makes it idempotent)."""

    __tablename__ = "store_usage"
    __table_args__ = (
        UniqueConstraint("org_id", "run_key", name="uq_store_usage_org_run"),
        Index("ix_store_usage_entitlement_at", "entitlement_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    entitlement_id: Mapped[uuid.UUID] = mapped_column()
    listing_key: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[uuid.UUID | None] = mapped_column()
    run_key: Mapped[str] = mapped_column(String(100))
    studies: Mapped[int] = mapped_column(Integer, default=1)
    runs: Mapped[int] = mapped_column(Integer, default=1)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreServiceRequest(TwoPartyOwned, Base):
    """A service path: inquiry → scoping call → proposal → agreement → delivery."""

    __tablename__ = "store_service_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    listing_id: Mapped[uuid.UUID] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(4000), default="")
    scoping_call_at: Mapped[datetime | None] = mapped_column()
    proposal: Mapped[str | None] = mapped_column(String(4000))
    price_amount: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))
    agreement_ref: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreEvent(TwoPartyOwned, Base):
    """The audit trail of commerce: who (organisation, person), when, what changed."""

    __tablename__ = "store_events"
    __table_args__ = (Index("ix_store_events_subject", "org_id", "subject_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    #: ``trial``, ``quote``, ``order``, ``entitlement``, ``service``.
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    #: 1, 2, 3... per subject: the order of its transitions (several share one instant).
    step: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StoreReview(TwoPartyOwned, Base):
    """A rating and review of a listing by an organisation holding an entitlement to it."""

    __tablename__ = "store_reviews"

    listing_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(4000), default="")
    author_user_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the outbox -------------------------------------------------------------------------------


class StoreNotice(TwoPartyOwned, Base):
    """A notice to one party of a commerce object about what just happened: the outbox.

    Filed like the object it tells of (hospital ``org_id``, vendor ``partner_org_id``,
    so either party's transition may write the other's notice); ``recipient_org_id`` is
    the party it is for. Written in the transaction of the transition (never lost), and
    delivered by :class:`medcoop.hub.services.store.notices.StoreNotifier` on the
    recipient's notification channels (its alert settings' e-mail and webhook), with the
    alert notifier's backoff.
    """

    __tablename__ = "store_notices"
    __table_args__ = (Index("ix_store_notices_notify_after", "notify_after"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient_org_id: Mapped[uuid.UUID] = mapped_column()
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    message: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notify_after: Mapped[datetime | None] = mapped_column()
    notified_at: Mapped[datetime | None] = mapped_column()
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notify_error: Mapped[str | None] = mapped_column(String(400))
    notify_done: Mapped[list[str] | None] = mapped_column(JSON)
