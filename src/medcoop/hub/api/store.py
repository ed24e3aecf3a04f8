"""``/api/v1/store``: the app store's API (manifest schema, catalogue, commerce, metering).

Each endpoint names its :class:`~medcoop.hub.services.store.policy.Action`; the policy's
one table says which permission that needs, for this API, the dashboard's store pages
and (through this API) the CLI alike. Rows are then the tenancy layer's: a hospital sees
its own requests, orders and entitlements, a vendor its own listings and the requests
made to it, and another tenant's object is a 404. The catalogue is read through the door
for the catalogue purpose. The manifest's JSON Schema is public (vendors validate against
it before they hold an account). Payment processing is out of scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.hub.api.deps import (
    DbSession,
    UserPrincipal,
    WriteSession,
    authenticate_request,
    open_session,
)
from medcoop.hub.api.schemas import ErrorOut, Responses
from medcoop.hub.api.store_schemas import (
    EntitlementOut,
    EventOut,
    FacetValueOut,
    ListingDetailOut,
    ListingOut,
    OrderIn,
    OrderOut,
    QuoteAnswerIn,
    QuoteIn,
    QuoteOut,
    ReviewIn,
    ReviewOut,
    RunCheckIn,
    RunDecisionOut,
    SearchOut,
    ServiceAdvanceIn,
    ServiceRequestIn,
    ServiceRequestOut,
    TrialIn,
    TrialOut,
    UsageIn,
    UsageOut,
    VendorIn,
    VendorOut,
    VersionOut,
)
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.store_models import (
    StoreEntitlement,
    StoreOrder,
    StoreQuote,
    StoreServiceRequest,
    StoreTrial,
    StoreVendor,
)
from medcoop.hub.db.tenancy import pooled, scope_session
from medcoop.hub.errors import NotFoundError
from medcoop.hub.services.accounts import Principal
from medcoop.hub.services.store import commerce, listings, metering
from medcoop.hub.services.store.errors import TransitionError
from medcoop.hub.services.store.journal import Actor, events_of
from medcoop.hub.services.store.policy import Action, authorize, authorize_any
from medcoop.hub.services.store.search import CatalogueQuery, search
from medcoop.store.listing import FACETS
from medcoop.store.manifest import manifest_json_schema

__all__ = ["catalogue", "may", "router"]

router = APIRouter(prefix="/api/v1/store", tags=["store"])
_ERRORS: Responses = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}
_ERRORS_404: Responses = {**_ERRORS, 404: {"model": ErrorOut}}
_ERRORS_409: Responses = {**_ERRORS_404, 409: {"model": ErrorOut}}
_SITE = frozenset({TokenKind.SITE})

_SCHEMA: dict[str, Any] = manifest_json_schema()


def may(action: Action) -> Callable[[Principal], Principal]:
    """Dependency: the calling person, who may take ``action`` (else 403)."""

    def _check(principal: UserPrincipal) -> Principal:
        return authorize(principal, action)

    return _check


def _as(action: Action) -> Any:
    return Annotated[Principal, Depends(may(action))]


@contextmanager
def catalogue(request: Request, principal: Principal) -> Iterator[Session]:
    """A session through the door for the catalogue, on the caller's behalf."""
    with open_session(request) as session:
        yield listings.catalogue_session(session, principal.org_id)


def _terms(request: Request, principal: Principal, key: str) -> commerce.ListingTerms:
    with catalogue(request, principal) as session:
        listing = listings.get_listing(session, key)
        if listing.status != "published":
            raise NotFoundError("listing", key)
        return commerce.ListingTerms.of(listing)


class CsvResponse(PlainTextResponse):
    """A CSV document (``text/csv``)."""

    media_type = "text/csv"


class SchemaResponse(JSONResponse):
    """A JSON Schema document (``application/schema+json``)."""

    media_type = "application/schema+json"


@router.get(
    "/manifest.schema.json",
    summary="The app manifest's JSON Schema",
    response_class=SchemaResponse,
)
def manifest_schema() -> SchemaResponse:
    """Return the JSON Schema every app manifest is validated against at publish."""
    return SchemaResponse(_SCHEMA)


# --- catalogue --------------------------------------------------------------------------------


def _listing_out(listing: Any, rank: float = 0.0) -> ListingOut:
    out = ListingOut.model_validate(listing)
    return out.model_copy(update={"rank": rank})


