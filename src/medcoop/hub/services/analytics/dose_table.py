"""The dashboard's study table: SQL filters, server-side sort, keyset pagination.

Unlike :func:`medcoop.hub.services.analytics.dose.query_studies` (which flattens every
matching study in Python, fine for a CSV of one site), a page here costs one indexed
range read of the studies table plus one read of the page's events: it never depends on
how many studies the organisation holds. Rows are flattened by the same
:func:`~medcoop.analytics.query.study_row` as the API's, so every view shows the same
numbers. Every filter is SQL: exam type and protocol are columns ingest sets with the
rules the rows use (indexed with the study time), so a page reads one page of keys.
:data:`MAX_SCAN` still bounds a page's read should a row disagree with its columns (a
study stored before they existed, until ``medcoop hub rebuild-summaries``).

The cursor is opaque to the browser (URL-safe base64 of the last row's sort key and id),
so "next page" is stable while studies arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from medcoop.analytics.drl import counts_for_ctdivol
from medcoop.analytics.query import study_row
from medcoop.analytics.ssde import ssde_for_event
from medcoop.hub.db.models import IrradiationEventRow, Study
from medcoop.hub.errors import HubError
from medcoop.hub.services.analytics.dose import load_records
from medcoop.records import EventKind, IrradiationEvent, PatientFacts

__all__ = [
    "MAX_SCAN",
    "SORTABLE",
    "StudyTable",
    "TableFilter",
    "iter_rows",
    "size_points",
    "study_page",
]

#: Columns a table may be sorted by (the API's names for them).
SORTABLE: dict[str, InstrumentedAttribute[Any]] = {
    "study_at": Study.study_at,
    "modality": Study.modality,
    "age_years": Study.age_years,
    "weight_kg": Study.weight_kg,
    "events": Study.number_of_events,
    "total_dlp_mgycm": Study.total_dlp_mgycm,
    "total_dap_gycm2": Study.total_dap_gycm2,
    "total_rp_dose_mgy": Study.total_rp_dose_mgy,
    "total_fluoro_time_s": Study.total_fluoro_time_s,
}
MAX_SCAN = 5_000


@dataclass(frozen=True, slots=True)
class TableFilter:
    """The table's filters; ``None`` means any. Ranges include both ends, ``to_at`` excluded."""

    site_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    modality: str | None = None
    exam_type: str | None = None
    protocol: str | None = None
    from_at: datetime | None = None
    to_at: datetime | None = None
    min_age_years: float | None = None
    max_age_years: float | None = None
    min_diameter_cm: float | None = None
    max_diameter_cm: float | None = None
    min_weight_kg: float | None = None
    max_weight_kg: float | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """Return the SQL conditions of the filters the studies table holds."""
        diameter = func.coalesce(Study.water_equivalent_diameter_cm, Study.effective_diameter_cm)
        checks: list[tuple[Any, Any]] = [
            (self.site_id, lambda v: Study.site_id == v),
            (self.device_id, lambda v: Study.device_id == v),
            (self.modality, lambda v: Study.modality == v),
            (self.exam_type, lambda v: Study.exam_type == v),
            (self.protocol, lambda v: Study.protocol == v),
            (self.from_at, lambda v: Study.study_at >= v),
            (self.to_at, lambda v: Study.study_at < v),
            (self.min_age_years, lambda v: Study.age_years >= v),
            (self.max_age_years, lambda v: Study.age_years <= v),
            (self.min_weight_kg, lambda v: Study.weight_kg >= v),
            (self.max_weight_kg, lambda v: Study.weight_kg <= v),
            (self.min_diameter_cm, lambda v: diameter >= v),
            (self.max_diameter_cm, lambda v: diameter <= v),
        ]
        return [make(value) for value, make in checks if value is not None]

    def keeps(self, row: dict[str, Any]) -> bool:
        """Whether a flattened row passes the filters (all in SQL now: a check only)."""
        return (self.exam_type is None or row["exam_type"] == self.exam_type) and (
            self.protocol is None or row["protocol"] == self.protocol
        )

    def as_query(self) -> dict[str, str]:
        """The filters that are set, as query-string values."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out


@dataclass(frozen=True, slots=True)
class StudyTable:
    """One page: flattened rows (each with ``id``), the next cursor, the SQL-side total."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int
    scanned_out: bool  # the post-filters scanned MAX_SCAN studies without filling the page


def _sort(sort: str) -> tuple[InstrumentedAttribute[Any], bool]:
    descending = sort.startswith("-")
    column = SORTABLE.get(sort.lstrip("-"))
    if column is None:
        raise HubError(f"cannot sort by {sort.lstrip('-')!r}; use one of {', '.join(SORTABLE)}")
    return column, descending


def _encode(value: Any, study_id: uuid.UUID) -> str:
    plain = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([plain, study_id.hex], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, column: InstrumentedAttribute[Any]) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, hex_id = json.loads(raw)
        study_id = uuid.UUID(hex_id)
        if value is not None and column is Study.study_at:
            value = datetime.fromisoformat(value)
        elif value is not None and column is not Study.modality:
            value = float(value)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise HubError("the page cursor is not valid; start again from the first page") from exc
    return value, study_id


def _after(
    column: InstrumentedAttribute[Any], descending: bool, value: Any, study_id: uuid.UUID
) -> ColumnElement[bool]:
    # order: values (asc or desc), then missing values last; ties by id ascending
    if value is None:
        return and_(column.is_(None), Study.id > study_id)
    beyond = column < value if descending else column > value
    return or_(column.is_(None), beyond, and_(column == value, Study.id > study_id))


