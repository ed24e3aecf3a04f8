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
from medcoop.analytics.protocols import protocol_of, protocol_values
from medcoop.records import StudyRecord
from medcoop.vocabulary import METRICS, Metric, study_metric

__all__ = [
    "EVENT_FACTS",
    "METRICS",
    "STUDY_FACTS",
    "CellKey",
    "StudySummaries",
    "SummaryValue",
    "contributions",
    "month_of",
    "month_range",
    "protocol_contributions",
    "protocol_study_values",
    "study_labels",
    "study_summaries",
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
    # the technique the protocol summaries keep
    "kvp",
    "tube_current_ma",
    "pitch",
    "nominal_total_collimation_mm",
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
    event_uid: str
    kind: str  # an EventKind value (a StrEnum compares equal to it)
    protocol: str | None
    target_region: str | None
    acquisition_type: str | None  # a localizer's CTDIvol is not the study's
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    dap_gycm2: float | None
    kvp: float | None
    tube_current_ma: float | None
    pitch: float | None
    nominal_total_collimation_mm: float | None


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
    return _dose_values(_facts(study, performed_protocol, events), month_of(study["study_at"]))


def _dose_values(facts: _Study, month: int, exam: Any = False) -> list[SummaryValue]:
    # the same rules as everywhere else in the hub, on the attributes they read
    record = cast(StudyRecord, facts)
    if exam is False:  # not classified by the caller yet
        exam = classify_record(record)
    if exam is None:
        return []
    found = []
    for metric in METRICS:
        value = study_metric(record, metric)
        if value is not None:
            found.append((exam.key, metric, month, value))
    return found


@dataclass(frozen=True, slots=True)
class StudySummaries:
    """Everything ingest derives from one study, from one reading of its facts."""

    labels: dict[str, str | None]
    values: list[SummaryValue]
    protocol_values: list[SummaryValue]


def study_summaries(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> StudySummaries:
    """The study's labels (:func:`study_labels`), dose and protocol summary values at once."""
    facts = _facts(study, performed_protocol, events)
    record = cast(StudyRecord, facts)
    exam, name = classify_record(record), protocol_of(record)  # once for all three
    labels = {"exam_type": exam.key if exam else None, "protocol": name[:128] if name else None}
    return StudySummaries(
        labels,
        _dose_values(facts, month_of(study["study_at"]), exam),
        _protocol_values(facts, name),
    )


def _facts(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> _Study:
    return _Study(
        modality=study["modality"],
        study_description=study["study_description"],
        procedure_code=study["procedure_code"],
        events=tuple(
            _Event(**{name: e[name] for name in _EVENT_SLOTS})
            for e in sorted(events, key=lambda e: e["event_uid"])
        ),
        totals=_Totals(*(study[name] for name in _TOTALS)),
        usage=_Usage(performed_protocol),
    )


_EVENT_SLOTS = _Event.__slots__


def study_labels(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> dict[str, str | None]:
    """The study's ``exam_type`` and ``protocol`` columns, by the rules every view uses."""
    return _labels(_facts(study, performed_protocol, events))


def _labels(facts: _Study) -> dict[str, str | None]:
    record = cast(StudyRecord, facts)
    exam = classify_record(record)
    name = protocol_of(record)
    return {"exam_type": exam.key if exam else None, "protocol": name[:128] if name else None}


def protocol_study_values(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> list[SummaryValue]:
    """Return ``(protocol, quantity, month, value)`` for the study's protocol summary
    (``month`` is always :data:`ALL_TIME`).

    By :func:`medcoop.analytics.protocols.protocol_values`, the rule the exact summary
    uses; nothing for a study without a protocol name.
    """
    return _protocol_values(_facts(study, performed_protocol, events))


#: The month protocol cells are kept under: one for all time. Per month, a batch spread
#: over a year touched twelve times the cells (ingest cost) and a long-lived organisation
#: read twelve times the cells per year (the page's cost); the page shows all time.
ALL_TIME = 0


def _protocol_values(facts: _Study, name: str | bool | None = False) -> list[SummaryValue]:
    record = cast(StudyRecord, facts)
    month = ALL_TIME
    if name is False:  # not looked up by the caller yet
        name = protocol_of(record)
    if not name or not isinstance(name, str):
        return []
    # names longer than the column are cut there, as the event rows cut them
    name = name[:128]
    return [
        (name, cast(Metric, quantity[:64]), month, value)
        for quantity, value in protocol_values(record)
    ]


def protocol_contributions(
    study: Mapping[str, Any],
    performed_protocol: str | None,
    events: Iterable[Mapping[str, Any]],
) -> list[tuple[CellKey, float]]:
    """Return the protocol cells a study adds values to, and the values (a multiset)."""
    return with_keys(study, protocol_study_values(study, performed_protocol, events))


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

