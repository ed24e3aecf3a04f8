"""Dose summaries: a DoseSketch per site x device x exam type x metric x month.

Peer benchmarks read these instead of studies, so a query costs the same at forty million
studies as at forty thousand. Ingest keeps them exact inside the batch's transaction:

- a study contributes one value per metric (``ctdivol``, ``dlp``, ``dap``) to the cell of
  its site, device, exam type and UTC month (:func:`contributions`, the same
  :func:`~medcoop.analytics.exam_types.classify_record` and
  :func:`~medcoop.analytics.alerts.study_metric` the rest of the hub uses);
- a later record of a study (superset, subset or added events) removes the study's old
  contributions and adds its new ones (:class:`SummaryChanges`); sketches have integer
  counts, so removal is exact;
- one batch reads each touched cell once (``SELECT ... FOR UPDATE``) and writes it once;
  on PostgreSQL a cell another worker may be creating is first inserted empty with
  ``ON CONFLICT DO NOTHING`` (which waits for that worker instead of failing), then
  locked; SQLite serialises writers anyway.
- a re-sent record never gets here (record keys), so re-sends change nothing;
- every cell written is stamped ``updated_at``, and a cell that loses its last study is
  kept empty rather than deleted.

Queries read pooled blocks (:func:`compact`: every site's and device's sketch of one
exam type, metric and month, packed densely) plus the cells changed after a block was
built (:func:`read_pooled`), so a closed month costs one row and the current month its
cells. Blocks are rebuilt from the cells, never written by ingest.

:func:`rebuild` recomputes a site's cells from its rows (after the migration that
introduced the table, or after a release that changes the exam types). It takes an
exclusive per-site lock that ingest takes shared (PostgreSQL advisory locks; SQLite
writers are serialised anyway).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import String, and_, delete, select, text, union_all
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from medcoop.analytics.alerts import study_metric
from medcoop.analytics.exam_types import classify_record
from medcoop.analytics.sketches import (
    DenseRows,
    DoseSketch,
    SketchMatrix,
    SketchSum,
    merge_rows,
    pack_rows,
    unpack_rows,
)
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.bulk import bulk_insert, bulk_update, insert_ignore
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import IrradiationEventRow, Site, Study, UsageFact
from medcoop.hub.db.tenancy import ALL_TENANTS, TenantScopeError, current_tenant
from medcoop.records import StudyRecord

__all__ = [
    "BLOCK_MARGIN",
    "EVENT_FACTS",
    "METRICS",
    "STUDY_FACTS",
    "CellKey",
    "RebuildResult",
    "SummaryChanges",
    "SummaryValue",
    "contributions",
    "drop_block_cache",
    "lock_site",
    "month_of",
    "month_range",
    "rebuild",
    "study_values",
    "uuid_bytes",
    "with_keys",
]

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("ctdivol", "dlp", "dap")
#: (site_id, device_id, exam_type, metric, month)
CellKey = tuple[uuid.UUID, uuid.UUID, str, str, int]
#: (exam_type, metric, month, value): a study's contribution before its site and device
SummaryValue = tuple[str, str, int, float]
#: The study columns a contribution depends on.
STUDY_FACTS: tuple[str, ...] = (
    "site_id",
    "device_id",
    "modality",
    "study_at",
    "study_description",
    "procedure_code",
    "total_dlp_mgycm",
    "total_dap_gycm2",
    "total_fluoro_dap_gycm2",
    "total_acquisition_dap_gycm2",
)
#: The event columns a contribution depends on.
EVENT_FACTS: tuple[str, ...] = (
    "event_uid",
    "kind",
    "protocol",
    "target_region",
    "acquisition_type",
    "ctdivol_mgy",
    "dlp_mgycm",
    "dap_gycm2",
)
_TOTALS = ("total_dlp_mgycm", "total_dap_gycm2", "total_fluoro_dap_gycm2")
_TOTALS += ("total_acquisition_dap_gycm2",)
_KEY = ("org_id", "site_id", "device_id", "exam_type", "metric", "month")
_CHUNK = 2000
_RAW = frozenset({"sketch"})  # bytes, as both drivers take them


def month_of(at: datetime | None) -> int:
    """Return the summary month of a study time: ``year * 100 + month`` in UTC, 0 if unknown."""
    if at is None:
        return 0
    at = at.astimezone(UTC)
    return at.year * 100 + at.month


def month_range(from_at: datetime | None, to_at: datetime | None) -> tuple[int, int] | None:
    """Return the months ``[first, last]`` a period covers, widened to whole UTC months.

    ``to_at`` is exclusive: a period ending at midnight on the first of a month does not
    reach into that month. ``None`` when neither bound is given (every month, and undated
    studies too).
    """
    if from_at is None and to_at is None:
        return None
    first = month_of(from_at) if from_at is not None else 1
    if to_at is None:
        return first, 999_999
    end = to_at.astimezone(UTC)
    last = end.year * 100 + end.month
    at_month_start = (end.day, end.hour, end.minute, end.second, end.microsecond) == (
        1,
        0,
        0,
        0,
        0,
    )
    if at_month_start:
        last = last - 1 if last % 100 > 1 else (last // 100 - 1) * 100 + 12
    return first, last


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str  # an EventKind value (a StrEnum compares equal to it)
    protocol: str | None
    target_region: str | None
    acquisition_type: str | None  # a localizer's CTDIvol is not the study's
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    dap_gycm2: float | None


@dataclass(frozen=True, slots=True)
class _Totals:
    total_dlp_mgycm: float | None
    total_dap_gycm2: float | None
    total_fluoro_dap_gycm2: float | None
    total_acquisition_dap_gycm2: float | None


@dataclass(frozen=True, slots=True)
class _Usage:
    performed_protocol: str | None


@dataclass(frozen=True, slots=True)
class _Study:
    """The part of a :class:`StudyRecord` that exam types and study metrics read.

    Plain slots objects, because building pydantic records (even unvalidated) for every
    study cost ingest more than writing the study.
    """

    modality: str
    study_description: str | None
    procedure_code: str | None
    events: tuple[_Event, ...]
    totals: _Totals
    usage: _Usage


def study_values(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> list[SummaryValue]:
    """Return ``(exam type, metric, month, value)`` for each metric a study has a value of.

    Parameters
    ----------
    study
        The study's facts (``modality``, ``study_at``, ``study_description``,
        ``procedure_code`` and the dose totals; a row or the ingest's draft of one).
    performed_protocol
        The study's MPPS protocol, if any (exam types fall back to it).
    events
        Every event of the study with its :data:`EVENT_FACTS`. They are ordered by event
        UID here, so the exam type never depends on the order rows come back in.
    """
    facts = _Study(
        modality=study["modality"],
        study_description=study["study_description"],
        procedure_code=study["procedure_code"],
        events=tuple(
            _Event(
                e["kind"],
                e["protocol"],
                e["target_region"],
                e["acquisition_type"],
                e["ctdivol_mgy"],
                e["dlp_mgycm"],
                e["dap_gycm2"],
            )
            for e in sorted(events, key=lambda e: e["event_uid"])
        ),
        totals=_Totals(*(study[name] for name in _TOTALS)),
        usage=_Usage(performed_protocol),
    )
    # the same rules as everywhere else in the hub, on the attributes they read
    record = cast(StudyRecord, facts)
    exam = classify_record(record)
    if exam is None:
        return []
    month = month_of(study["study_at"])
    found = []
    for metric in METRICS:
        value = study_metric(record, metric)
        if value is not None:
            found.append((exam.key, metric, month, value))
    return found


def contributions(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> list[tuple[CellKey, float]]:
    """Return the cells a study adds a value to (its :data:`STUDY_FACTS`), and the values."""
    return with_keys(study, study_values(study, performed_protocol, events))


def with_keys(
    study: Mapping[str, Any], values: Iterable[SummaryValue]
) -> list[tuple[CellKey, float]]:
    """Return :func:`study_values` keyed by the study's site and device."""
    site_id, device_id = study["site_id"], study["device_id"]
    return [((site_id, device_id, exam, metric, month), v) for exam, metric, month, v in values]


