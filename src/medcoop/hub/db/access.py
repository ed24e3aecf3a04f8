"""Why a session may cross tenants, and who hears about it: purposes and access records.

Reading another organisation's rows is never a side effect of a session: it is asked for
through one door, :func:`medcoop.hub.db.tenancy.pooled`, with a :class:`Purpose`. A
purpose names the tenant-owned and pooled tables it may read (and write) across tenants;
everything else a pooled session touches stays inside the caller's own tenant, or is
refused when the caller is the platform itself. Every statement through the door is an
:class:`Access`, handed to each registered :class:`AccessObserver` (the ledger records
them; tests count them).
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
    "Access",
    "AccessObserver",
    "Purpose",
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
    Purpose.ADMINISTER: EVERY_TABLE,
}


def grants(purpose: Purpose) -> frozenset[str]:
    """Return the tables ``purpose`` may touch across tenants (:data:`EVERY_TABLE`: all)."""
    return _GRANTS[purpose]


@dataclass(frozen=True, slots=True)
class Access:
    """One statement that crossed tenants through the door.

    ``tenant`` is the organisation on whose behalf it ran (``None``: the platform);
    ``tables`` the tenant-owned or pooled tables it touched; ``action`` one of
    ``select``, ``insert``, ``update``, ``delete``.
    """

    purpose: Purpose
    tenant: uuid.UUID | None
    tables: frozenset[str]
    action: str


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
