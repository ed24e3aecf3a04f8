"""The store's pages: catalogue search with facets, listing pages with trial and quote
requests, the hospital's orders and entitlements, and the vendor console.

Each page calls the store API's endpoint function behind the same action's permission
(:func:`medcoop.hub.api.store.may`), so a page shows and changes exactly what the API
lets the same person show and change. Payment processing is out of scope: an order
records terms and issues entitlements.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from medcoop.hub.api import store as api
from medcoop.hub.api.deps import DbSession, WriteSession
from medcoop.hub.api.store_schemas import QuoteAnswerIn, QuoteIn, TrialIn
from medcoop.hub.errors import InvalidRecordError
from medcoop.hub.services.accounts import Principal
from medcoop.hub.services.store.policy import Action
from medcoop.hub.web.routing import PageRoute, page
from medcoop.store.listing import FACETS

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _as(action: Action) -> Any:
    return Annotated[Principal, Depends(api.may(action))]


Text = Annotated[str, Form(max_length=4000)]
_NOTICES = {
    "trial": "Trial requested.",
    "quote": "Quotation requested.",
    "accepted": "Quote accepted: the order and its entitlements are issued.",
    "declined": "Quote declined.",
    "approved": "Trial approved.",
    "refused": "Trial declined.",
    "answered": "Quote sent.",
    "published": "Version published.",
}


@router.get("/store")
def store_search(
    request: Request,
    principal: _as(Action.SEARCH),  # type: ignore[valid-type]
) -> Response:
    """Search the catalogue with facets."""
    params = request.query_params
    filters = {f: params.getlist(f) for f in FACETS if params.getlist(f)}
    found = api.search_catalogue(
        request,
        principal,
        q=params.get("q", "")[:200],
        limit=50,
        offset=0,
        **{f: filters.get(f) for f in FACETS},
    )
    return page(
        request,
        "store.html",
        title="Store",
        found=found,
        q=params.get("q", ""),
        filters=filters,
    )


@router.get("/store/listings/{key}")
def store_listing(
    key: str,
    request: Request,
    principal: _as(Action.VIEW_LISTING),  # type: ignore[valid-type]
) -> Response:
    """A listing page: description, regulatory status, offers, versions, reviews."""
    detail = api.get_listing(key, request, principal)
    spec = detail.spec
    return page(
        request,
        "store_listing.html",
        title=detail.listing.title,
        detail=detail,
        spec=spec,
        offers=spec.get("offers", {}),
        regulatory=spec.get("regulatory", {}),
        notice=_NOTICES.get(request.query_params.get("done", "")),
    )


@router.post("/store/listings/{key}/trial")
def store_request_trial(
    key: str,
    request: Request,
    principal: _as(Action.REQUEST_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
    note: Text = "",
) -> Response:
    """Request a trial from the listing page."""
    api.request_trial(key, TrialIn(note=note), request, principal, db)
    return RedirectResponse("/store/orders?done=trial", status_code=303)


@router.post("/store/listings/{key}/quote")
def store_request_quote(
    key: str,
    request: Request,
    principal: _as(Action.REQUEST_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
    questions: Text = "",
    studies_per_year: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Request a quotation from the listing page."""
    body = QuoteIn(studies_per_year=studies_per_year, questions=questions)
    api.request_quote(key, body, request, principal, db)
    return RedirectResponse("/store/orders?done=quote", status_code=303)


@router.get("/store/orders")
def store_orders(
    request: Request,
    principal: _as(Action.READ_OWN_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> Response:
    """The organisation's trials, quotes, orders and entitlements."""
    return page(
        request,
        "store_orders.html",
        title="Orders and entitlements",
        trials=api.list_trials(principal, db),
        quotes=api.list_quotes(principal, db),
        orders=api.list_orders(principal, db),
        entitlements=api.list_entitlements(principal, db),
        notice=_NOTICES.get(request.query_params.get("done", "")),
    )


@router.post("/store/quotes/{quote_id}/{answer}")
def store_respond_to_quote(
    quote_id: uuid.UUID,
    answer: str,
    request: Request,
    principal: _as(Action.RESPOND_TO_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
) -> Response:
    """Accept or decline a quote."""
    if answer == "accept":
        api.accept_quote(quote_id, request, principal, db)
        return RedirectResponse("/store/orders?done=accepted", status_code=303)
    if answer != "decline":
        raise InvalidRecordError("answer: accept or decline")
    api.decline_quote(quote_id, principal, db)
    return RedirectResponse("/store/orders?done=declined", status_code=303)


@router.get("/store/vendor")
def vendor_console(
    request: Request,
    principal: _as(Action.READ_VENDOR_COMMERCE),  # type: ignore[valid-type]
    db: DbSession,
) -> Response:
    """The vendor console: listings, trial requests, quotation requests, metering."""
    return page(
        request,
        "store_vendor.html",
        title="Vendor console",
        listings=api.own_listings(principal, db),
        trials=api.vendor_trials(principal, db),
        quotes=api.vendor_quotes(principal, db),
        orders=api.vendor_orders(principal, db),
        notice=_NOTICES.get(request.query_params.get("done", "")),
    )


@router.post("/store/vendor/trials/{trial_id}/{decision}")
def vendor_decide_trial(
    trial_id: uuid.UUID,
    decision: str,
    principal: _as(Action.DECIDE_TRIAL),  # type: ignore[valid-type]
    db: WriteSession,
) -> Response:
    """Approve or decline a trial request."""
    if decision not in ("approve", "decline"):
        raise InvalidRecordError("decision: approve or decline")
    if decision == "approve":
        api.approve_trial(trial_id, principal, db)
    else:
        api.decline_trial(trial_id, principal, db)
    done = "approved" if decision == "approve" else "refused"
    return RedirectResponse(f"/store/vendor?done={done}", status_code=303)


@router.post("/store/vendor/quotes/{quote_id}/answer")
def vendor_answer_quote(
    quote_id: uuid.UUID,
    principal: _as(Action.ANSWER_QUOTE),  # type: ignore[valid-type]
    db: WriteSession,
    price: Annotated[Decimal, Form(ge=0)],
    valid_until: Annotated[datetime, Form()],
    terms: Text = "",
    currency: Annotated[str, Form(pattern=r"^[A-Z]{3}$")] = "EUR",
) -> Response:
    """Send a quote: price, terms, validity."""
    body = QuoteAnswerIn(price=price, currency=currency, terms=terms, valid_until=valid_until)
    api.answer_quote(quote_id, body, principal, db)
    return RedirectResponse("/store/vendor?done=answered", status_code=303)


@router.post("/store/vendor/publish")
def vendor_publish(
    principal: _as(Action.PUBLISH_LISTING),  # type: ignore[valid-type]
    db: WriteSession,
    manifest_json: Annotated[str, Form(max_length=200_000)],
) -> Response:
    """Publish an app version from its manifest (refused with every problem listed)."""
    try:
        manifest = json.loads(manifest_json)
    except json.JSONDecodeError as exc:
        raise InvalidRecordError(f"manifest: not JSON ({exc.msg})") from None
    if not isinstance(manifest, dict):
        raise InvalidRecordError("manifest: a JSON object")
    api.publish_app(manifest, principal, db)
    return RedirectResponse("/store/vendor?done=published", status_code=303)
