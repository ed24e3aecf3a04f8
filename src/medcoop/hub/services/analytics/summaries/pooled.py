"""The pooled read: every site's sketches of one exam type and metric over some months.

Months with a block read it, less the rows of the cells changed since it was built, plus
those cells' current sketches (counts are integers: swapping rows is exact); other months
read their cells. Every read goes through the door (:func:`~medcoop.hub.db.tenancy.pooled_execute`):
the session is pooled for a purpose that grants the summary tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, String, and_, select, union_all
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    DenseRows,
    SketchMatrix,
    SketchSum,
    merge_rows,
)
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.tenancy import pooled_execute
from medcoop.hub.services.analytics.summaries.cache import load_blocks
from medcoop.hub.services.analytics.summaries.compaction import (
    BLOCK_MARGIN,
    uuid_bytes,
)

__all__ = [
    "PooledSketches",
    "read_pooled",
]

#: A month's block is rebuilt once more sites than this changed since it was built (and
#: not mostly in the last BLOCK_MARGIN, else the new block would be as stale at once).
_STALE_SITES_MIN = 8
_STALE_SITES_SHARE = 50  # ... or one site in 50 of the block's
_ALL_MONTHS = (0, 999_999)  # undated studies are month 0


@dataclass(frozen=True, slots=True)
class PooledSketches:
    """What a peer-benchmark query merged: one row per site, canonical site ids.

    ``in_class`` holds the sites' devices of the asked device class only (same rows),
    when one was asked. ``stale`` are the months worth compacting (:func:`compact`);
    ``cells_read`` and ``blocks_read`` say where the answer came from.
    """

    per_site: SketchMatrix
    in_class: SketchMatrix | None
    stale: tuple[int, ...]
    cells_read: int
    blocks_read: int


@dataclass(slots=True)
class _MonthState:
    built_at: datetime | None = None
    n_sites: int = 0
    changed: set[bytes] = field(default_factory=set)  # sites with cells changed since
    recent: set[bytes] = field(default_factory=set)  # ... within the last BLOCK_MARGIN


def read_pooled(
    session: Session,
    exam_type: str,
    metric: str,
    months: tuple[int, int] | None,
    *,
    device_ids: Iterable[bytes] | None = None,
    use_blocks: bool = True,
    now: datetime | None = None,
) -> PooledSketches:
    """Merge every site's sketches of one exam type and metric over ``months`` (inclusive).

    ``session`` reads across tenants (pooled for the peer benchmark, or administration). Months
    with a block read it, less the rows of the cells changed since it was built, plus
    those cells' current sketches (counts are integers: swapping rows is exact); other
    months read their cells. ``device_ids`` (the UUID bytes of the devices of one class)
    also returns the sites' sketches over those devices only. ``use_blocks=False`` reads
    the cells only (the reference the blocks must equal).
    """
    wanted = _KeySet(b"".join(device_ids)) if device_ids is not None else None
    recent_at = (now or utcnow()) - BLOCK_MARGIN
    for attempt in range(4):
        # a block replaced while it was read is read again; after three, cells alone
        found = _read_pooled(
            session,
            exam_type,
            metric,
            months or _ALL_MONTHS,
            wanted,
            use_blocks=use_blocks and attempt < 3,
            recent_at=recent_at,
        )
        if found is not None:
            return found
    raise AssertionError("reading the cells alone never needs another try")


def _read_pooled(
    session: Session,
    exam_type: str,
    metric: str,
    months: tuple[int, int],
    wanted_devices: _KeySet | None,
    *,
    use_blocks: bool,
    recent_at: datetime,
) -> PooledSketches | None:
    """One attempt of :func:`read_pooled`; ``None`` when a block was replaced meanwhile."""
    low, high = months
    block_key = DoseBlock.exam_type == exam_type, DoseBlock.metric == metric
    state: dict[int, _MonthState] = {}
    sites_rows: dict[int, DenseRows] = {}
    devices_rows: dict[int, DenseRows] = {}
    if use_blocks:
        for month, built_at, n_sites in pooled_execute(
            session,
            select(DoseBlock.month, DoseBlock.built_at, DoseBlock.n_sites).where(
                *block_key, DoseBlock.month.between(low, high)
            )
        ):
            state[month] = _MonthState(built_at=built_at, n_sites=n_sites)
        wanted = {m: held.built_at for m, held in state.items()}
        found = load_blocks(session, exam_type, metric, "sites", wanted)
        if found is None:
            return None
        sites_rows = found
        if wanted_devices is not None:
            found = load_blocks(session, exam_type, metric, "devices", wanted)
            if found is None:
                return None
            devices_rows = found
    # cells: every month without a block, and those changed since their month's block
    # (few, once a month is closed); one index range scan each, joined with UNION ALL
    # (SQLite scans the whole exam type for an OR of them)
    listed = _months_between(low, high)
    parts: list[ColumnElement[bool]]
    if listed is not None:
        parts = [DoseSummary.month.in_([m for m in listed if m not in state])]
    else:
        parts = [and_(DoseSummary.month.between(low, high), DoseSummary.month.not_in(list(state)))]
    parts += [
        and_(DoseSummary.month == month, DoseSummary.updated_at > held.built_at)
        for month, held in state.items()
    ]
    columns = (
        sql_cast(DoseSummary.site_id, String),
        sql_cast(DoseSummary.device_id, String),
        DoseSummary.month,
        DoseSummary.sketch,
        (DoseSummary.updated_at > recent_at).label("recent"),
    )
    of_kind = DoseSummary.exam_type == exam_type, DoseSummary.metric == metric
    cells = pooled_execute(
        session,
        union_all(*(select(*columns).where(*of_kind, part) for part in parts))
    ).all()
    raw = b"".join(uuid_bytes(row[0]) + uuid_bytes(row[1]) for row in cells)
    cell_ids = np.frombuffer(raw, dtype=np.uint8).reshape(len(cells), 32)
    cell_sites = cell_ids[:, :16].copy().view("V16").ravel()
    for row, site in zip(cells, cell_sites.tolist(), strict=True):
        held = state.setdefault(row[2], _MonthState())
        held.changed.add(site)
        if row[4]:
            held.recent.add(site)
    # the blocks' rows of changed cells are taken away: their per-device rows are needed
    missing = {
        m: held.built_at
        for m, held in state.items()
        if held.changed and m in sites_rows and m not in devices_rows
    }
    if missing:
        found = load_blocks(session, exam_type, metric, "devices", missing)
        if found is None:
            return None
        devices_rows.update(found)

    # one row per site: the union of the blocks' sites and the cells' (sorted bytes)
    sources = [rows.ids.view("V16").ravel() for rows in sites_rows.values()]
    distinct = {a.tobytes(): a for a in [*sources, cell_sites]}
    site_keys = np.unique(np.concatenate(list(distinct.values())))
    total = SketchSum(site_keys.size)
    in_class = SketchSum(site_keys.size) if wanted_devices is not None else None
    cell_keys = cell_ids.view("V32").ravel()
    cell_months = np.fromiter((row[2] for row in cells), dtype=np.int64, count=len(cells))
    for month, rows in sites_rows.items():
        block_sites = _rows_of(site_keys, rows.ids.view("V16").ravel())
        total.add(block_sites, rows.min_key, rows.counts, rows.zeros, rows.sums)
        devices = devices_rows.get(month)
        if devices is None:
            continue
        device_keys = devices.ids.view("V32").ravel()
        # device rows are sorted by site then device, over the same sites as the block's
        # site rows: the n-th site seen is the n-th site row
        ids = devices.ids
        nth = np.cumsum(np.r_[False, (ids[1:, :16] != ids[:-1, :16]).any(axis=1)])[: len(ids)]
        device_sites = nth if block_sites is None else block_sites[nth]
        taken = np.zeros(device_keys.size, dtype=bool)
        changed = cell_keys[cell_months == month]
        if changed.size and device_keys.size:
            at = np.minimum(np.searchsorted(device_keys, changed), device_keys.size - 1)
            taken[at[device_keys[at] == changed]] = True
            picked = np.flatnonzero(taken)
            total.add(
                device_sites[picked],
                devices.min_key,
                devices.counts[picked],
                devices.zeros[picked],
                devices.sums[picked],
                sign=-1,
            )
        if in_class is not None and wanted_devices is not None:
            hit = wanted_devices.contains(devices.ids[:, 16:])
            picked = np.flatnonzero(hit & ~taken)
            in_class.add(
                device_sites[picked],
                devices.min_key,
                devices.counts[picked],
                devices.zeros[picked],
                devices.sums[picked],
            )
    if cells:
        groups = np.searchsorted(site_keys, cell_sites)
        blobs = [bytes(row[3]) for row in cells]
        total.add_matrix(*_merged(groups, blobs))
        if in_class is not None and wanted_devices is not None:
            hit = wanted_devices.contains(cell_ids[:, 16:])
            chosen = [blob for blob, h in zip(blobs, hit.tolist(), strict=True) if h]
            if chosen:
                in_class.add_matrix(*_merged(groups[hit], chosen))
    ids = np.empty(site_keys.size, dtype=object)
    ids[:] = _canonical(site_keys)
    # worth (re)building: a new block would at least halve what is read from the cells
    # (sites changed within the margin stay there), and replacing a block takes more
    # than a few sites
    stale = tuple(
        month
        for month, held in sorted(state.items())
        if len(held.changed) - len(held.recent)
        > max(0 if held.built_at is None else _threshold(held.n_sites), len(held.changed) // 2)
    )
    return PooledSketches(
        per_site=total.matrix(ids),
        in_class=in_class.matrix(ids) if in_class is not None else None,
        stale=stale,
        cells_read=len(cells),
        blocks_read=len(sites_rows),
    )


class _KeySet:
    """A set of 16-byte keys that tests rows of keys at once (``np.isin`` sorts the rows
    as bytes, several times slower): by a 64-bit mix of each key, then exactly."""

    def __init__(self, raw: bytes) -> None:
        keys = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16)
        mixed = _mix(keys)
        order = np.argsort(mixed)
        self._mixed, self._keys = mixed[order], keys[order]
        self._exact = np.unique(mixed).size == mixed.size

    def contains(self, rows: np.ndarray) -> np.ndarray:
        """Return which of the ``(n, 16)`` uint8 ``rows`` are in the set."""
        if not self._exact:  # two keys share a mix (never seen): compare the bytes
            wanted = self._keys.copy().view("V16").ravel()
            return np.isin(np.ascontiguousarray(rows).view("V16").ravel(), wanted)
        if self._mixed.size == 0:
            return np.zeros(len(rows), dtype=bool)
        mixed = _mix(rows)
        at = np.minimum(np.searchsorted(self._mixed, mixed), self._mixed.size - 1)
        return (self._mixed[at] == mixed) & (self._keys[at] == rows).all(axis=1)


def _mix(keys: np.ndarray) -> np.ndarray:
    halves = np.ascontiguousarray(keys).view(np.uint64).reshape(-1, 2)
    return halves[:, 0] ^ (halves[:, 1] * np.uint64(0x9E3779B97F4A7C15))


def _months_between(low: int, high: int) -> list[int] | None:
    """Every ``year * 100 + month`` from ``low`` to ``high``, or ``None`` past ten years."""
    if low < 100_001 or high - low > 1000:
        return None
    months, month = [], low
    while month <= high:
        months.append(month)
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    return months
def _threshold(n_sites: int) -> int:
    return max(_STALE_SITES_MIN, n_sites // _STALE_SITES_SHARE)

def _rows_of(site_keys: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
    """The row of each key among ``site_keys`` (``None`` when they are the same keys)."""
    if keys.size == site_keys.size and keys.tobytes() == site_keys.tobytes():
        return None
    return np.searchsorted(site_keys, keys)


def _merged(groups: np.ndarray, blobs: list[bytes]) -> tuple[np.ndarray, SketchMatrix]:
    """Merge cell sketches per group: the groups present, and one matrix row for each."""
    present, rows = np.unique(groups, return_inverse=True)
    return present, merge_rows(rows, blobs)


def _canonical(keys: np.ndarray) -> list[str]:
    """Canonical UUID text of 16-byte keys (one hex call, not one UUID object per key)."""
    raw = keys.tobytes().hex()
    return [
        f"{raw[i : i + 8]}-{raw[i + 8 : i + 12]}-{raw[i + 12 : i + 16]}-"
        f"{raw[i + 16 : i + 20]}-{raw[i + 20 : i + 32]}"
        for i in range(0, len(raw), 32)
    ]