@dataclass(slots=True)
class SummaryChanges:
    """What one batch adds to and removes from each cell, applied in one pass."""

    adds: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))
    removes: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))

    def change(
        self, before: Sequence[tuple[CellKey, float]], after: Sequence[tuple[CellKey, float]]
    ) -> None:
        """Record that a study's contributions went from ``before`` to ``after``."""
        old, new = dict(before), dict(after)
        for key, value in old.items():
            if new.get(key) != value:
                self.removes[key].append(value)
        for key, value in new.items():
            if old.get(key) != value:
                self.adds[key].append(value)

    def apply(self, session: Session, org_id: uuid.UUID) -> int:
        """Write the changes: one read (locked) and one write per touched cell.

        Returns the number of cells touched.
        """
        keys = sorted(set(self.adds) | set(self.removes), key=_sort_key)
        if not keys:
            return 0
        found = _read_cells(session, keys)
        missing = [key for key in keys if key not in found]
        if missing and session.connection().dialect.name == "postgresql":
            # Another batch may be creating the same cells: insert empty ones that way
            # (ON CONFLICT DO NOTHING waits for it instead of failing), then lock them.
            _insert_empty(session, org_id, missing)
            found.update(_read_cells(session, missing))
        inserts, updates = [], []
        # when the cells changed: a pooled block stands for its month's cells up to its
        # built_at, so queries read the cells changed after it (see compact)
        now = utcnow()
        for key in keys:
            stored = found.get(key)
            sketch = DoseSketch.from_bytes(stored) if stored is not None else DoseSketch()
            removes = self.removes.get(key)
            if removes:
                missing = sketch.remove_many(removes)
                if missing:
                    # bookkeeping out of step (rows older than the summaries, or exam types
                    # changed by a release): run `medcoop hub rebuild-summaries`
                    log.warning("summary %s lacked %d value(s) to remove", key, missing)
            adds = self.adds.get(key)
            if adds:
                sketch.add_many(adds)
            if sketch.count == 0 and stored is None:
                continue
            # a cell that lost its last study is kept, empty: deleting it would leave its
            # old values in a pooled block with nothing newer to replace them
            row = _cell_row(org_id, key, sketch.count, sketch.to_bytes(), now)
            (updates if stored is not None else inserts).append(row)
        table = DoseSummary.__table__
        bulk_update(session, table, _KEY, updates)  # type: ignore[arg-type]
        bulk_insert(session, table, inserts, raw=_RAW)  # type: ignore[arg-type]
        return len(keys)