def _ordered(column: InstrumentedAttribute[Any], descending: bool) -> list[Any]:
    return [column.is_(None), column.desc() if descending else column.asc(), Study.id]


def study_page(
    session: Session,
    filters: TableFilter,
    *,
    sort: str = "-study_at",
    cursor: str | None = None,
    limit: int = 50,
) -> StudyTable:
    """Return one page of the caller's studies (tenant-scoped ``session``)."""
    column, descending = _sort(sort)
    where = filters.where()
    total = session.scalar(select(func.count()).select_from(Study).where(*where)) or 0
    after = _decode(cursor, column) if cursor else None
    rows: list[dict[str, Any]] = []
    scanned = 0
    last: tuple[Any, uuid.UUID] | None = after
    exhausted = False
    while len(rows) < limit and scanned < MAX_SCAN:
        query = select(Study.id, Study.study_uid, column).where(*where)
        if last is not None:
            query = query.where(_after(column, descending, *last))
        want = limit - len(rows)
        keys = session.execute(query.order_by(*_ordered(column, descending)).limit(want)).all()
        if not keys:
            exhausted = True
            break
        scanned += len(keys)
        flat = _flatten(session, {uid: study_id for study_id, uid, _ in keys})
        used = 0
        for study_id, _uid, value in keys:
            row = flat[study_id]
            last = (value, study_id)
            used += 1
            if filters.keeps(row):
                rows.append(row)
                if len(rows) == limit:
                    break
        if len(keys) < want and used == len(keys):  # read to the end of the table
            exhausted = True
            break
    more = not exhausted and last is not None and (len(rows) == limit or scanned >= MAX_SCAN)
    next_cursor = _encode(*last) if more and last is not None else None
    scanned_out = scanned >= MAX_SCAN and len(rows) < limit
    return StudyTable(rows, next_cursor, total, scanned_out=scanned_out)


def _flatten(session: Session, uid_to_id: dict[str, uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Flatten the studies of ``uid_to_id`` (three statements for a whole chunk)."""
    out = {}
    for site_id, record in load_records(session, study_ids=list(uid_to_id.values())):
        row = study_row(record, site_id=str(site_id))
        row["id"] = uid_to_id[record.study_uid]
        out[row["id"]] = row
    return out


def size_points(
    session: Session, filters: TableFilter, *, limit: int = 1_000
) -> list[tuple[float, float, float | None]]:
    """``(diameter cm, highest CTDIvol, highest SSDE)`` of the newest CT studies with a size.

    Two statements (the studies' sizes, then their CT events' columns) instead of
    flattening whole records: the values are the table's (``max_ctdivol_mgy`` leaves
    localizers out, ``max_ssde_mgy`` by AAPM 204 where the phantom and size are known).
    """
    diameter = func.coalesce(Study.water_equivalent_diameter_cm, Study.effective_diameter_cm)
    studies = session.execute(
        select(Study.id, Study.water_equivalent_diameter_cm, Study.effective_diameter_cm)
        .where(*filters.where(), Study.modality == "CT", diameter.is_not(None))
        .order_by(Study.study_at.desc())
        .limit(limit)
    ).all()
    events: dict[uuid.UUID, list[IrradiationEvent]] = {}
    ids = [row[0] for row in studies]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        found = session.execute(
            select(
                IrradiationEventRow.study_id,
                IrradiationEventRow.ctdivol_mgy,
                IrradiationEventRow.ctdi_phantom,
                IrradiationEventRow.target_region,
                IrradiationEventRow.acquisition_type,
            ).where(
                IrradiationEventRow.study_id.in_(chunk),
                IrradiationEventRow.kind == EventKind.CT_ACQUISITION.value,
                IrradiationEventRow.ctdivol_mgy.is_not(None),
            )
        )
        for study_id, ctdivol, phantom, region, acquisition in found:
            events.setdefault(study_id, []).append(
                IrradiationEvent.model_construct(
                    kind=EventKind.CT_ACQUISITION,
                    ctdivol_mgy=ctdivol,
                    ctdi_phantom=phantom,
                    target_region=region,
                    acquisition_type=acquisition,
                )
            )
    points: list[tuple[float, float, float | None]] = []
    for study_id, water, effective in studies:
        ct = events.get(study_id, [])
        ctdis = [e.ctdivol_mgy for e in ct if e.ctdivol_mgy is not None and counts_for_ctdivol(e)]
        size = water if water is not None else effective
        if not ctdis or size is None:
            continue
        patient = PatientFacts.model_construct(
            water_equivalent_diameter_cm=water, effective_diameter_cm=effective
        )
        ssdes = [r.ssde_mgy for r in (ssde_for_event(e, patient) for e in ct) if r is not None]
        points.append((size, max(ctdis), max(ssdes) if ssdes else None))
    return points


def iter_rows(
    session: Session, filters: TableFilter, *, sort: str = "-study_at", limit: int = 100_000
) -> Iterator[dict[str, Any]]:
    """Yield every matching row in order, page by page (for streamed exports)."""
    cursor: str | None = None
    sent = 0
    while sent < limit:
        table = study_page(session, filters, sort=sort, cursor=cursor, limit=min(500, limit - sent))
        yield from table.rows
        sent += len(table.rows)
        if table.next_cursor is None:
            return
        cursor = table.next_cursor
