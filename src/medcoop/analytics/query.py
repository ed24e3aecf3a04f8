"""Study queries for dose monitoring: filters, flat rows with SSDE, CSV, patient history.

:class:`StudyQuery` holds every filter the dose-monitoring views offer (site, device,
modality, protocol, exam type or body region, date range, age band, sex, patient size).
:func:`study_row` flattens one study into the columns a physicist exports (totals, the
highest CTDIvol and its SSDE when the size is known); :func:`rows_to_csv` writes them.
:func:`dose_history` is a patient's cumulative dose over time, by pseudonym only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medcoop.analytics.exam_types import classify_record
from medcoop.analytics.protocols import protocol_of
from medcoop.analytics.ssde import ssde_for_event
from medcoop.records import EventKind, StudyRecord
from medcoop.vocabulary import study_dap_gycm2, study_metric

__all__ = [
    "ROW_COLUMNS",
    "HistoryPoint",
    "StudyQuery",
    "dose_history",
    "iter_csv",
    "rows_to_csv",
    "sort_rows",
    "study_row",
]

#: Columns of an exported study row, in order.
ROW_COLUMNS: tuple[str, ...] = (
    "study_uid",
    "site_id",
    "device_key",
    "modality",
    "study_at",
    "exam_type",
    "body_region",
    "protocol",
    "age_years",
    "sex",
    "weight_kg",
    "diameter_cm",
    "events",
    "max_ctdivol_mgy",
    "max_ssde_mgy",
    "total_dlp_mgycm",
    "total_dap_gycm2",
    "total_rp_dose_mgy",
    "total_fluoro_time_s",
    "total_agd_left_mgy",
    "total_agd_right_mgy",
    "total_agd_mgy",
    "total_administered_activity_mbq",
)


@dataclass(frozen=True, slots=True)
class StudyQuery:
    """Filters over studies; ``None`` means "any". Ranges include both ends."""

    site_id: str | None = None
    device_key: str | None = None
    modality: str | None = None
    protocol: str | None = None
    exam_type: str | None = None
    body_region: str | None = None
    from_at: datetime | None = None
    to_at: datetime | None = None  # exclusive
    min_age_years: float | None = None
    max_age_years: float | None = None
    sex: str | None = None
    min_weight_kg: float | None = None
    max_weight_kg: float | None = None
    min_diameter_cm: float | None = None
    max_diameter_cm: float | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        """Return whether a flat row (from :func:`study_row`) passes every filter."""
        exact = ("site_id", "device_key", "modality", "protocol", "exam_type", "sex")
        for name in exact:
            wanted = getattr(self, name)
            if wanted is not None and row[name] != wanted:
                return False
        if self.body_region is not None and (row["body_region"] or "") != self.body_region:
            return False
        at = row["study_at"]
        if self.from_at is not None and (at is None or at < self.from_at):
            return False
        if self.to_at is not None and (at is None or at >= self.to_at):
            return False
        ranges = (
            ("age_years", self.min_age_years, self.max_age_years),
            ("weight_kg", self.min_weight_kg, self.max_weight_kg),
            ("diameter_cm", self.min_diameter_cm, self.max_diameter_cm),
        )
        for name, low, high in ranges:
            value = row[name]
            if (low is not None or high is not None) and value is None:
                return False
            if low is not None and value < low:
                return False
            if high is not None and value > high:
                return False
        return True


def study_row(record: StudyRecord, *, site_id: str) -> dict[str, Any]:
    """Return one study as a flat row (see :data:`ROW_COLUMNS`)."""
    exam = classify_record(record)
    patient = record.patient
    ct = [e for e in record.events if e.kind == EventKind.CT_ACQUISITION]
    ssdes = [r.ssde_mgy for r in (ssde_for_event(e, patient) for e in ct) if r is not None]
    return {
        "study_uid": record.study_uid,
        "site_id": site_id,
        "device_key": record.device.device_key,
        "modality": record.modality,
        "study_at": record.study_at,
        "exam_type": exam.key if exam else None,
        "body_region": exam.body_region if exam else None,
        "protocol": protocol_of(record),
        "age_years": patient.age_years,
        "sex": str(patient.sex) if patient.sex is not None else None,
        "weight_kg": patient.weight_kg,
        "diameter_cm": patient.water_equivalent_diameter_cm or patient.effective_diameter_cm,
        "events": len(record.events),
        "max_ctdivol_mgy": study_metric(record, "ctdivol"),
        "max_ssde_mgy": max(ssdes) if ssdes else None,
        "total_dlp_mgycm": study_metric(record, "dlp") if ct else record.totals.total_dlp_mgycm,
        "total_dap_gycm2": study_dap_gycm2(record),
        "total_rp_dose_mgy": record.totals.total_rp_dose_mgy,
        "total_fluoro_time_s": record.totals.total_fluoro_time_s,
        **_agd(record),
        "total_administered_activity_mbq": _administered_activity_mbq(record),
    }


def _events_sum(record: StudyRecord, name: str, side: str | None = None) -> float | None:
    values = [
        getattr(e, name)
        for e in record.events
        if getattr(e, name) is not None and (side is None or e.laterality == side)
    ]
    return sum(values) if values else None


def _agd(record: StudyRecord) -> dict[str, float | None]:
    """Average glandular dose per breast and for both: stated totals, else the events'."""
    totals = record.totals
    left = totals.total_agd_left_mgy
    right = totals.total_agd_right_mgy
    if left is None and right is None:
        left = _events_sum(record, "agd_mgy", "L")
        right = _events_sum(record, "agd_mgy", "R")
    both = None if left is None and right is None else (left or 0.0) + (right or 0.0)
    if both is None:
        both = _events_sum(record, "agd_mgy")  # events without laterality
    return {"total_agd_left_mgy": left, "total_agd_right_mgy": right, "total_agd_mgy": both}