def _cell_row(
    org_id: uuid.UUID, key: CellKey, n_studies: int, sketch: bytes, updated_at: datetime
) -> dict[str, Any]:
    """One :class:`DoseSummary` row (its :data:`_KEY` columns, then the values)."""
    site_id, device_id, exam_type, metric, month = key
    return {
        "org_id": org_id,
        "site_id": site_id,
        "device_id": device_id,
        "exam_type": exam_type,
        "metric": metric,
        "month": month,
        "n_studies": n_studies,
        "sketch": sketch,
        "updated_at": updated_at,
    }


def _insert_empty(session: Session, org_id: uuid.UUID, keys: list[CellKey]) -> None:
    empty, now = DoseSketch().to_bytes(), utcnow()
    rows = [_cell_row(org_id, key, 0, empty, now) for key in keys]
    insert_ignore(session, DoseSummary.__table__, rows)  # type: ignore[arg-type]


def _sort_key(key: CellKey) -> tuple[str, str, str, str, int]:
    site_id, device_id, exam_type, metric, month = key
    return (str(site_id), str(device_id), exam_type, metric, month)


def _read_cells(session: Session, keys: list[CellKey]) -> dict[CellKey, bytes]:
    """Read (and on PostgreSQL lock, in key order) the stored cells among ``keys``."""
    sites = sorted({k[0] for k in keys}, key=str)
    devices = sorted({k[1] for k in keys}, key=str)
    exams = sorted({k[2] for k in keys})
    months = sorted({k[4] for k in keys})
    query = (
        select(
            DoseSummary.site_id,
            DoseSummary.device_id,
            DoseSummary.exam_type,
            DoseSummary.metric,
            DoseSummary.month,
            DoseSummary.sketch,
        )
        .where(
            DoseSummary.site_id.in_(sites),
            DoseSummary.device_id.in_(devices),
            DoseSummary.exam_type.in_(exams),
            DoseSummary.month.in_(months),
        )
        # one lock order for every worker, so two batches cannot deadlock on cells
        .order_by(
            DoseSummary.site_id,
            DoseSummary.device_id,
            DoseSummary.exam_type,
            DoseSummary.metric,
            DoseSummary.month,
        )
        .with_for_update()
    )
    wanted = set(keys)
    found = {}
    for site_id, device_id, exam_type, metric, month, sketch in session.execute(query):
        key = (site_id, device_id, exam_type, metric, month)
        if key in wanted:
            found[key] = bytes(sketch)
    return found


