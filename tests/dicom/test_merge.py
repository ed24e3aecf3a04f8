"""The cumulative/continued RDSR rule, by irradiation event UID."""

from __future__ import annotations

from medcoop.dicom import DoseEvent, merge_study_events
from medcoop.records import EventKind, SourceKind


def _ev(uid: str, dlp: float = 10.0, source: SourceKind = SourceKind.RDSR) -> DoseEvent:
    return DoseEvent(event_uid=uid, kind=EventKind.CT_ACQUISITION, dlp_mgycm=dlp, source=source)


def _uids(events: tuple[DoseEvent, ...]) -> list[str]:
    return [e.event_uid for e in events]


def test_superset_replaces() -> None:
    merged = merge_study_events([_ev("1")], [_ev("1", 11.0), _ev("2")])
    assert _uids(merged) == ["1", "2"]
    assert merged[0].dlp_mgycm == 11.0


def test_disjoint_adds_after_existing() -> None:
    assert _uids(merge_study_events([_ev("1"), _ev("2")], [_ev("3")])) == ["1", "2", "3"]


def test_resend_is_a_noop() -> None:
    events = merge_study_events([], [_ev("1"), _ev("2")])
    assert merge_study_events(events, [_ev("1"), _ev("2")]) == events
    assert merge_study_events(events, []) == events


def test_older_subset_resend_keeps_everything() -> None:
    events = (_ev("1"), _ev("2"), _ev("3"))
    assert merge_study_events(events, [_ev("1")]) == events


def test_partial_overlap_takes_incoming_versions_and_adds_new() -> None:
    merged = merge_study_events([_ev("1"), _ev("2")], [_ev("2", 99.0), _ev("3")])
    assert _uids(merged) == ["1", "2", "3"]
    assert merged[1].dlp_mgycm == 99.0


def test_duplicates_inside_one_object_are_collapsed() -> None:
    assert _uids(merge_study_events([], [_ev("1"), _ev("1")])) == ["1"]


def test_report_events_supersede_header_events_of_the_same_kind() -> None:
    header = _ev("x.1", source=SourceKind.VENDOR_SUMMARY)
    merged = merge_study_events([header], [_ev("1")])
    assert _uids(merged) == ["1"]
    # ...but not of another kind
    rp = DoseEvent(
        event_uid="p", kind=EventKind.RADIOPHARMACEUTICAL, source=SourceKind.IMAGE_HEADER
    )
    assert _uids(merge_study_events([rp], [_ev("1")])) == ["p", "1"]