def _administered_activity_mbq(record: StudyRecord) -> float | None:
    stated = record.totals.total_administered_activity_mbq
    return stated if stated is not None else _events_sum(record, "administered_activity_mbq")


def sort_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Sort rows by a column (``-column`` for descending); missing values always last.

    Raises
    ------
    ValueError
        If the column is not one of :data:`ROW_COLUMNS`.
    """
    descending = key.startswith("-")
    column = key.lstrip("-")
    if column not in ROW_COLUMNS:
        raise ValueError(f"cannot sort by {column!r}; use one of {', '.join(ROW_COLUMNS)}")
    present = [r for r in rows if r[column] is not None]
    missing = [r for r in rows if r[column] is None]
    return sorted(present, key=lambda r: r[column], reverse=descending) + missing


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Return rows as CSV text with a header (datetimes in ISO 8601, missing values empty)."""
    return "".join(iter_csv(rows))


def iter_csv(rows: Iterable[dict[str, Any]], *, chunk_rows: int = 500) -> Iterator[str]:
    """Yield :func:`rows_to_csv`'s text in pieces of ``chunk_rows`` rows (for streaming).

    Columns outside :data:`ROW_COLUMNS` are left out.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=ROW_COLUMNS, lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for n, row in enumerate(rows, 1):
        writer.writerow(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
        )
        if n % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One study in a patient's dose history, with running totals."""

    study_uid: str
    study_at: datetime | None
    modality: str
    dlp_mgycm: float | None
    dap_gycm2: float | None
    effective_dose_msv: float | None
    cumulative_dlp_mgycm: float
    cumulative_dap_gycm2: float
    cumulative_effective_dose_msv: float


def dose_history(records: Sequence[StudyRecord], pseudonym: str) -> list[HistoryPoint]:
    """Return the cumulative dose history of one patient pseudonym, oldest study first.

    Studies without a date sort last; a missing value adds nothing to a running total.
    """
    mine = [r for r in records if r.patient.pseudonym == pseudonym]
    mine.sort(key=lambda r: (r.study_at is None, r.study_at or datetime.min))
    points, dlp_sum, dap_sum, dose_sum = [], 0.0, 0.0, 0.0
    for record in mine:
        dlp = study_metric(record, "dlp") if record.modality == "CT" else None
        dap = study_dap_gycm2(record)
        dose = record.totals.total_effective_dose_msv
        dlp_sum += dlp or 0.0
        dap_sum += dap or 0.0
        dose_sum += dose or 0.0
        points.append(
            HistoryPoint(
                record.study_uid,
                record.study_at,
                record.modality,
                dlp,
                dap,
                dose,
                dlp_sum,
                dap_sum,
                dose_sum,
            )
        )
    return points