def lock_site(session: Session, site_id: uuid.UUID, *, exclusive: bool = False) -> None:
    """Take the per-site summary lock for this transaction (PostgreSQL; no-op on SQLite).

    Ingest takes it shared, :func:`rebuild` exclusive, so a rebuild never interleaves with
    a batch of the same site.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    key = int.from_bytes(site_id.bytes[8:], "big", signed=True)
    connection.execute(text(f"SELECT {lock}(:key)"), {"key": key})


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What :func:`rebuild` did."""

    sites: int
    studies: int
    cells: int


def rebuild(session: Session, *, site_ids: Sequence[uuid.UUID] | None = None) -> RebuildResult:
    """Recompute the summaries of ``site_ids`` (default: every site the session sees).

    Each site is rebuilt in its own transaction (committed here), under the exclusive
    per-site lock, so ingest may keep running.
    """
    query = select(Site.org_id, Site.id).order_by(Site.org_id, Site.id)
    if site_ids is not None:
        query = query.where(Site.id.in_(list(site_ids)))
    sites = session.execute(query).all()
    session.rollback()
    studies = cells = 0
    for org_id, site_id in sites:
        try:
            begin_write(session)
            lock_site(session, site_id, exclusive=True)
            counted, written = _rebuild_site(session, org_id, site_id)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        studies += counted
        cells += written
    return RebuildResult(sites=len(sites), studies=studies, cells=cells)


def _rebuild_site(session: Session, org_id: uuid.UUID, site_id: uuid.UUID) -> tuple[int, int]:
    values: dict[CellKey, list[float]] = defaultdict(list)
    studies = 0
    for chunk in _site_studies(session, site_id):
        studies += len(chunk)
        ids = list(chunk)
        events: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        columns = [getattr(IrradiationEventRow, name) for name in EVENT_FACTS]
        for row in session.execute(
            select(IrradiationEventRow.study_id, *columns).where(
                IrradiationEventRow.study_id.in_(ids)
            )
        ):
            events[row[0]].append(dict(zip(EVENT_FACTS, row[1:], strict=True)))
        protocols = dict(
            session.execute(
                select(UsageFact.study_id, UsageFact.performed_protocol).where(
                    UsageFact.study_id.in_(ids)
                )
            ).all()
        )
        for study_id, study in chunk.items():
            for key, value in contributions(study, protocols.get(study_id), events[study_id]):
                values[key].append(value)
    stored = session.execute(
        select(
            DoseSummary.device_id, DoseSummary.exam_type, DoseSummary.metric, DoseSummary.month
        ).where(DoseSummary.site_id == site_id)
    ).all()
    # cells that no longer get a value stay, empty (see SummaryChanges.apply)
    for device_id, exam_type, metric, month in stored:
        values.setdefault((site_id, device_id, exam_type, metric, month), [])
    session.execute(
        delete(DoseSummary)
        .where(DoseSummary.site_id == site_id)
        .execution_options(synchronize_session=False)
    )
    rows, now = [], utcnow()
    for key, found in sorted(values.items(), key=lambda item: _sort_key(item[0])):
        sketch = DoseSketch()
        sketch.add_many(found)
        rows.append(_cell_row(org_id, key, sketch.count, sketch.to_bytes(), now))
    bulk_insert(session, DoseSummary.__table__, rows, raw=_RAW)  # type: ignore[arg-type]
    return studies, sum(row["n_studies"] > 0 for row in rows)


def _site_studies(session: Session, site_id: uuid.UUID) -> Iterable[dict[uuid.UUID, dict]]:
    """Yield the site's studies in chunks (keyset pages by id), as ``id → facts``."""
    columns = [getattr(Study, name) for name in STUDY_FACTS]
    last: uuid.UUID | None = None
    while True:
        query = select(Study.id, *columns).where(Study.site_id == site_id)
        if last is not None:
            query = query.where(Study.id > last)
        rows = session.execute(query.order_by(Study.id).limit(_CHUNK)).all()
        if not rows:
            return
        yield {row[0]: dict(zip(STUDY_FACTS, row[1:], strict=True)) for row in rows}
        last = rows[-1][0]


# -- the pooled blocks: every site's cells of one exam type, metric and month, packed ----

