"""Every read of pooled data, written to the ledger as an access entry.

:class:`AccessLog` is an :class:`~medcoop.hub.db.access.AccessObserver` of one hub's
database: the door (:func:`~medcoop.hub.db.tenancy.pooled`) hands it each statement of
a pooled read, and it keeps those that :func:`~medcoop.hub.db.access.audited` says
concern patients. It never touches the reader's session or waits on the log: it merges
the statements of one read (one ``pooled`` call) in memory and a timer thread appends
the merged entries in one batch every ``interval_s``, so that a read pays a dict update,
not a database write. The trade is stated: entries of the last ``interval_s`` before a
crash are lost (a flush that fails keeps them, up to ``max_pending`` reads, and says so).

An entry says who (the actor), for which organisation, why (the purpose), the scope (the
actions and tables), and what it concerned: the pseudonyms a service named, or the
aggregate's record and site counts. A read naming many pseudonyms is written as several
entries, each under the log's entry size.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from medcoop.hub.db.access import PLATFORM, Access, Actor, Purpose, audited, observe
from medcoop.hub.services.ledger.store import SqlLedger
from medcoop.ledger.entries import AccessEntry, Aggregate, canonical_json
from medcoop.ledger.errors import LedgerError

__all__ = ["AccessLog", "access_entries"]

log = logging.getLogger(__name__)

#: Pseudonyms per entry: 64 hex digits each keeps an entry well under the 64 KiB bound.
PSEUDONYMS_PER_ENTRY: Final = 500


@dataclass
class _Read:
    """The statements of one pooled read, merged."""

    access: Access
    at: int
    tables: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    pseudonyms: dict[str, None] = field(default_factory=dict)  # ordered, unique
    records: int | None = None
    sites: int | None = None

    def add(self, access: Access) -> None:
        self.tables |= access.tables
        if access.action != "concerns":
            self.actions.add(access.action)
        concern = access.concern
        if concern is not None:
            self.pseudonyms.update(dict.fromkeys(concern.pseudonyms))
            if concern.records is not None:
                self.records = (self.records or 0) + concern.records
            if concern.sites is not None:
                self.sites = max(self.sites or 0, concern.sites)


def access_entries(read: _Read) -> Iterator[bytes]:
    """Yield the canonical entries of one merged read."""
    actor = read.access.actor
    if actor is None:
        tenant = read.access.tenant
        actor = PLATFORM if tenant is None else Actor("unattributed", str(tenant))
    scope = f"{'+'.join(sorted(read.actions)) or 'read'} {','.join(sorted(read.tables))}"
    aggregate = (
        Aggregate(records=read.records or 0, sites=read.sites or 0)
        if read.records is not None or read.sites is not None
        else None
    )
    pseudonyms = list(read.pseudonyms)
    chunks = [
        tuple(pseudonyms[i : i + PSEUDONYMS_PER_ENTRY])
        for i in range(0, len(pseudonyms), PSEUDONYMS_PER_ENTRY)
    ] or [()]
    for chunk in chunks:
        entry = AccessEntry(
            who=actor.who[:200],
            organisation=actor.organisation[:200],
            purpose=Purpose(read.access.purpose).value,
            scope=scope[:500],
            pseudonyms=chunk,
            aggregate=aggregate,
            accessed_at=read.at,
        )
        yield canonical_json(entry)


class AccessLog:
    """Writes the audited pooled reads on ``engine`` to the ledger ``open_ledger`` opens.

    Parameters
    ----------
    engine
        The hub database whose reads this log hears (other hubs' in the process are not).
    open_ledger
        Returns the hub's ledger (opened on first flush: the log key is read then).
    interval_s
        Seconds between a first unwritten read and its batch (in seconds).
    max_pending
        Most reads kept while the ledger cannot be written; beyond, the oldest are
        dropped with an error in the log.
    """

    def __init__(
        self,
        engine: Engine,
        open_ledger: Callable[[], SqlLedger],
        *,
        interval_s: float = 0.2,
        max_pending: int = 100_000,
    ) -> None:
        self.engine = engine
        self._open_ledger = open_ledger
        self.interval_s = interval_s
        self.max_pending = max_pending
        self._pending: dict[int, _Read] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._timer: threading.Timer | None = None
        self._stop: Callable[[], None] | None = None
        self.written = 0

    def start(self) -> AccessLog:
        """Observe the door (process-wide); returns self."""
        if self._stop is None:
            self._stop = observe(self)
        return self

    def __call__(self, access: Access) -> None:
        if access.bind is not self.engine or not audited(access):
            return
        with self._lock:
            read = self._pending.get(access.read)
            if read is None:
                read = self._pending[access.read] = _Read(access, int(time.time()))
            read.add(access)
            if self._timer is None:
                self._timer = threading.Timer(self.interval_s, self._tick)
                self._timer.daemon = True
                self._timer.start()

    def _tick(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self) -> int:
        """Write every pending read now; return the number of entries appended."""
        with self._flushing:
            with self._lock:
                reads, self._pending = self._pending, {}
            if not reads:
                return 0
            entries = [e for read in reads.values() for e in access_entries(read)]
            try:
                self._open_ledger().append(entries, validated=True)  # built here
            except (SQLAlchemyError, LedgerError, OSError):
                log.exception("could not write %d access entries; kept for the next try",
                              len(entries))
                self._keep(reads)
                return 0
            self.written += len(entries)
            return len(entries)

    def _keep(self, reads: dict[int, _Read]) -> None:
        with self._lock:
            merged = {**reads, **self._pending}
            if len(merged) > self.max_pending:
                dropped = len(merged) - self.max_pending
                log.error("access log: %d unwritten reads dropped (ledger unavailable)", dropped)
                merged = dict(list(merged.items())[dropped:])
            # no retry timer of its own: the next read, or close(), tries again
            self._pending = merged

    def close(self) -> None:
        """Stop observing, cancel the timer and write what is pending."""
        if self._stop is not None:
            self._stop()
            self._stop = None
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush()
