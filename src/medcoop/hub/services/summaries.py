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
- a re-sent record never gets here (record keys), so re-sends change nothing.

:func:`rebuild` recomputes a site's cells from its rows (after the migration that
introduced the table, or after a release that changes the exam types). It takes an
exclusive per-site lock that ingest takes shared (PostgreSQL advisory locks; SQLite
writers are serialised anyway).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from medcoop.analytics.alerts import study_metric
from medcoop.analytics.exam_types import classify_record
from medcoop.analytics.sketches import DoseSketch
from medcoop.hub.db.analytics_models import DoseSummary
from medcoop.hub.db.bulk import bulk_delete, bulk_insert, bulk_update
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import IrradiationEventRow, Site, Study, UsageFact
from medcoop.hub.db.tenancy import check_rows_in_tenant
from medcoop.records import StudyRecord

__all__ = [
    "EVENT_FACTS",
    "METRICS",
    "STUDY_FACTS",
    "CellKey",
    "RebuildResult",
    "SummaryChanges",
    "SummaryValue",
    "contributions",
    "lock_site",
    "month_of",
    "month_range",
    "rebuild",
    "study_values",
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
        inserts, updates, deletes = [], [], []
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
            site_id, device_id, exam_type, metric, month = key
            row = {
                "org_id": org_id,
                "site_id": site_id,
                "device_id": device_id,
                "exam_type": exam_type,
                "metric": metric,
                "month": month,
            }
            if sketch.count == 0:
                if stored is not None:
                    deletes.append(row)
                continue
            row.update(n_studies=sketch.count, sketch=sketch.to_bytes())
            (updates if stored is not None else inserts).append(row)
        table = DoseSummary.__table__
        bulk_update(session, table, _KEY, updates)  # type: ignore[arg-type]
        bulk_delete(session, table, _KEY, deletes)  # type: ignore[arg-type]
        bulk_insert(session, table, inserts, raw=_RAW)  # type: ignore[arg-type]
        return len(keys)


def _insert_empty(session: Session, org_id: uuid.UUID, keys: list[CellKey]) -> None:
    empty = DoseSketch().to_bytes()
    rows = [dict(zip(_KEY, (org_id, *key), strict=True), n_studies=0, sketch=empty) for key in keys]
    check_rows_in_tenant(session, rows)
    statement = postgresql.insert(DoseSummary.__table__).on_conflict_do_nothing()
    session.connection().execute(statement, rows)


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
    session.execute(
        delete(DoseSummary)
        .where(DoseSummary.site_id == site_id)
        .execution_options(synchronize_session=False)
    )
    rows = []
    for (site, device_id, exam_type, metric, month), found in sorted(
        values.items(), key=lambda item: _sort_key(item[0])
    ):
        sketch = DoseSketch()
        sketch.add_many(found)
        rows.append(
            {
                "org_id": org_id,
                "site_id": site,
                "device_id": device_id,
                "exam_type": exam_type,
                "metric": metric,
                "month": month,
                "n_studies": sketch.count,
                "sketch": sketch.to_bytes(),
            }
        )
    bulk_insert(session, DoseSummary.__table__, rows, raw=_RAW)  # type: ignore[arg-type]
    return studies, len(rows)


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