@router.get("/search", response_model=SearchOut, responses=_ERRORS)
def search_catalogue(
    request: Request,
    principal: _as(Action.SEARCH),  # type: ignore[valid-type]
    q: Annotated[str, Query(max_length=200, description="Words (each a prefix)")] = "",
    kind: Annotated[list[str] | None, Query()] = None,
    category: Annotated[list[str] | None, Query()] = None,
    modality: Annotated[list[str] | None, Query()] = None,
    body_part: Annotated[list[str] | None, Query()] = None,
    regulatory: Annotated[list[str] | None, Query()] = None,
    deployment: Annotated[list[str] | None, Query()] = None,
    vendor: Annotated[list[str] | None, Query()] = None,
    pricing: Annotated[list[str] | None, Query()] = None,
    has_trial: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SearchOut:
    """Search the catalogue: ranked by relevance, filtered by facets, with facet counts."""
    given = locals()
    filters = {f: tuple(given[f]) for f in FACETS if given.get(f)}
    with catalogue(request, principal) as session:
        result = search(session, CatalogueQuery(q, filters, limit, offset))
        items = [_listing_out(h.listing, h.rank) for h in result.hits]
    return SearchOut(
        total=result.total,
        limit=limit,
        offset=offset,
        items=items,
        facets={
            f: [FacetValueOut(value=v, count=c) for v, c in values]
            for f, values in result.facets.items()
        },
    )


@router.get("/listings/{key}", response_model=ListingDetailOut, responses=_ERRORS_404)
def get_listing(
    key: str,
    request: Request,
    principal: _as(Action.VIEW_LISTING),  # type: ignore[valid-type]
) -> ListingDetailOut:
    """A listing page: description, versions with changelogs, documents, reviews."""
    with catalogue(request, principal) as session:
        detail = listings.listing_detail(session, key)
        return ListingDetailOut(
            listing=_listing_out(detail.listing),
            description=detail.listing.description,
            spec=detail.listing.spec,
            versions=[VersionOut.model_validate(v) for v in detail.versions],
            reviews=[ReviewOut.model_validate(r) for r in detail.reviews],
            rating=detail.rating,
        )


# --- the hospital's side ----------------------------------------------------------------------


@router.post(
    "/listings/{key}/trials",
    response_model=TrialOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_409,
)
def request_trial(
    key: str,
    body: TrialIn,
    request: Request,
    principal: _as(Action.REQUEST_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
) -> TrialOut:
    """Request a trial (approved at once when the offer says so)."""
    terms = _terms(request, principal, key)
    trial = commerce.request_trial(
        db, terms, Actor.of(principal), site_id=body.site_id, note=body.note, now=utcnow()
    )
    db.commit()
    return TrialOut.model_validate(trial)


@router.post("/trials/{trial_id}/cancel", response_model=TrialOut, responses=_ERRORS_409)
def cancel_trial(
    trial_id: uuid.UUID,
    principal: _as(Action.CANCEL_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
) -> TrialOut:
    """Withdraw a trial request."""
    trial = commerce.cancel_trial(db, trial_id, Actor.of(principal), now=utcnow())
    db.commit()
    return TrialOut.model_validate(trial)


@router.post(
    "/listings/{key}/quotes",
    response_model=QuoteOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_409,
)
def request_quote(
    key: str,
    body: QuoteIn,
    request: Request,
    principal: _as(Action.REQUEST_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> QuoteOut:
    """Request a quotation: volumes, sites, questions."""
    terms = _terms(request, principal, key)
    quote = commerce.request_quote(
        db,
        terms,
        Actor.of(principal),
        studies_per_year=body.studies_per_year,
        site_ids=body.site_ids,
        questions=body.questions,
        now=utcnow(),
    )
    db.commit()
    return QuoteOut.model_validate(quote)


@router.post("/quotes/{quote_id}/accept", response_model=OrderOut, responses=_ERRORS_409)
def accept_quote(
    quote_id: uuid.UUID,
    request: Request,
    principal: _as(Action.RESPOND_TO_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> OrderOut:
    """Accept a valid quote: it becomes an order with its entitlements."""
    quote = db.scalar(select(StoreQuote).where(StoreQuote.id == quote_id))
    if quote is None:
        raise NotFoundError("quote", quote_id)
    with catalogue(request, principal) as session:
        key = listings.get_listing(session, quote.listing_id).listing_key
    try:
        order = commerce.accept_quote(
            db, quote_id, Actor.of(principal), listing_key=key, now=utcnow()
        )
    except TransitionError:
        db.commit()  # a quote found past its validity stays expired
        raise
    db.commit()
    return OrderOut.model_validate(order)


@router.post("/quotes/{quote_id}/decline", response_model=QuoteOut, responses=_ERRORS_409)
def decline_quote(
    quote_id: uuid.UUID,
    principal: _as(Action.RESPOND_TO_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> QuoteOut:
    """Decline a quote."""
    quote = commerce.decline_quote(db, quote_id, Actor.of(principal), now=utcnow())
    db.commit()
    return QuoteOut.model_validate(quote)


@router.post(
    "/listings/{key}/orders",
    response_model=OrderOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_409,
)
def place_order(
    key: str,
    body: OrderIn,
    request: Request,
    principal: _as(Action.PLACE_ORDER),  # type: ignore[valid-type]
    db: WriteSession,
) -> OrderOut:
    """Order at the listed terms (subscription plan, per study, free)."""
    terms = _terms(request, principal, key)
    order = commerce.place_order(
        db,
        terms,
        Actor.of(principal),
        pricing=body.pricing,
        plan=body.plan,
        site_ids=body.site_ids,
        now=utcnow(),
    )
    db.commit()
    return OrderOut.model_validate(order)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, responses=_ERRORS_409)
def cancel_order(
    order_id: uuid.UUID,
    principal: _as(Action.CANCEL_ORDER),  # type: ignore[valid-type]
    db: WriteSession,
) -> OrderOut:
    """Cancel an order; its entitlements are revoked."""
    order = commerce.cancel_order(db, order_id, Actor.of(principal), now=utcnow())
    db.commit()
    return OrderOut.model_validate(order)


@router.post(
    "/listings/{key}/reviews",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_409,
)
def add_review(
    key: str,
    body: ReviewIn,
    request: Request,
    principal: _as(Action.REVIEW),  # type: ignore[valid-type]
    db: WriteSession,
) -> ReviewOut:
    """Rate and review a listing (organisations holding an entitlement only)."""
    terms = _terms(request, principal, key)
    review = commerce.add_review(
        db, terms, Actor.of(principal), rating=body.rating, text=body.text, now=utcnow()
    )
    db.commit()
    return ReviewOut.model_validate(review)


@router.post(
    "/listings/{key}/service-requests",
    response_model=ServiceRequestOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_409,
)
def request_service(
    key: str,
    body: ServiceRequestIn,
    request: Request,
    principal: _as(Action.REQUEST_SERVICE),  # type: ignore[valid-type]
    db: WriteSession,
) -> ServiceRequestOut:
    """Make an inquiry about a service (the service path's first step)."""
    terms = _terms(request, principal, key)
    row = commerce.request_service(
        db, terms, Actor.of(principal), message=body.message, now=utcnow()
    )
    db.commit()
    return ServiceRequestOut.model_validate(row)


def _advance(
    db: Session, principal: Principal, request_id: uuid.UUID, body: ServiceAdvanceIn
) -> ServiceRequestOut:
    row = commerce.advance_service(
        db,
        request_id,
        body.action,
        Actor.of(principal),
        now=utcnow(),
        scoping_call_at=body.scoping_call_at,
        proposal=body.proposal,
        price=body.price,
        currency=body.currency,
        agreement_ref=body.agreement_ref,
    )
    db.commit()
    return ServiceRequestOut.model_validate(row)


@router.post(
    "/service-requests/{request_id}/advance",
    response_model=ServiceRequestOut,
    responses=_ERRORS_409,
)
def advance_service_as_customer(
    request_id: uuid.UUID,
    body: ServiceAdvanceIn,
    principal: _as(Action.ADVANCE_SERVICE_AS_CUSTOMER),  # type: ignore[valid-type]
    db: WriteSession,
) -> ServiceRequestOut:
    """The customer's steps of the service path (agree, complete, decline)."""
    return _advance(db, principal, request_id, body)


def _mine(db: Session, model: Any, org_id: uuid.UUID, *, vendor: bool) -> list[Any]:
    party = model.partner_org_id if vendor else model.org_id
    order = getattr(model, "updated_at", None) or getattr(model, "placed_at", None)
    statement = select(model).where(party == org_id)
    if order is not None:
        statement = statement.order_by(order.desc())
    return list(db.scalars(statement.limit(500)))


@router.get("/trials", response_model=list[TrialOut], responses=_ERRORS)
def list_trials(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[TrialOut]:
    """The organisation's trials (newest first)."""
    return [
        TrialOut.model_validate(r) for r in _mine(db, StoreTrial, principal.org_id, vendor=False)
    ]


@router.get("/quotes", response_model=list[QuoteOut], responses=_ERRORS)
def list_quotes(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[QuoteOut]:
    """The organisation's quotation requests."""
    return [
        QuoteOut.model_validate(r) for r in _mine(db, StoreQuote, principal.org_id, vendor=False)
    ]


@router.get("/orders", response_model=list[OrderOut], responses=_ERRORS)
def list_orders(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[OrderOut]:
    """The organisation's orders."""
    return [
        OrderOut.model_validate(r) for r in _mine(db, StoreOrder, principal.org_id, vendor=False)
    ]


@router.get("/entitlements", response_model=list[EntitlementOut], responses=_ERRORS)
def list_entitlements(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[EntitlementOut]:
    """The organisation's entitlements, per site, with their use against their caps."""
    rows = db.scalars(
        select(StoreEntitlement)
        .where(StoreEntitlement.org_id == principal.org_id)
        .order_by(StoreEntitlement.starts_at.desc())
    )
    return [EntitlementOut.model_validate(r) for r in rows]


@router.get("/service-requests", response_model=list[ServiceRequestOut], responses=_ERRORS)
def list_service_requests(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[ServiceRequestOut]:
    """The organisation's service requests."""
    rows = _mine(db, StoreServiceRequest, principal.org_id, vendor=False)
    return [ServiceRequestOut.model_validate(r) for r in rows]


@router.get("/events/{subject_id}", response_model=list[EventOut], responses=_ERRORS_404)
def audit_trail(
    subject_id: uuid.UUID,
    principal: UserPrincipal,
    db: DbSession,
) -> list[EventOut]:
    """The audit trail (who, when, what changed) of a trial, quote, order, entitlement or
    service request, for either party."""
    authorize_any(principal, Action.READ_OWN_COMMERCE, Action.READ_VENDOR_COMMERCE)
    trail = events_of(db, subject_id)
    if not trail:
        raise NotFoundError("store object", subject_id)
    return [EventOut.model_validate(e) for e in trail]


_PERIOD_HELP = "ISO date-time; default: the last 30 days"


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or utcnow()
    return start or end - timedelta(days=30), end


@router.get("/usage.csv", response_class=CsvResponse, responses=_ERRORS)
def usage_export(
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
    start: Annotated[datetime | None, Query(description=_PERIOD_HELP)] = None,
    end: Annotated[datetime | None, Query(description=_PERIOD_HELP)] = None,
) -> CsvResponse:
    """The organisation's metered usage per entitlement over a period, as CSV."""
    start, end = _period(start, end)
    rows = metering.usage_rows(db, side="customer", org_id=principal.org_id, start=start, end=end)
    return CsvResponse(metering.usage_csv(rows, start=start, end=end))


# --- the vendor's side ------------------------------------------------------------------------


@router.post("/vendor", response_model=VendorOut, status_code=201, responses=_ERRORS_409)
def register_vendor(
    body: VendorIn,
    principal: _as(Action.REGISTER_VENDOR),  # type: ignore[valid-type]
    db: WriteSession,
) -> VendorOut:
    """Register the organisation as a store vendor (pending the platform's approval)."""
    vendor = listings.register_vendor(db, principal.org_id, body.slug, body.display_name)
    db.commit()
    return VendorOut.model_validate(vendor)


@router.get("/vendor", response_model=VendorOut, responses=_ERRORS_404)
def get_vendor(
    principal: _as(Action.MANAGE_LISTINGS),  # type: ignore[valid-type]
    db: DbSession,
) -> VendorOut:
    """The organisation's vendor record."""
    vendor = listings.vendor_of(db)
    if vendor is None:
        raise NotFoundError("vendor", principal.org_id)
    return VendorOut.model_validate(vendor)


@router.post(
    "/vendor/listings",
    response_model=VersionOut,
    status_code=201,
    responses={**_ERRORS_409, 422: {"model": ErrorOut}},
)
def publish_app(
    manifest: Annotated[dict[str, Any], Body(description="An app manifest")],
    principal: _as(Action.PUBLISH_LISTING),  # type: ignore[valid-type]
    db: WriteSession,
) -> VersionOut:
    """Publish a version of an app from its manifest (refused with every problem)."""
    version = listings.publish_app(db, manifest, now=utcnow())
    db.commit()
    return VersionOut.model_validate(version)


@router.post(
    "/vendor/services",
    response_model=ListingOut,
    status_code=201,
    responses={**_ERRORS_409, 422: {"model": ErrorOut}},
)
def publish_service(
    offering: Annotated[dict[str, Any], Body(description="A service offering")],
    principal: _as(Action.PUBLISH_LISTING),  # type: ignore[valid-type]
    db: WriteSession,
) -> ListingOut:
    """Publish (or update) a service listing."""
    listing = listings.publish_service(db, offering, now=utcnow())
    db.commit()
    return _listing_out(listing)


@router.get("/vendor/listings", response_model=list[ListingOut], responses=_ERRORS)
def own_listings(
    principal: _as(Action.MANAGE_LISTINGS),  # type: ignore[valid-type]
    db: DbSession,
) -> list[ListingOut]:
    """The vendor's own listings, published or withdrawn."""
    return [_listing_out(row) for row in listings.own_listings(db)]


@router.post(
    "/vendor/listings/{listing_id}/withdraw", response_model=ListingOut, responses=_ERRORS_404
)
def withdraw_listing(
    listing_id: uuid.UUID,
    principal: _as(Action.MANAGE_LISTINGS),  # type: ignore[valid-type]
    db: WriteSession,
) -> ListingOut:
    """Take a listing out of the catalogue (entitlements already issued stay)."""
    listing = listings.withdraw_listing(db, listing_id, now=utcnow())
    db.commit()
    return _listing_out(listing)


@router.get("/vendor/trials", response_model=list[TrialOut], responses=_ERRORS)
def vendor_trials(
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[TrialOut]:
    """Trials of the vendor's apps."""
    return [
        TrialOut.model_validate(r) for r in _mine(db, StoreTrial, principal.org_id, vendor=True)
    ]


def _decide(db: Session, principal: Principal, trial_id: uuid.UUID, approve: bool) -> TrialOut:
    trial = commerce.decide_trial(db, trial_id, Actor.of(principal), approve=approve, now=utcnow())
    db.commit()
    return TrialOut.model_validate(trial)


@router.post("/vendor/trials/{trial_id}/approve", response_model=TrialOut, responses=_ERRORS_409)
def approve_trial(
    trial_id: uuid.UUID,
    principal: _as(Action.DECIDE_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
) -> TrialOut:
    """Approve a trial: issues its time- and study-capped entitlement."""
    return _decide(db, principal, trial_id, True)


@router.post("/vendor/trials/{trial_id}/decline", response_model=TrialOut, responses=_ERRORS_409)
def decline_trial(
    trial_id: uuid.UUID,
    principal: _as(Action.DECIDE_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
) -> TrialOut:
    """Decline a trial request."""
    return _decide(db, principal, trial_id, False)


@router.get("/vendor/quotes", response_model=list[QuoteOut], responses=_ERRORS)
def vendor_quotes(
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[QuoteOut]:
    """Quotation requests made to the vendor."""
    return [
        QuoteOut.model_validate(r) for r in _mine(db, StoreQuote, principal.org_id, vendor=True)
    ]


@router.post("/vendor/quotes/{quote_id}/answer", response_model=QuoteOut, responses=_ERRORS_409)
def answer_quote(
    quote_id: uuid.UUID,
    body: QuoteAnswerIn,
    principal: _as(Action.ANSWER_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> QuoteOut:
    """Quote a price, terms and a validity date."""
    quote = commerce.answer_quote(
        db,
        quote_id,
        Actor.of(principal),
        price=body.price,
        currency=body.currency,
        terms=body.terms,
        valid_until=body.valid_until,
        now=utcnow(),
    )
    db.commit()
    return QuoteOut.model_validate(quote)


@router.post("/vendor/quotes/{quote_id}/refuse", response_model=QuoteOut, responses=_ERRORS_409)
def refuse_quote(
    quote_id: uuid.UUID,
    principal: _as(Action.ANSWER_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> QuoteOut:
    """Decline to quote."""
    quote = commerce.refuse_quote(db, quote_id, Actor.of(principal), now=utcnow())
    db.commit()
    return QuoteOut.model_validate(quote)


@router.get("/vendor/orders", response_model=list[OrderOut], responses=_ERRORS)
def vendor_orders(
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[OrderOut]:
    """Orders of the vendor's listings."""
    return [
        OrderOut.model_validate(r) for r in _mine(db, StoreOrder, principal.org_id, vendor=True)
    ]


@router.get("/vendor/service-requests", response_model=list[ServiceRequestOut], responses=_ERRORS)
def vendor_service_requests(
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> list[ServiceRequestOut]:
    """Service requests made to the vendor."""
    rows = _mine(db, StoreServiceRequest, principal.org_id, vendor=True)
    return [ServiceRequestOut.model_validate(r) for r in rows]


@router.post(
    "/vendor/service-requests/{request_id}/advance",
    response_model=ServiceRequestOut,
    responses=_ERRORS_409,
)
def advance_service_as_vendor(
    request_id: uuid.UUID,
    body: ServiceAdvanceIn,
    principal: _as(Action.ADVANCE_SERVICE_AS_VENDOR),  # type: ignore[valid-type]
    db: WriteSession,
) -> ServiceRequestOut:
    """The vendor's steps of the service path (scoping call, proposal, delivery)."""
    return _advance(db, principal, request_id, body)


@router.get("/vendor/usage.csv", response_class=CsvResponse, responses=_ERRORS)
def vendor_usage_export(
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
    start: Annotated[datetime | None, Query(description=_PERIOD_HELP)] = None,
    end: Annotated[datetime | None, Query(description=_PERIOD_HELP)] = None,
) -> CsvResponse:
    """Metered usage of the vendor's apps per customer entitlement, as CSV (invoicing)."""
    start, end = _period(start, end)
    rows = metering.usage_rows(db, side="vendor", org_id=principal.org_id, start=start, end=end)
    return CsvResponse(metering.usage_csv(rows, start=start, end=end))


# --- the platform -----------------------------------------------------------------------------


@router.get("/vendors", response_model=list[VendorOut], responses=_ERRORS)
def list_vendors(
    request: Request,
    principal: _as(Action.APPROVE_VENDOR),  # type: ignore[valid-type]
) -> list[VendorOut]:
    """Every vendor, pending ones first (the platform's approval queue)."""
    with open_session(request) as session:
        pooled(session, Purpose.ADMINISTER)
        rows = session.scalars(
            select(StoreVendor).order_by(StoreVendor.status.desc(), StoreVendor.requested_at)
        )
        return [VendorOut.model_validate(r) for r in rows]


@router.post("/vendors/{org_id}/approve", response_model=VendorOut, responses=_ERRORS_404)
def approve_vendor(
    org_id: uuid.UUID,
    request: Request,
    principal: _as(Action.APPROVE_VENDOR),  # type: ignore[valid-type]
) -> VendorOut:
    """Approve a vendor organisation: it may publish from now on."""
    with open_session(request) as session:
        pooled(session, Purpose.ADMINISTER)
        begin_write(session)
        vendor = listings.approve_vendor(session, org_id, by=principal.user_id, now=utcnow())
        session.commit()
        return VendorOut.model_validate(vendor)


# --- edges: entitlement checks and metering ---------------------------------------------------


def _edge(request: Request, action: Action) -> Principal:
    return authorize(authenticate_request(request, _SITE), action)


def _check_run(request: Request, body: RunCheckIn) -> RunDecisionOut:
    principal = _edge(request, Action.CHECK_ENTITLEMENT)
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        decision = metering.entitlement_allows_run(
            session, org_id=principal.org_id, listing_key=body.app_id, site_id=principal.site_id
        )
    return RunDecisionOut(
        allowed=decision.allowed,
        reason=decision.reason,
        entitlement_id=decision.entitlement_id,
        kind=decision.kind,
        studies_left=decision.studies_left,
        expires_at=decision.expires_at,
    )


@router.post("/entitlements/check", response_model=RunDecisionOut, responses=_ERRORS)
async def check_entitlement(body: RunCheckIn, request: Request) -> RunDecisionOut:
    """An edge asks whether it may start a new run of an app at its site (site token)."""
    return await run_in_threadpool(_check_run, request, body)


def _meter(request: Request, body: UsageIn) -> UsageOut:
    principal = _edge(request, Action.RECORD_USAGE)
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        begin_write(session)
        outcome = metering.record_usage(
            session,
            org_id=principal.org_id,
            listing_key=body.app_id,
            run_key=body.run_key,
            site_id=principal.site_id,
            studies=body.studies,
            runs=body.runs,
        )
        session.commit()
        return UsageOut(entitlement_id=outcome.usage.entitlement_id, replayed=outcome.replayed)


@router.post("/usage", response_model=UsageOut, responses={**_ERRORS, 409: {"model": ErrorOut}})
async def record_usage(body: UsageIn, request: Request) -> UsageOut:
    """An edge meters one run (site token); refused (409) when no entitlement allows it."""
    return await run_in_threadpool(_meter, request, body)
