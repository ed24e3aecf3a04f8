"""Reading the log's entries for people: newest first, filtered, and by pseudonym.

The log is read as its entry bundles (256 entries each, one query per 500 bundles), so a
page of the browser costs a few bundle reads whatever the log's size. Counting and the
search by pseudonym scan a bounded window of the newest entries (``scan_max``) and say
how far they looked: the log has no index by pseudonym yet, and a scan of ten million
entries is minutes, not a page view.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from medcoop.hub.services.ledger.store import SqlLedger
from medcoop.ledger import tiles as layout
from medcoop.ledger.entries import AccessEntry, ConsentEntry, parse_entry
from medcoop.ledger.errors import EntryError
from medcoop.ledger.tiles import ENTRIES_LEVEL, TILE_WIDTH, TileKey

__all__ = ["LogSummary", "Scan", "accesses_concerning", "newest_entries", "summarise"]

Entry = ConsentEntry | AccessEntry


def _backwards(ledger: SqlLedger, before: int, *, chunk: int = 64) -> Iterator[tuple[int, Entry]]:
    """Yield ``(index, entry)`` from ``before - 1`` down to 0, ``chunk`` bundles a read."""
    last_bundle = (before - 1) // TILE_WIDTH
    while last_bundle >= 0:
        first = max(0, last_bundle - chunk + 1)
        keys = [TileKey(ENTRIES_LEVEL, n) for n in range(first, last_bundle + 1)]
        found = ledger.read_tiles(keys)
        for n in range(last_bundle, first - 1, -1):
            bundle = layout.decode_bundle(found[TileKey(ENTRIES_LEVEL, n)])
            for offset in range(len(bundle) - 1, -1, -1):
                index = n * TILE_WIDTH + offset
                if index >= before:
                    continue
                try:
                    yield index, parse_entry(bundle[offset])
                except EntryError:  # a schema this hub does not know: skip, never fail
                    continue
        last_bundle = first - 1


@dataclass(frozen=True)
class Scan:
    """What a bounded scan found, and how far back it looked."""

    found: list[tuple[int, Entry]]
    scanned: int
    complete: bool


def newest_entries(
    ledger: SqlLedger,
    *,
    before: int | None = None,
    limit: int = 50,
    kind: str | None = None,
    purpose: str | None = None,
    organisation: str | None = None,
    scan_max: int = 20_000,
) -> Scan:
    """Return up to ``limit`` entries older than ``before`` (newest first) matching the
    filters, looking at no more than ``scan_max`` entries."""
    size = ledger.size()
    start = size if before is None else max(0, min(before, size))
    found: list[tuple[int, Entry]] = []
    scanned = 0
    for index, entry in _backwards(ledger, start):
        scanned += 1
        if _matches(entry, kind, purpose, organisation):
            found.append((index, entry))
            if len(found) >= limit:
                return Scan(found, scanned, complete=index == 0)
        if scanned >= scan_max:
            return Scan(found, scanned, complete=index == 0)
    return Scan(found, scanned, complete=True)


def _matches(entry: Entry, kind: str | None, purpose: str | None, organisation: str | None) -> bool:
    if kind and entry.kind != kind:
        return False
    if purpose and entry.purpose != purpose:
        return False
    if organisation:
        owner = entry.organisation if isinstance(entry, AccessEntry) else entry.site
        if owner != organisation:
            return False
    return True


@dataclass(frozen=True)
class LogSummary:
    """Counts of the newest entries: consent decisions per site, accesses per purpose."""

    consents_by_site: Counter[str] = field(default_factory=Counter)
    denials_by_site: Counter[str] = field(default_factory=Counter)
    accesses_by_purpose: Counter[str] = field(default_factory=Counter)
    accesses_by_organisation: Counter[str] = field(default_factory=Counter)
    scanned: int = 0
    complete: bool = True


def summarise(ledger: SqlLedger, *, scan_max: int = 20_000) -> LogSummary:
    """Count the newest ``scan_max`` entries (all of them in a smaller log)."""
    summary = LogSummary()
    scanned = 0
    for _index, entry in _backwards(ledger, ledger.size()):
        scanned += 1
        if isinstance(entry, ConsentEntry):
            summary.consents_by_site[entry.site] += 1
            if entry.pooling.value == "deny":
                summary.denials_by_site[entry.site] += 1
        else:
            summary.accesses_by_purpose[entry.purpose] += 1
            summary.accesses_by_organisation[entry.organisation] += 1
        if scanned >= scan_max:
            break
    return LogSummary(
        summary.consents_by_site,
        summary.denials_by_site,
        summary.accesses_by_purpose,
        summary.accesses_by_organisation,
        scanned,
        scanned >= ledger.size(),
    )


def accesses_concerning(
    ledger: SqlLedger, pseudonym: str, *, scan_max: int = 200_000
) -> tuple[Scan, list[tuple[int, ConsentEntry]]]:
    """Return the access entries naming ``pseudonym`` and its consent decisions (newest
    first), from the newest ``scan_max`` entries."""
    accesses: list[tuple[int, Entry]] = []
    decisions: list[tuple[int, ConsentEntry]] = []
    scanned = 0
    last = 0
    for index, entry in _backwards(ledger, ledger.size()):
        scanned += 1
        last = index
        if isinstance(entry, AccessEntry) and pseudonym in entry.pseudonyms:
            accesses.append((index, entry))
        elif isinstance(entry, ConsentEntry) and entry.pseudonym == pseudonym:
            decisions.append((index, entry))
        if scanned >= scan_max:
            break
    return Scan(accesses, scanned, complete=last == 0), decisions
