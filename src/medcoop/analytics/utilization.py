"""Device utilization: exams, durations, patient change times, occupancy, heat maps.

Each study becomes an :class:`ExamInterval` on its device: MPPS start and end when both
are present and plausible (the modality's own performed-step clock), else first to last
acquisition. Scanner clocks drift and disagree, so the statistics are robust: medians,
not means; a negative gap to the next patient (overlapping intervals) is clamped to zero
and counted; a gap longer than ``max_change_gap_min`` is idle time, not a patient change;
overlapping intervals are merged before occupancy is measured.

Definitions (as dose-monitoring products report them):

- exam duration: end − start of one exam;
- patient change time: start of the next exam on the device − end of this one;
- table occupancy: busy minutes inside opening hours ÷ available minutes;
- utilization: (median duration + median change time) × exams ÷ available minutes;
- idle time: available minutes − busy minutes − patient change minutes (not below 0).

Local times (heat maps, opening hours) use each study's ``utc_offset_min``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Literal

from medcoop.records import StudyRecord

__all__ = [
    "DeviceUtilization",
    "ExamInterval",
    "OpeningHours",
    "ProtocolUsage",
    "device_utilization",
    "interval_from_record",
]

_MAX_EXAM = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class ExamInterval:
    """When a device was busy with one study (UTC-aware times)."""

    device_key: str
    study_uid: str
    started_at: datetime
    ended_at: datetime
    protocol: str | None
    utc_offset_min: int
    source: Literal["mpps", "acquisition"]

    @property
    def local_start(self) -> datetime:
        """The start in the site's local time (naive)."""
        zone = timezone(timedelta(minutes=self.utc_offset_min))
        return self.started_at.astimezone(zone).replace(tzinfo=None)


def interval_from_record(record: StudyRecord) -> ExamInterval | None:
    """Return the busy interval of a study, or ``None`` when it has no usable times.

    MPPS times win when both exist, end is not before start and the exam lasts at most
    six hours; otherwise acquisition times are used (a single acquisition gives a
    zero-length exam, which still counts as an exam).
    """
    usage = record.usage
    mpps = (usage.mpps_started_at, usage.mpps_ended_at)
    acquisition = (usage.first_acquisition_at, usage.last_acquisition_at or None)
    source: Literal["mpps", "acquisition"]
    if mpps[0] and mpps[1] and timedelta(0) <= mpps[1] - mpps[0] <= _MAX_EXAM:
        (start, end), source = (mpps[0], mpps[1]), "mpps"
    elif acquisition[0]:
        start = acquisition[0]
        end = acquisition[1] or start
        if end < start:  # clock trouble within the exam: keep the exam, drop its length
            end = start
        source = "acquisition"
    else:
        return None
    protocol = usage.performed_protocol or next((e.protocol for e in record.events), None)
    return ExamInterval(
        record.device.device_key,
        record.study_uid,
        start,
        end,
        protocol,
        record.utc_offset_min,
        source,
    )


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Local opening hours per weekday (0 = Monday), each a list of (open, close) times."""

    weekly: Mapping[int, tuple[tuple[time, time], ...]]

    @classmethod
    def weekdays(cls, opens: time = time(8), closes: time = time(18)) -> OpeningHours:
        """Monday to Friday, the same hours each day."""
        return cls({day: ((opens, closes),) for day in range(5)})

    def windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """Return the local (naive) opening windows of one day."""
        return [
            (datetime.combine(day, a), datetime.combine(day, b))
            for a, b in self.weekly.get(day.weekday(), ())
            if b > a
        ]

    def available_minutes(self, first_day: date, last_day: date) -> float:
        """Return the open minutes from ``first_day`` to ``last_day`` inclusive."""
        total = 0.0
        day = first_day
        while day <= last_day:
            total += sum((b - a).total_seconds() / 60 for a, b in self.windows(day))
            day += timedelta(days=1)
        return total


@dataclass(frozen=True, slots=True)
class ProtocolUsage:
    """Exams and median duration for one protocol on one device."""

    exams: int
    median_duration_min: float


@dataclass(frozen=True, slots=True)
class DeviceUtilization:
    """One device's utilization over a period."""

    device_key: str
    exams: int
    median_duration_min: float
    median_change_min: float | None
    exams_per_open_hour: float
    occupancy: float
    utilization: float
    available_min: float
    busy_open_min: float
    idle_min: float
    #: Gaps to the next patient that were negative (overlaps from clock offsets), clamped to 0.
    clamped_gaps: int
    #: ``heatmap[weekday][hour]``: exams started, local time (0 = Monday).
    heatmap: tuple[tuple[int, ...], ...]
    by_protocol: Mapping[str, ProtocolUsage] = field(default_factory=dict)


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _merged(intervals: Sequence[ExamInterval]) -> list[tuple[datetime, datetime]]:
    spans: list[tuple[datetime, datetime]] = []
    for item in sorted(intervals, key=lambda i: i.started_at):
        start, end = item.local_start, item.local_start + (item.ended_at - item.started_at)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def _inside_open(spans: Iterable[tuple[datetime, datetime]], hours: OpeningHours) -> float:
    total = 0.0
    for start, end in spans:
        day = start.date()
        while day <= end.date():
            for a, b in hours.windows(day):
                overlap = min(end, b) - max(start, a)
                total += max(0.0, _minutes(overlap))
            day += timedelta(days=1)
    return total


