"""Device utilization on a hand-computed day, with clock offsets and overlaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from medcoop.analytics.utilization import (
    OpeningHours,
    device_utilization,
    interval_from_record,
)
from medcoop.records import UsageFacts

from .factories import record

MONDAY = date(2026, 3, 2)


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def _study(uid: str, start: datetime, end: datetime, *, mpps: bool = False, protocol: str = "A"):
    if mpps:
        usage = UsageFacts(mpps_started_at=start, mpps_ended_at=end, performed_protocol=protocol)
    else:
        usage = UsageFacts(
            first_acquisition_at=start, last_acquisition_at=end, performed_protocol=protocol
        )
    return record(uid, usage=usage).model_copy(update={"utc_offset_min": 60})


def test_mpps_is_preferred_and_implausible_times_fall_back() -> None:
    both = record(
        "1",
        usage=UsageFacts(
            mpps_started_at=_at(8, 0),
            mpps_ended_at=_at(8, 20),
            first_acquisition_at=_at(8, 5),
            last_acquisition_at=_at(8, 15),
        ),
    )
    interval = interval_from_record(both)
    assert interval is not None and interval.source == "mpps"
    broken = record(
        "2",
        usage=UsageFacts(
            mpps_started_at=_at(8, 20),
            mpps_ended_at=_at(8, 0),  # end before start
            first_acquisition_at=_at(8, 5),
            last_acquisition_at=_at(8, 15),
        ),
    )
    fallback = interval_from_record(broken)
    assert fallback is not None and fallback.source == "acquisition"
    assert fallback.ended_at - fallback.started_at == timedelta(minutes=10)
    assert interval_from_record(record("3")) is None


def test_hand_computed_day() -> None:
    studies = [
        _study("u1", _at(8, 0), _at(8, 20), mpps=True),  # local 09:00-09:20
        _study("u2", _at(8, 30), _at(8, 45)),  # gap 10 min
        _study("u3", _at(8, 40), _at(8, 50), protocol="B"),  # overlaps u2: gap clamped to 0
        _study("u4", _at(12, 0), _at(12, 30)),  # gap 190 min: idle, not a change
        _study("u5", _at(16, 50), _at(17, 20)),  # local 17:50-18:20: 10 min inside hours
        _study("u6", _at(8, 0) + timedelta(days=1), _at(8, 10) + timedelta(days=1)),  # Tuesday
    ]
    intervals = [i for i in map(interval_from_record, studies) if i is not None]
    result = device_utilization(
        intervals,
        opening_hours=OpeningHours.weekdays(time(8), time(18)),
        first_day=MONDAY,
        last_day=MONDAY,
    )
    device = result["device-a1"]
    assert device.exams == 5
    assert device.available_min == 600
    assert device.median_duration_min == 20  # 20, 15, 10, 30, 30
    assert device.median_change_min == 5  # gaps 10 and 0
    assert device.clamped_gaps == 1
    assert device.busy_open_min == pytest.approx(80)  # 20 + 20 (merged) + 30 + 10
    assert device.occupancy == pytest.approx(80 / 600)
    assert device.utilization == pytest.approx((20 + 5) * 5 / 600)
    assert device.idle_min == pytest.approx(600 - 80 - 10)
    assert device.exams_per_open_hour == pytest.approx(0.5)
    monday = device.heatmap[0]
    assert (monday[9], monday[13], monday[17], sum(monday)) == (3, 1, 1, 5)
    assert device.by_protocol["B"].exams == 1 and device.by_protocol["A"].exams == 4


def test_opening_hours_and_closed_days() -> None:
    hours = OpeningHours.weekdays(time(8), time(16))
    assert hours.available_minutes(date(2026, 3, 2), date(2026, 3, 8)) == 5 * 8 * 60
    assert hours.windows(date(2026, 3, 7)) == []  # Saturday
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    exam = interval_from_record(_study("w", saturday, saturday + timedelta(minutes=30)))
    assert exam is not None
    result = device_utilization(
        [exam], opening_hours=hours, first_day=date(2026, 3, 7), last_day=date(2026, 3, 7)
    )
    closed_day = result["device-a1"]
    # an exam on a closed day counts, but no division by zero minutes available
    assert closed_day.exams == 1 and closed_day.heatmap[5][11] == 1
    assert closed_day.occupancy == 0.0 and closed_day.available_min == 0.0
