"""Store commerce: trials, quotes, orders, entitlements, service requests.

Every change of state goes through :func:`_move`, which asks the state machine
(:func:`medcoop.store.states.next_state`) whether the caller's side may take the action,
then writes the change, its audit event and a notice to both parties
(:func:`~medcoop.hub.services.store.journal.record_transition`) in the caller's
transaction. Sessions are the caller's tenant sessions: a hospital's (``org_id``) or a
vendor's (``partner_org_id``); another tenant's object is not found.

The listing an action is about is read through the catalogue door by the caller and
passed in as :class:`ListingTerms` (a hospital's session cannot read a vendor's rows).
Payment processing is out of scope: an order records what was bought and on what terms,
and issues the entitlements; money moves outside the store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.hub.db.store_models import (
    StoreEntitlement,
    StoreListing,
    StoreOrder,
    StoreQuote,
    StoreReview,
    StoreServiceRequest,
    StoreTrial,
)
from medcoop.hub.errors import ConflictError, NotFoundError, PermissionDeniedError
from medcoop.hub.services.store.errors import TransitionError
from medcoop.hub.services.store.journal import SYSTEM, Actor, record_transition
from medcoop.store.listing import ListingKind
from medcoop.store.manifest import Offers, TrialApproval
from medcoop.store.states import Side, TransitionRefused, next_state

__all__ = [
    "ListingTerms",
    "accept_quote",
    "add_review",
    "advance_service",
    "answer_quote",
    "cancel_order",
    "cancel_trial",
    "decide_trial",
    "decline_quote",
    "expire_due",
    "place_order",
    "refuse_quote",
    "request_quote",
    "request_service",
    "request_trial",
]

_Obj = TypeVar("_Obj", StoreTrial, StoreQuote, StoreOrder, StoreEntitlement, StoreServiceRequest)


@dataclass(frozen=True, slots=True)
class ListingTerms:
    """What commerce needs to know of a listing (read through the catalogue door)."""

    id: uuid.UUID
    key: str
    title: str
    kind: str
    vendor_org_id: uuid.UUID
    offers: Offers | None

    @classmethod
    def of(cls, listing: StoreListing) -> ListingTerms:
        """The terms of a published listing."""
        offers = None
        if listing.kind == ListingKind.APP.value:
            offers = Offers.model_validate(listing.spec["offers"])
        return cls(
            listing.id, listing.listing_key, listing.title, listing.kind, listing.org_id, offers
        )


def _side(obj: Any, actor: Actor) -> Side:
    if actor is SYSTEM or actor.org_id is None:
        return "system"
    if actor.org_id == obj.org_id:
        return "customer"
    if actor.org_id == obj.partner_org_id:
        return "vendor"
    raise PermissionDeniedError("not a party to this object")


def _move(
    session: Session,
    subject: str,
    obj: _Obj,
    action: str,
    actor: Actor,
    now: datetime,
    message: str,
    detail: dict[str, Any] | None = None,
) -> _Obj:
    side = _side(obj, actor)
    try:
        to = next_state(subject, obj.state, action, side)
    except TransitionRefused as exc:
        if exc.wrong_side:
            raise PermissionDeniedError(str(exc)) from None
        raise TransitionError(subject, obj.state, action) from None
    record_transition(
        session,
        subject,
        obj,
        action=action,
        from_state=obj.state,
        to_state=to,
        actor=actor,
        now=now,
        message=message,
        detail=detail,
    )
    obj.state = to
    if hasattr(obj, "updated_at"):
        obj.updated_at = now
    return obj


def _created(
    session: Session, subject: str, obj: _Obj, actor: Actor, now: datetime, message: str
) -> _Obj:
    session.add(obj)
    session.flush()
    record_transition(
        session,
        subject,
        obj,
        action="create",
        from_state=None,
        to_state=obj.state,
        actor=actor,
        now=now,
        message=message,
    )
    return obj


def _get(session: Session, model: type[_Obj], object_id: uuid.UUID, kind: str) -> _Obj:
    obj = session.scalar(select(model).where(model.id == object_id))
    if obj is None:
        raise NotFoundError(kind, object_id)
    return obj


def _app_terms(terms: ListingTerms) -> Offers:
    if terms.offers is None:
        raise ConflictError(f"{terms.key} is a service: use the service path")
    return terms.offers


# --- trials -----------------------------------------------------------------------------------


def request_trial(
    session: Session,
    terms: ListingTerms,
    actor: Actor,
    *,
    site_id: uuid.UUID | None = None,
    note: str = "",
    now: datetime,
) -> StoreTrial:
    """A hospital asks for a trial; approved at once when the offer says so."""
    offer = _app_terms(terms).trial
    if offer is None:
        raise ConflictError(f"{terms.key} offers no trial")
    assert actor.org_id is not None
    open_trial = session.scalar(
        select(StoreTrial).where(
            StoreTrial.org_id == actor.org_id,
            StoreTrial.listing_id == terms.id,
            StoreTrial.state.in_(("requested", "approved")),
        )
    )
    if open_trial is not None:
        raise ConflictError(f"a trial of {terms.key} is already {open_trial.state}")
    if session.scalar(
        select(StoreTrial.id).where(
            StoreTrial.org_id == actor.org_id,
            StoreTrial.listing_id == terms.id,
            StoreTrial.state.in_(("expired", "converted")),
        )
    ):
        raise ConflictError(f"this organisation has had its trial of {terms.key}")
    trial = _created(
        session,
        "trial",
        StoreTrial(
            org_id=actor.org_id,
            partner_org_id=terms.vendor_org_id,
            listing_id=terms.id,
            listing_key=terms.key,
            site_id=site_id,
            state="requested",
            days=offer.days,
            study_cap=offer.study_cap,
            note=note[:2000],
            requested_by=actor.user_id,
            requested_at=now,
            updated_at=now,
        ),
        actor,
        now,
        f"Trial of {terms.title} requested",
    )
    if offer.approval is TrialApproval.AUTOMATIC:
        _approve(session, trial, SYSTEM, now)
    return trial


def _approve(session: Session, trial: StoreTrial, actor: Actor, now: datetime) -> None:
    _move(session, "trial", trial, "approve", actor, now, "Trial approved")
    entitlement = _issue(
        session,
        trial.org_id,
        trial.partner_org_id,
        trial.listing_id,
        trial.listing_key,
        kind="trial",
        site_id=trial.site_id,
        expires_at=now + timedelta(days=trial.days),
        study_cap=trial.study_cap,
        trial_id=trial.id,
        now=now,
    )
    trial.entitlement_id = entitlement.id


def decide_trial(
    session: Session,
    trial_id: uuid.UUID,
    actor: Actor,
    *,
    approve: bool,
    now: datetime,
) -> StoreTrial:
    """The vendor approves (issuing the capped entitlement) or declines a trial."""
    trial = _get(session, StoreTrial, trial_id, "trial")
    if approve:
        _approve(session, trial, actor, now)
    else:
        _move(session, "trial", trial, "decline", actor, now, "Trial declined")
    return trial


def cancel_trial(
    session: Session, trial_id: uuid.UUID, actor: Actor, *, now: datetime
) -> StoreTrial:
    """The hospital withdraws its trial request."""
    trial = _get(session, StoreTrial, trial_id, "trial")
    return _move(session, "trial", trial, "cancel", actor, now, "Trial request cancelled")


# --- entitlements -----------------------------------------------------------------------------


def _issue(
    session: Session,
    org_id: uuid.UUID,
    vendor_org_id: uuid.UUID,
    listing_id: uuid.UUID,
    listing_key: str,
    *,
    kind: str,
    site_id: uuid.UUID | None,
    expires_at: datetime | None,
    study_cap: int | None,
    now: datetime,
    trial_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
) -> StoreEntitlement:
    where = f"site {site_id}" if site_id else "every site"
    return _created(
        session,
        "entitlement",
        StoreEntitlement(
            org_id=org_id,
            partner_org_id=vendor_org_id,
            listing_id=listing_id,
            listing_key=listing_key,
            site_id=site_id,
            kind=kind,
            order_id=order_id,
            trial_id=trial_id,
            state="active",
            starts_at=now,
            expires_at=expires_at,
            study_cap=study_cap,
            studies_used=0,
            runs_used=0,
        ),
        SYSTEM,
        now,
        f"Entitlement to {listing_key} ({kind}) for {where}",
    )


def end_entitlement(
    session: Session, entitlement: StoreEntitlement, action: str, now: datetime, why: str
) -> None:
    """Expire, convert or revoke an active entitlement (and expire its trial with it)."""
    _move(session, "entitlement", entitlement, action, SYSTEM, now, why, {"reason": why})
    if action == "expire" and entitlement.trial_id is not None:
        trial = session.scalar(select(StoreTrial).where(StoreTrial.id == entitlement.trial_id))
        if trial is not None and trial.state == "approved":
            _move(session, "trial", trial, "expire", SYSTEM, now, why, {"reason": why})


def expire_due(session: Session, now: datetime) -> int:
    """Expire what is due at ``now``: entitlements past their end (and their trials),
    quotes past their validity, subscriptions past their period. Returns how many."""
    count = 0
    for entitlement in session.scalars(
        select(StoreEntitlement).where(
            StoreEntitlement.state == "active",
            StoreEntitlement.expires_at.is_not(None),
            StoreEntitlement.expires_at <= now,
        )
    ).all():
        end_entitlement(session, entitlement, "expire", now, "entitlement period ended")
        count += 1
    for quote in session.scalars(
        select(StoreQuote).where(
            StoreQuote.state == "quoted",
            StoreQuote.valid_until.is_not(None),
            StoreQuote.valid_until <= now,
        )
    ).all():
        _move(session, "quote", quote, "expire", SYSTEM, now, "Quote expired unanswered")
        count += 1
    for order in session.scalars(
        select(StoreOrder).where(
            StoreOrder.state == "active",
            StoreOrder.ends_at.is_not(None),
            StoreOrder.ends_at <= now,
        )
    ).all():
        _move(session, "order", order, "end", SYSTEM, now, "Subscription period ended")
        count += 1
    return count


# --- quotes -----------------------------------------------------------------------------------


def request_quote(
    session: Session,
    terms: ListingTerms,
    actor: Actor,
    *,
    studies_per_year: int | None = None,
    site_ids: list[uuid.UUID] | None = None,
    questions: str = "",
    now: datetime,
) -> StoreQuote:
    """A hospital asks for a quotation (volumes, sites, questions)."""
    if not _app_terms(terms).quote_on_request:
        raise ConflictError(f"{terms.key} is not offered on quotation")
    assert actor.org_id is not None
    return _created(
        session,
        "quote",
        StoreQuote(
            org_id=actor.org_id,
            partner_org_id=terms.vendor_org_id,
            listing_id=terms.id,
            state="requested",
            studies_per_year=studies_per_year,
            site_ids=[str(s) for s in site_ids or ()],
            questions=questions[:4000],
            requested_at=now,
            updated_at=now,
        ),
        actor,
        now,
        f"Quotation for {terms.title} requested",
    )


def answer_quote(
    session: Session,
    quote_id: uuid.UUID,
    actor: Actor,
    *,
    price: Decimal,
    currency: str,
    terms: str,
    valid_until: datetime,
    now: datetime,
) -> StoreQuote:
    """The vendor quotes a price, terms and a validity date."""
    quote = _get(session, StoreQuote, quote_id, "quote")
    if valid_until <= now:
        raise ConflictError("a quote is valid until a later date")
    _move(
        session,
        "quote",
        quote,
        "quote",
        actor,
        now,
        f"Quote: {price} {currency}, valid until {valid_until:%Y-%m-%d}",
        {"price": str(price), "currency": currency, "valid_until": valid_until.isoformat()},
    )
    quote.price_amount = str(price)
    quote.currency = currency
    quote.terms = terms[:4000]
    quote.valid_until = valid_until
    return quote


def refuse_quote(
    session: Session, quote_id: uuid.UUID, actor: Actor, *, now: datetime
) -> StoreQuote:
    """The vendor declines to quote."""
    quote = _get(session, StoreQuote, quote_id, "quote")
    return _move(session, "quote", quote, "refuse", actor, now, "Quotation refused")


def accept_quote(
    session: Session, quote_id: uuid.UUID, actor: Actor, *, listing_key: str, now: datetime
) -> StoreOrder:
    """The hospital accepts a valid quote: it becomes an order, with its entitlements."""
    quote = _get(session, StoreQuote, quote_id, "quote")
    if quote.state == "quoted" and quote.valid_until is not None and quote.valid_until <= now:
        _move(session, "quote", quote, "expire", SYSTEM, now, "Quote expired unanswered")
        session.flush()
        raise TransitionError("quote", "expired", "accept")
    _move(session, "quote", quote, "accept", actor, now, "Quote accepted")
    order = _order(
        session,
        actor,
        quote.partner_org_id,
        quote.listing_id,
        listing_key,
        pricing="quote",
        plan=None,
        site_ids=[uuid.UUID(s) for s in quote.site_ids],
        price=(quote.price_amount, quote.currency),
        ends_at=None,
        study_cap=None,
        now=now,
        quote_id=quote.id,
    )
    quote.order_id = order.id
    return order


def decline_quote(
    session: Session, quote_id: uuid.UUID, actor: Actor, *, now: datetime
) -> StoreQuote:
    """The hospital declines a quote."""
    quote = _get(session, StoreQuote, quote_id, "quote")
    return _move(session, "quote", quote, "decline", actor, now, "Quote declined")


# --- orders -----------------------------------------------------------------------------------


def place_order(
    session: Session,
    terms: ListingTerms,
    actor: Actor,
    *,
    pricing: str,
    plan: str | None = None,
    site_ids: list[uuid.UUID] | None = None,
    now: datetime,
) -> StoreOrder:
    """A hospital buys at the listed terms: a subscription plan, per study, or free.

    (A quotation's price is ordered by :func:`accept_quote`.)
    """
    offers = _app_terms(terms)
    ends_at: datetime | None = None
    cap: int | None = None
    price: tuple[str | None, str | None] = (None, None)
    if pricing == "subscription":
        chosen = next((p for p in offers.subscriptions if p.name == plan), None)
        if chosen is None:
            names = ", ".join(p.name for p in offers.subscriptions) or "none"
            raise ConflictError(f"{terms.key} has no subscription plan {plan!r} (plans: {names})")
        ends_at = now + timedelta(days=365 if chosen.period == "year" else 30)
        cap = chosen.studies_per_period
        price = (str(chosen.price.amount), chosen.price.currency)
    elif pricing == "per_study" and offers.per_study is not None:
        price = (str(offers.per_study.amount), offers.per_study.currency)
    elif not (pricing == "free" and offers.free):
        raise ConflictError(f"{terms.key} is not offered {pricing.replace('_', ' ')}")
    return _order(
        session,
        actor,
        terms.vendor_org_id,
        terms.id,
        terms.key,
        pricing=pricing,
        plan=plan,
        site_ids=site_ids or [],
        price=price,
        ends_at=ends_at,
        study_cap=cap,
        now=now,
    )


def _order(
    session: Session,
    actor: Actor,
    vendor_org_id: uuid.UUID,
    listing_id: uuid.UUID,
    listing_key: str,
    *,
    pricing: str,
    plan: str | None,
    site_ids: list[uuid.UUID],
    price: tuple[str | None, str | None],
    ends_at: datetime | None,
    study_cap: int | None,
    now: datetime,
    quote_id: uuid.UUID | None = None,
) -> StoreOrder:
    assert actor.org_id is not None
    order = _created(
        session,
        "order",
        StoreOrder(
            org_id=actor.org_id,
            partner_org_id=vendor_org_id,
            listing_id=listing_id,
            pricing=pricing,
            plan=plan,
            quote_id=quote_id,
            site_ids=[str(s) for s in site_ids],
            price_amount=price[0],
            currency=price[1],
            state="active",
            placed_by=actor.user_id,
            placed_at=now,
            ends_at=ends_at,
        ),
        actor,
        now,
        f"Order of {listing_key} placed ({pricing})",
    )
    _convert_trial(session, order, actor, now)
    sites: list[uuid.UUID | None] = [*site_ids] or [None]  # none named: every site
    for site_id in sites:
        _issue(
            session,
            order.org_id,
            vendor_org_id,
            listing_id,
            listing_key,
            kind=pricing,
            site_id=site_id,
            expires_at=ends_at,
            study_cap=study_cap,
            order_id=order.id,
            now=now,
        )
    return order


def _convert_trial(session: Session, order: StoreOrder, actor: Actor, now: datetime) -> None:
    trial = session.scalar(
        select(StoreTrial).where(
            StoreTrial.org_id == order.org_id,
            StoreTrial.listing_id == order.listing_id,
            StoreTrial.state == "approved",
        )
    )
    if trial is None:
        return
    _move(session, "trial", trial, "convert", actor, now, "Trial converted to an order")
    order.trial_id = trial.id
    entitlement = session.scalar(
        select(StoreEntitlement).where(StoreEntitlement.id == trial.entitlement_id)
    )
    if entitlement is not None and entitlement.state == "active":
        end_entitlement(session, entitlement, "convert", now, "trial converted to an order")


def cancel_order(
    session: Session, order_id: uuid.UUID, actor: Actor, *, now: datetime
) -> StoreOrder:
    """The hospital cancels an order; its entitlements are revoked."""
    order = _get(session, StoreOrder, order_id, "order")
    _move(session, "order", order, "cancel", actor, now, "Order cancelled")
    for entitlement in session.scalars(
        select(StoreEntitlement).where(
            StoreEntitlement.order_id == order.id, StoreEntitlement.state == "active"
        )
    ).all():
        end_entitlement(session, entitlement, "revoke", now, "order cancelled")
    return order


# --- services ---------------------------------------------------------------------------------


def request_service(
    session: Session, terms: ListingTerms, actor: Actor, *, message: str, now: datetime
) -> StoreServiceRequest:
    """A hospital (or company) makes an inquiry about a service: the path's first step."""
    if terms.kind != ListingKind.SERVICE.value:
        raise ConflictError(f"{terms.key} is an app: request a trial or a quote")
    assert actor.org_id is not None
    return _created(
        session,
        "service",
        StoreServiceRequest(
            org_id=actor.org_id,
            partner_org_id=terms.vendor_org_id,
            listing_id=terms.id,
            state="inquiry",
            message=message[:4000],
            requested_at=now,
            updated_at=now,
        ),
        actor,
        now,
        f"Inquiry about {terms.title}",
    )


_SERVICE_MESSAGES = {
    "schedule_call": "Scoping call scheduled",
    "propose": "Proposal sent",
    "agree": "Agreement signed",
    "deliver": "Delivery started",
    "complete": "Service completed",
    "decline": "Service request declined",
}


def advance_service(
    session: Session,
    request_id: uuid.UUID,
    action: str,
    actor: Actor,
    *,
    now: datetime,
    scoping_call_at: datetime | None = None,
    proposal: str | None = None,
    price: Decimal | None = None,
    currency: str | None = None,
    agreement_ref: str | None = None,
) -> StoreServiceRequest:
    """Move a service request one step along the path (the machine says who may)."""
    request = _get(session, StoreServiceRequest, request_id, "service request")
    detail: dict[str, Any] = {}
    if action == "schedule_call":
        if scoping_call_at is None:
            raise ConflictError("a scoping call needs a date")
        detail["scoping_call_at"] = scoping_call_at.isoformat()
    if action == "propose" and not proposal:
        raise ConflictError("a proposal needs its text")
    if action == "agree" and not agreement_ref:
        raise ConflictError("an agreement needs its reference")
    _move(
        session,
        "service",
        request,
        action,
        actor,
        now,
        _SERVICE_MESSAGES.get(action, action),
        detail,
    )
    if action == "schedule_call":
        request.scoping_call_at = scoping_call_at
    elif action == "propose":
        request.proposal = (proposal or "")[:4000]
        request.price_amount = str(price) if price is not None else None
        request.currency = currency
    elif action == "agree":
        request.agreement_ref = agreement_ref
    return request


# --- reviews ----------------------------------------------------------------------------------


def add_review(
    session: Session,
    terms: ListingTerms,
    actor: Actor,
    *,
    rating: int,
    text: str,
    now: datetime,
) -> StoreReview:
    """A review by an organisation that holds (or held) an entitlement to the listing."""
    if not 1 <= rating <= 5:
        raise ConflictError("a rating is 1 to 5")
    held = session.scalar(
        select(StoreEntitlement.id).where(
            StoreEntitlement.org_id == actor.org_id,
            StoreEntitlement.listing_id == terms.id,
            StoreEntitlement.state != "revoked",
        )
    )
    if held is None:
        raise PermissionDeniedError("only organisations holding an entitlement review a listing")
    assert actor.org_id is not None
    review = session.scalar(select(StoreReview).where(StoreReview.listing_id == terms.id))
    if review is None:
        review = StoreReview(
            org_id=actor.org_id, partner_org_id=terms.vendor_org_id, listing_id=terms.id
        )
        session.add(review)
    review.rating = rating
    review.text = text[:4000]
    review.author_user_id = actor.user_id
    review.created_at = now
    return review
