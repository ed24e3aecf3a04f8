"""Request and response bodies of ``/api/v1/store`` (the API's view of the store's rows)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EntitlementOut",
    "EventOut",
    "FacetValueOut",
    "ListingDetailOut",
    "ListingOut",
    "OrderIn",
    "OrderOut",
    "QuoteAnswerIn",
    "QuoteIn",
    "QuoteOut",
    "ReviewIn",
    "ReviewOut",
    "RunCheckIn",
    "RunDecisionOut",
    "SearchOut",
    "ServiceAdvanceIn",
    "ServiceRequestIn",
    "ServiceRequestOut",
    "TrialIn",
    "TrialOut",
    "UsageIn",
    "UsageOut",
    "VendorIn",
    "VendorOut",
    "VersionOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ListingOut(_Out):
    """A listing in search results."""

    id: uuid.UUID
    kind: str
    listing_key: str
    vendor_slug: str
    vendor_name: str
    title: str
    summary: str
    category: str
    latest_version: str | None
    has_trial: bool
    rank: float = 0.0


class FacetValueOut(BaseModel):
    """One facet value and how many listings have it."""

    value: str
    count: int


class SearchOut(BaseModel):
    """A page of the catalogue and every facet's counts."""

    total: int
    limit: int
    offset: int
    items: list[ListingOut]
    facets: dict[str, list[FacetValueOut]]


class VersionOut(_Out):
    """One published version of an app."""

    version: str
    changelog: str
    published_at: datetime
    target_path: str | None


class ReviewOut(_Out):
    """A review (by an organisation that held an entitlement)."""

    rating: int
    text: str
    created_at: datetime


class ListingDetailOut(BaseModel):
    """A listing page: the listing, its full description (manifest), versions, reviews."""

    listing: ListingOut
    description: str
    spec: dict[str, Any]
    versions: list[VersionOut]
    reviews: list[ReviewOut]
    rating: float | None


class VendorIn(_In):
    """Register the caller's organisation as a vendor."""

    slug: Annotated[str, Field(min_length=2, max_length=63)]
    display_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class VendorOut(_Out):
    """A vendor and whether the platform approved it."""

    org_id: uuid.UUID
    slug: str
    display_name: str
    status: str
    requested_at: datetime
    approved_at: datetime | None


class TrialIn(_In):
    """A trial request."""

    site_id: uuid.UUID | None = None
    note: Annotated[str, Field(max_length=2000)] = ""


class TrialOut(_Out):
    """A trial."""

    id: uuid.UUID
    org_id: uuid.UUID
    partner_org_id: uuid.UUID
    listing_id: uuid.UUID
    listing_key: str
    site_id: uuid.UUID | None
    state: str
    days: int
    study_cap: int
    note: str
    requested_at: datetime
    updated_at: datetime
    entitlement_id: uuid.UUID | None


class QuoteIn(_In):
    """A quotation request: volumes, sites, questions."""

    studies_per_year: Annotated[int, Field(ge=1)] | None = None
    site_ids: list[uuid.UUID] = []
    questions: Annotated[str, Field(max_length=4000)] = ""


class QuoteAnswerIn(_In):
    """The vendor's quote."""

    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    terms: Annotated[str, Field(max_length=4000)] = ""
    valid_until: datetime


class QuoteOut(_Out):
    """A quotation."""

    id: uuid.UUID
    org_id: uuid.UUID
    partner_org_id: uuid.UUID
    listing_id: uuid.UUID
    state: str
    studies_per_year: int | None
    site_ids: list[str]
    questions: str
    price_amount: str | None
    currency: str | None
    terms: str | None
    valid_until: datetime | None
    order_id: uuid.UUID | None
    requested_at: datetime
    updated_at: datetime


class OrderIn(_In):
    """An order at the listed terms."""

    pricing: Literal["subscription", "per_study", "free"]
    plan: str | None = None
    site_ids: list[uuid.UUID] = []


class OrderOut(_Out):
    """An order (payment happens outside the store)."""

    id: uuid.UUID
    org_id: uuid.UUID
    partner_org_id: uuid.UUID
    listing_id: uuid.UUID
    pricing: str
    plan: str | None
    quote_id: uuid.UUID | None
    trial_id: uuid.UUID | None
    site_ids: list[str]
    price_amount: str | None
    currency: str | None
    state: str
    placed_at: datetime
    ends_at: datetime | None


class EntitlementOut(_Out):
    """An entitlement to run an app (per organisation, or per site)."""

    id: uuid.UUID
    org_id: uuid.UUID
    partner_org_id: uuid.UUID
    listing_id: uuid.UUID
    listing_key: str
    site_id: uuid.UUID | None
    kind: str
    state: str
    starts_at: datetime
    expires_at: datetime | None
    study_cap: int | None
    studies_used: int
    runs_used: int


class ServiceRequestIn(_In):
    """An inquiry about a service."""

    message: Annotated[str, Field(max_length=4000)] = ""


class ServiceAdvanceIn(_In):
    """One step along the service path, with what that step needs."""

    action: Literal["schedule_call", "propose", "agree", "deliver", "complete", "decline"]
    scoping_call_at: datetime | None = None
    proposal: Annotated[str, Field(max_length=4000)] | None = None
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    agreement_ref: Annotated[str, Field(max_length=200)] | None = None


class ServiceRequestOut(_Out):
    """A service request and where it is on the path."""

    id: uuid.UUID
    org_id: uuid.UUID
    partner_org_id: uuid.UUID
    listing_id: uuid.UUID
    state: str
    message: str
    scoping_call_at: datetime | None
    proposal: str | None
    price_amount: str | None
    currency: str | None
    agreement_ref: str | None
    requested_at: datetime
    updated_at: datetime


class EventOut(_Out):
    """One audit entry: who, when, what changed."""

    step: int
    subject: str
    action: str
    from_state: str | None
    to_state: str | None
    actor_org_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    at: datetime
    detail: dict[str, Any]


class ReviewIn(_In):
    """A rating and review."""

    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, Field(max_length=4000)] = ""


class RunCheckIn(_In):
    """An edge asks whether it may start a run of an app."""

    app_id: Annotated[str, Field(min_length=1, max_length=100)]


class RunDecisionOut(BaseModel):
    """Whether a new run may start, and why not."""

    allowed: bool
    reason: str
    entitlement_id: uuid.UUID | None
    kind: str | None
    studies_left: int | None
    expires_at: datetime | None


class UsageIn(_In):
    """One metered run."""

    app_id: Annotated[str, Field(min_length=1, max_length=100)]
    run_key: Annotated[str, Field(min_length=1, max_length=100)]
    studies: Annotated[int, Field(ge=0, le=100_000)] = 1
    runs: Annotated[int, Field(ge=0, le=100_000)] = 1


class UsageOut(BaseModel):
    """A metered run: the entitlement it counted against; ``replayed`` when already."""

    entitlement_id: uuid.UUID
    replayed: bool