#: A block's ``built_at`` is this long before it was built: longer than a write
#: transaction can take from stamping ``updated_at`` (just before commit) to committing,
#: plus the clock differences between hub workers. A cell change the block missed is
#: then always stamped after ``built_at``, and read from the cells.
BLOCK_MARGIN = timedelta(minutes=5)
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

    ``session`` reads across tenants (the caller scoped it to ``ALL_TENANTS``). Months
    with a block read it, less the rows of the cells changed since it was built, plus
    those cells' current sketches (counts are integers: swapping rows is exact); other
    months read their cells. ``device_ids`` (the UUID bytes of the devices of one class)
    also returns the sites' sketches over those devices only. ``use_blocks=False`` reads
    the cells only (the reference the blocks must equal).
    """
    _require_pool(session)
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
    connection = session.connection()
    block_key = DoseBlock.exam_type == exam_type, DoseBlock.metric == metric
    state: dict[int, _MonthState] = {}
    sites_rows: dict[int, DenseRows] = {}
    devices_rows: dict[int, DenseRows] = {}
    if use_blocks:
        for month, built_at, n_sites in connection.execute(
            select(DoseBlock.month, DoseBlock.built_at, DoseBlock.n_sites).where(
                *block_key, DoseBlock.month.between(low, high)
            )
        ):
            state[month] = _MonthState(built_at=built_at, n_sites=n_sites)
        wanted = {m: held.built_at for m, held in state.items()}
        found = _load_blocks(connection, exam_type, metric, "sites", wanted)
        if found is None:
            return None
        sites_rows = found
        if wanted_devices is not None:
            found = _load_blocks(connection, exam_type, metric, "devices", wanted)
            if found is None:
                return None
            devices_rows = found
    # cells: every month without a block, and those changed since their month's block
    # (few, once a month is closed); one index range scan each, joined with UNION ALL
    # (SQLite scans the whole exam type for an OR of them)
    listed = _months_between(low, high)
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
    cells = connection.execute(
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
        found = _load_blocks(connection, exam_type, metric, "devices", missing)
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
            picked = [blob for blob, h in zip(blobs, hit.tolist(), strict=True) if h]
            if picked:
                in_class.add_matrix(*_merged(groups[hit], picked))
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


def _require_pool(session: Session) -> None:
    # these read every tenant's cells with Core statements (which the tenancy listener
    # does not scope): only a session that says so may
    if current_tenant(session) is not ALL_TENANTS:
        raise TenantScopeError("the pooled summaries are read with an ALL_TENANTS session")


def _months_between(low: int, high: int) -> list[int] | None:
    """Every ``year * 100 + month`` from ``low`` to ``high``, or ``None`` past ten years."""
    if low < 100_001 or high - low > 1000:
        return None
    months, month = [], low
    while month <= high:
        months.append(month)
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    return months


#: Decoded block sections kept per process (bytes); blocks never change once built, so
#: a query reads only their months and times, and the sections of blocks it has not seen.
BLOCK_CACHE_BYTES = 256 * 2**20
#: (database, exam type, metric, month, built_at, section) → (rows, size)
_CacheKey = tuple[str, str, str, int, datetime | None, str]
_cache: OrderedDict[_CacheKey, tuple[DenseRows, int]] = OrderedDict()
_cache_lock = threading.Lock()
_cached_bytes = 0


def drop_block_cache() -> None:
    """Forget the decoded blocks this process keeps (benchmarks measure a cold start)."""
    global _cached_bytes
    with _cache_lock:
        _cache.clear()
        _cached_bytes = 0


def _load_blocks(
    connection: Any,
    exam_type: str,
    metric: str,
    section: str,
    wanted: Mapping[int, datetime | None],
) -> dict[int, DenseRows] | None:
    """Return one section of the blocks ``wanted`` (month → built_at), cached or read.

    ``None`` when a block read is not the one asked for (compacted meanwhile).
    """
    global _cached_bytes
    database = connection.engine.url.render_as_string()

    def key(month: int, built_at: datetime | None) -> _CacheKey:
        return (database, exam_type, metric, month, built_at, section)

    found: dict[int, DenseRows] = {}
    with _cache_lock:
        for month, built_at in wanted.items():
            hit = _cache.get(key(month, built_at))
            if hit is not None:
                _cache.move_to_end(key(month, built_at))
                found[month] = hit[0]
    missing = [m for m in wanted if m not in found]
    if not missing:
        return found
    column = DoseBlock.sites if section == "sites" else DoseBlock.devices
    rows = connection.execute(
        select(DoseBlock.month, DoseBlock.built_at, column).where(
            DoseBlock.exam_type == exam_type,
            DoseBlock.metric == metric,
            DoseBlock.month.in_(missing),
        )
    ).all()
    for month, built_at, data in rows:
        if built_at != wanted[month]:
            return None
        found[month] = unpack_rows(bytes(data))
        with _cache_lock:
            if key(month, built_at) not in _cache:
                _cache[key(month, built_at)] = (found[month], len(data))
                _cached_bytes += len(data)
            while _cached_bytes > BLOCK_CACHE_BYTES and _cache:
                _cached_bytes -= _cache.popitem(last=False)[1][1]
    return found if len(found) == len(wanted) else None


def _threshold(n_sites: int) -> int:
    return max(_STALE_SITES_MIN, n_sites // _STALE_SITES_SHARE)


def uuid_bytes(text_id: str) -> bytes:
    """Return the 16 bytes of the database's text of a UUID (32 hex digits on SQLite,
    canonical on PostgreSQL), without building a UUID object."""
    return bytes.fromhex(text_id.replace("-", ""))


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


def compact(
    session: Session,
    exam_type: str,
    metric: str,
    months: Iterable[int],
    *,
    margin: timedelta = BLOCK_MARGIN,
) -> int:
    """(Re)build the pooled blocks of ``months`` from their cells; commit; return the count.

    Each month's cells are read in one statement (one snapshot on either back end), after
    ``built_at`` is fixed at now less ``margin``: a change that statement missed commits
    later, so it is stamped after ``built_at`` (see :data:`BLOCK_MARGIN`) and queries read
    it from the cells. A block never replaces a newer one.
    """
    _require_pool(session)
    session.rollback()
    built = []
    # before the first read: on SQLite the whole transaction reads that first snapshot
    built_at = utcnow() - margin
    for month in months:
        rows = (
            session.connection()
            .execute(
                select(
                    sql_cast(DoseSummary.site_id, String),
                    sql_cast(DoseSummary.device_id, String),
                    DoseSummary.sketch,
                ).where(
                    DoseSummary.exam_type == exam_type,
                    DoseSummary.metric == metric,
                    DoseSummary.month == month,
                    DoseSummary.n_studies > 0,
                )
            )
            .all()
        )
        built.append(_block(exam_type, metric, month, built_at, rows))
    session.rollback()
    if not built:
        return 0
    begin_write(session)
    table = DoseBlock.__table__
    if session.connection().dialect.name == "postgresql":
        insert = postgresql.insert(table)
    else:
        insert = sqlite.insert(table)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=["exam_type", "metric", "month"],
        set_={name: excluded[name] for name in _BLOCK_VALUES},
        where=table.c.built_at < excluded.built_at,
    )
    try:
        session.connection().execute(statement, built)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(built)


_BLOCK_VALUES = ("built_at", "n_sites", "n_cells", "sites", "devices")


def _block(
    exam_type: str, metric: str, month: int, built_at: datetime, rows: Sequence[Any]
) -> dict[str, Any]:
    """Pack one month's cells: per-site rows, and per site-and-device rows."""
    ids = np.frombuffer(
        b"".join(uuid_bytes(site) + uuid_bytes(device) for site, device, _ in rows),
        dtype="V32",
    )
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    blobs = [bytes(rows[i][2]) for i in order.tolist()]
    raw = ids.view(np.uint8).reshape(-1, 32)
    site_keys, first, site_rows = np.unique(
        raw[:, :16].copy().view("V16").ravel(), return_index=True, return_inverse=True
    )
    per_device = merge_rows(np.arange(len(blobs)), blobs)
    per_site = _per_site(per_device, first, site_rows)
    return {
        "exam_type": exam_type,
        "metric": metric,
        "month": month,
        "built_at": built_at,
        "n_sites": int(site_keys.size),
        "n_cells": len(blobs),
        "sites": pack_rows(site_keys.view(np.uint8).reshape(-1, 16), per_site),
        "devices": pack_rows(raw, per_device),
    }


def _per_site(per_device: SketchMatrix, first: np.ndarray, site_rows: np.ndarray) -> SketchMatrix:
    """Sum the per-device rows of each site (rows sorted by site: site ``i``'s rows are the
    run from ``first[i]``; ``site_rows`` is each row's site).

    The same matrix as :func:`merge_rows` of the blobs grouped by site, bit for bit: both
    share one key range, counts and zeros are exact integers either way, and the sums add
    each blob's sum in row order per site as ``merge_rows`` does (``0.0 + x == x``).
    """
    if first.size == 0:  # no cells: the empty matrix
        return per_device
    return SketchMatrix(
        np.arange(first.size),
        per_device.min_key,
        np.add.reduceat(per_device.counts, first, axis=0),
        np.add.reduceat(per_device.zeros, first),
        np.bincount(site_rows, weights=per_device.sums, minlength=first.size),
    )
