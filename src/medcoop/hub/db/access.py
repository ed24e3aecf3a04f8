"""Why a session may cross tenants, and who hears about it: purposes and access records.

Reading another organisation's rows is never a side effect of a session: it is asked for
through one door, :func:`medcoop.hub.db.tenancy.pooled`, with a :class:`Purpose`. A
purpose names the tenant-owned and pooled tables it may read (and write) across tenants;
everything else a pooled session touches stays inside the caller's own tenant, or is
refused when the caller is the platform itself. Every statement through the door is an
:class:`Access`, handed to each registered :class:`AccessObserver` (the ledger records
them; tests count them).

An access also says who asked (:class:`Actor`: the person, app or edge and their
organisation, set on the session by the API's dependency or given to ``pooled``), which
database it ran on (``bind``, so that each hub's log hears only its own reads), which
read it belongs to (``read``: one per ``pooled`` call, so the ledger writes one entry per
read, not per statement), and, when the service knows it, what it concerned
(:class:`Concern`: the pseudonyms, or the number of records and sites of an aggregate).
Which accesses the ledger keeps is :func:`audited`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

__all__ = [
    "EVERY_TABLE",
    "PATIENT_DATA",
    "PLATFORM",
    "UNAUDITED",
    "Access",
    "AccessObserver",
    "Actor",
    "Concern",
    "Purpose",
    "audited",
    "grants",
    "observe",
    "record",
]

#: The grant of :attr:`Purpose.ADMINISTER`: every table.
EVERY_TABLE: Final = frozenset({"*"})


class Purpose(StrEnum):
    """Why a session reads across tenants. Each value is one use, named for the ledger."""

    #: Token lookup: the token's organisation is not known before it is found.
    AUTHENTICATE = "authenticate"
    #: Password login: the user's memberships, in any organisation.
    LOGIN = "login"
    #: An edge exchanging a one-time enrollment code for its site token.
    ENROLL = "enroll"
    #: A person accepting an invitation to an organisation.
    ACCEPT_INVITATION = "accept-invitation"
    #: Peer benchmarks: every site's dose summaries, returned only k-anonymous.
    PEER_BENCHMARK = "peer-benchmark"
    #: Rebuilding the pooled blocks from every site's summary cells.
    COMPACT_SUMMARIES = "compact-summaries"
    #: The community protocol library: what publishers chose to share.
    PROTOCOL_LIBRARY = "protocol-library"
    #: The notifier's scan for due alert notices (each is then sent in its own tenant).
    NOTIFY = "notify"
    #: A cloud app's run on pooled records, for the organisation that started it.
    CLOUD_APP_RUN = "cloud-app-run"
    #: The store's catalogue: every vendor's published listings, their facets and reviews.
    CATALOGUE = "catalogue"
    #: The store's notice outbox scan (each notice is then sent in its own tenant).
    STORE_NOTIFY = "store-notify"
    #: The store's clock: entitlements, trials, quotes and subscriptions that ran out.
    STORE_CLOCK = "store-clock"
    #: Platform administration (CLI, provisioning, demo, maintenance): every table.
    ADMINISTER = "administer"


_GRANTS: Final[dict[Purpose, frozenset[str]]] = {
    Purpose.AUTHENTICATE: frozenset({"memberships"}),
    Purpose.LOGIN: frozenset({"memberships"}),
    Purpose.ENROLL: frozenset({"enrollment_codes", "sites"}),
    Purpose.ACCEPT_INVITATION: frozenset({"invitations", "memberships"}),
    Purpose.PEER_BENCHMARK: frozenset(
        {"analytics_dose_summaries", "analytics_dose_blocks", "devices", "sites"}
    ),
    Purpose.COMPACT_SUMMARIES: frozenset({"analytics_dose_summaries", "analytics_dose_blocks"}),
    Purpose.PROTOCOL_LIBRARY: frozenset({"analytics_protocols"}),
    Purpose.NOTIFY: frozenset({"analytics_alerts"}),
    Purpose.CLOUD_APP_RUN: frozenset({"studies", "patients"}),
    Purpose.CATALOGUE: frozenset(
        {
            "store_vendors",
            "store_listings",
            "store_listing_versions",
            "store_listing_facets",
            "store_reviews",
        }
    ),
    Purpose.STORE_NOTIFY: frozenset({"store_notices"}),
    Purpose.STORE_CLOCK: frozenset(
        {
            "store_entitlements",
            "store_trials",
            "store_quotes",
            "store_orders",
            "store_events",
            "store_notices",
        }
    ),
    Purpose.ADMINISTER: EVERY_TABLE,
}


def grants(purpose: Purpose) -> frozenset[str]:
    """Return the tables ``purpose`` may touch across tenants (:data:`EVERY_TABLE`: all)."""
    return _GRANTS[purpose]


#: Purposes whose reads concern no patient on anyone's behalf: finding a token, a login's
#: memberships, an enrollment code, an invitation; the notifier's scan (each notice then
#: goes to its own tenant) and the compaction of pooled blocks (nothing leaves it); the
#: store's catalogue (vendors' published listings, no one's data), its notice scan and
#: its clock (commerce objects, no patient's data).
#: Every other purpose, including one added later, is written to the ledger.
UNAUDITED: Final = frozenset(
    {
        Purpose.AUTHENTICATE,
        Purpose.LOGIN,
        Purpose.ENROLL,
        Purpose.ACCEPT_INVITATION,
        Purpose.NOTIFY,
        Purpose.COMPACT_SUMMARIES,
        Purpose.CATALOGUE,
        Purpose.STORE_NOTIFY,
        Purpose.STORE_CLOCK,
    }
)

#: The tables that hold patients' data or what is derived from it: platform
#: administration (which reaches every table) is audited when it touches one of them.
PATIENT_DATA: Final = frozenset(
    {
        "patients",
        "studies",
        "irradiation_events",
        "usage_facts",
        "record_receipts",
        "analytics_dose_summaries",
        "analytics_dose_blocks",
        "analytics_protocols",
        "analytics_alerts",
    }
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a pooled read is for: ``who`` is ``user:<id>``, ``app:<token id>``,
    ``site:<id>`` or ``platform``; ``organisation`` the organisation's id (or
    ``platform``)."""

    who: str
    organisation: str


