"""What a study contributes to the dose summaries (pure: no session, no I/O).

A study contributes one value per metric (:data:`METRICS`) to the cell of its site,
device, exam type and UTC month, by the same
:func:`~medcoop.analytics.exam_types.classify_record` and
:func:`~medcoop.vocabulary.study_metric` the rest of the hub uses. Periods are whole
UTC months (:func:`month_of`, :func:`month_range`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from medcoop.analytics.exam_types import classify_record
from medcoop.records import StudyRecord
from medcoop.vocabulary import METRICS, Metric, study_metric

__all__ = [
    "EVENT_FACTS",
    "METRICS",
    "STUDY_FACTS",
    "CellKey",
    "SummaryValue",
    "contributions",
    "month_of",
    "month_range",
    "study_values",
    "with_keys",
]

#: (site_id, device_id, exam_type, metric, month)
CellKey = tuple[uuid.UUID, uuid.UUID, str, str, int]
#: (exam_type, metric, month, value): a study's contribution before its site and device
SummaryValue = tuple[str, Metric, int, float]
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
    "source",  # not a contribution: ingest drops header events a later report supersedes
    "protocol",
    "target_region",
    "acquisition_type",
    "ctdivol_mgy",
    "dlp_mgycm",
    "dap_gycm2",
)
_TOTALS: tuple[str, ...] = (
    "total_dlp_mgycm",
    "total_dap_gycm2",
    "total_fluoro_dap_gycm2",
    "total_acquisition_dap_gycm2",
)


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
