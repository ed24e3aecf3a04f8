"""Who may do what in the store: each action and the one permission it needs.

The API's endpoints, the dashboard's pages and (through the API) the CLI all ask
:func:`authorize` for an action's dependency, so one table here decides every surface.
Which rows a caller then sees is the tenancy layer's business (a vendor's own listings;
a hospital's own requests, orders and entitlements), and which organisation may sell is
:func:`medcoop.hub.services.store.listings.approved_vendor`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final

from medcoop.hub.services.accounts import Permission, Principal

__all__ = [
    "ACTION_PERMISSIONS",
    "Action",
    "authorize",
    "authorize_any",
    "checker",
    "permission_for",
]


class Action(StrEnum):
    """Every store action a person or an edge can take."""

    SEARCH = "search"
    VIEW_LISTING = "view-listing"
    REQUEST_TRIAL = "request-trial"
    CANCEL_TRIAL = "cancel-trial"
    REQUEST_QUOTE = "request-quote"
    RESPOND_TO_QUOTE = "respond-to-quote"  # accept or decline, as the customer
    PLACE_ORDER = "place-order"
    CANCEL_ORDER = "cancel-order"
    REVIEW = "review"
    REQUEST_SERVICE = "request-service"
    ADVANCE_SERVICE_AS_CUSTOMER = "advance-service-as-customer"
    READ_OWN_COMMERCE = "read-own-commerce"  # trials, quotes, orders, entitlements, usage
    REGISTER_VENDOR = "register-vendor"
    PUBLISH_LISTING = "publish-listing"
    MANAGE_LISTINGS = "manage-listings"  # a vendor's own listings, incl. withdrawn
    DECIDE_TRIAL = "decide-trial"
    ANSWER_QUOTE = "answer-quote"
    ADVANCE_SERVICE_AS_VENDOR = "advance-service-as-vendor"
    READ_VENDOR_COMMERCE = "read-vendor-commerce"  # its requests, orders, metering
    APPROVE_VENDOR = "approve-vendor"
    CHECK_ENTITLEMENT = "check-entitlement"
    RECORD_USAGE = "record-usage"


ACTION_PERMISSIONS: Final[dict[Action, Permission]] = {
    Action.SEARCH: Permission.STORE_BROWSE,
    Action.VIEW_LISTING: Permission.STORE_BROWSE,
    Action.REQUEST_TRIAL: Permission.STORE_BUY,
    Action.CANCEL_TRIAL: Permission.STORE_BUY,
    Action.REQUEST_QUOTE: Permission.STORE_BUY,
    Action.RESPOND_TO_QUOTE: Permission.STORE_BUY,
    Action.PLACE_ORDER: Permission.STORE_BUY,
    Action.CANCEL_ORDER: Permission.STORE_BUY,
    Action.REVIEW: Permission.STORE_BUY,
    Action.REQUEST_SERVICE: Permission.STORE_BUY,
    Action.ADVANCE_SERVICE_AS_CUSTOMER: Permission.STORE_BUY,
    Action.READ_OWN_COMMERCE: Permission.STORE_READ_ORDERS,
    Action.REGISTER_VENDOR: Permission.STORE_SELL,
    Action.PUBLISH_LISTING: Permission.STORE_SELL,
    Action.MANAGE_LISTINGS: Permission.STORE_SELL,
    Action.DECIDE_TRIAL: Permission.STORE_SELL,
    Action.ANSWER_QUOTE: Permission.STORE_SELL,
    Action.ADVANCE_SERVICE_AS_VENDOR: Permission.STORE_SELL,
    Action.READ_VENDOR_COMMERCE: Permission.STORE_SELL,
    Action.APPROVE_VENDOR: Permission.STORE_APPROVE_VENDORS,
    Action.CHECK_ENTITLEMENT: Permission.STORE_METER,
    Action.RECORD_USAGE: Permission.STORE_METER,
}


def permission_for(action: Action) -> Permission:
    """Return the permission ``action`` needs."""
    return ACTION_PERMISSIONS[action]


def authorize(principal: Principal, action: Action) -> Principal:
    """Return ``principal`` when it may take ``action``; raise
    :class:`~medcoop.hub.errors.PermissionDeniedError` (403) otherwise."""
    principal.require(permission_for(action))
    return principal


def authorize_any(principal: Principal, *actions: Action) -> Principal:
    """Return ``principal`` when it may take any of ``actions`` (an endpoint either party
    calls); else raise for the first."""
    if any(principal.can(permission_for(a)) for a in actions):
        return principal
    return authorize(principal, actions[0])


def checker(action: Action) -> Callable[[Principal], Principal]:
    """The check of ``action`` as a one-argument function (for FastAPI dependencies)."""

    def _check(principal: Principal) -> Principal:
        return authorize(principal, action)

    return _check