#: The platform itself (CLI, maintenance): no person, no organisation.
PLATFORM: Final = Actor("platform", "platform")


@dataclass(frozen=True, slots=True)
class Concern:
    """What a read concerned, as the service that made it knows: the patients'
    pseudonyms, or an aggregate over ``records`` records of ``sites`` sites."""

    pseudonyms: tuple[str, ...] = ()
    records: int | None = None
    sites: int | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """One statement that crossed tenants through the door.

    ``tenant`` is the organisation on whose behalf it ran (``None``: the platform);
    ``tables`` the tenant-owned or pooled tables it touched; ``action`` one of
    ``select``, ``insert``, ``update``, ``delete``, ``write``, or ``concerns`` (a
    service saying what the read concerned: ``concern``). ``actor`` is who asked,
    ``bind`` the engine it ran on, ``read`` the number of the ``pooled`` call.
    """

    purpose: Purpose
    tenant: uuid.UUID | None
    tables: frozenset[str]
    action: str
    actor: Actor | None = None
    bind: object = None
    read: int = 0
    concern: Concern | None = None


def audited(access: Access) -> bool:
    """Whether the ledger keeps ``access``: every purpose but :data:`UNAUDITED`, and
    platform administration only where it reads :data:`PATIENT_DATA` (provisioning and
    loading are not reads of anyone's data)."""
    if access.purpose in UNAUDITED:
        return False
    if access.purpose is Purpose.ADMINISTER:
        if access.concern is not None:
            return True
        return access.action == "select" and bool(access.tables & PATIENT_DATA)
    return True


class AccessObserver(Protocol):
    """Hears every :class:`Access`; called inside the statement, so it must be quick and
    must not use the session (queue the record, write it later)."""

    def __call__(self, access: Access) -> None:
        """Take note of ``access``."""


_observers: list[AccessObserver] = []
_lock = threading.Lock()


def observe(observer: AccessObserver) -> Callable[[], None]:
    """Register ``observer`` for every access in this process; return its unregistration."""
    with _lock:
        _observers.append(observer)

    def stop() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return stop


def record(access: Access) -> None:
    """Hand ``access`` to every observer (the door calls this, nothing else should)."""
    for observer in tuple(_observers):
        observer(access)