def _changes(ordered: Sequence[ExamInterval], max_gap_min: float) -> tuple[list[float], int]:
    gaps, clamped = [], 0
    for this, following in pairwise(ordered):
        gap = _minutes(following.started_at - this.ended_at)
        if gap < 0:
            gap, clamped = 0.0, clamped + 1
        if gap <= max_gap_min:
            gaps.append(gap)
    return gaps, clamped


def _one_device(
    key: str,
    items: list[ExamInterval],
    hours: OpeningHours,
    first_day: date,
    last_day: date,
    max_gap_min: float,
) -> DeviceUtilization:
    ordered = sorted(items, key=lambda i: i.started_at)
    durations = [_minutes(i.ended_at - i.started_at) for i in ordered]
    gaps, clamped = _changes(ordered, max_gap_min)
    available = hours.available_minutes(first_day, last_day)
    busy = _inside_open(_merged(ordered), hours)
    median_duration = statistics.median(durations)
    median_change = statistics.median(gaps) if gaps else None
    heat = [[0] * 24 for _ in range(7)]
    for item in ordered:
        heat[item.local_start.weekday()][item.local_start.hour] += 1
    per_protocol: dict[str, list[float]] = defaultdict(list)
    for item, duration in zip(ordered, durations, strict=True):
        per_protocol[item.protocol or "unknown"].append(duration)
    per_exam = median_duration + (median_change or 0.0)
    return DeviceUtilization(
        device_key=key,
        exams=len(ordered),
        median_duration_min=median_duration,
        median_change_min=median_change,
        exams_per_open_hour=len(ordered) / (available / 60) if available else 0.0,
        occupancy=busy / available if available else 0.0,
        utilization=per_exam * len(ordered) / available if available else 0.0,
        available_min=available,
        busy_open_min=busy,
        idle_min=max(0.0, available - busy - sum(gaps)),
        clamped_gaps=clamped,
        heatmap=tuple(tuple(row) for row in heat),
        by_protocol={
            name: ProtocolUsage(len(values), statistics.median(values))
            for name, values in sorted(per_protocol.items())
        },
    )


def device_utilization(
    intervals: Iterable[ExamInterval],
    *,
    opening_hours: OpeningHours,
    first_day: date,
    last_day: date,
    max_change_gap_min: float = 60.0,
) -> dict[str, DeviceUtilization]:
    """Return utilization per device for exams starting between two local days (inclusive).

    Parameters
    ----------
    intervals
        Busy intervals, e.g. from :func:`interval_from_record`.
    opening_hours
        The devices' configured opening hours (local time).
    first_day, last_day
        The period, in local days.
    max_change_gap_min
        Longer gaps between exams are idle time, not patient changes.
    """
    per_device: dict[str, list[ExamInterval]] = defaultdict(list)
    for item in intervals:
        if first_day <= item.local_start.date() <= last_day:
            per_device[item.device_key].append(item)
    return {
        key: _one_device(key, items, opening_hours, first_day, last_day, max_change_gap_min)
        for key, items in sorted(per_device.items())
    }
