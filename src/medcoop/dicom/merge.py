"""Cumulative and continued RDSRs: merge a study's events by irradiation event UID.

Some scanners send an RDSR after every acquisition, each holding all events so far
(cumulative: a superset replaces), others split a long study into continued reports
(disjoint: the new events add). A re-sent report changes nothing. OpenREM compares the
event UIDs of a new RDSR with those it holds; this is that rule as a pure function.
"""

from __future__ import annotations

from collections.abc import Sequence

from medcoop.dicom.model import DoseEvent
from medcoop.records import EventKind, SourceKind

__all__ = ["merge_study_events"]


def merge_study_events(
    existing: Sequence[DoseEvent], incoming: Sequence[DoseEvent]
) -> tuple[DoseEvent, ...]:
    """Return the study's events after ``incoming`` (one new object's events) arrives.

    Parameters
    ----------
    existing : sequence of DoseEvent
        The events the study holds so far.
    incoming : sequence of DoseEvent
        The events of the newly received object.

    Returns
    -------
    tuple of DoseEvent
        A superset replaces (in its own order); a disjoint set adds after the existing
        events; overlapping events take the incoming version (a later report of the same
        event is the more complete one); a re-send is a no-op. Event UIDs stay unique.
    """
    merged = _merge_by_uid(existing, incoming)
    return _reports_take_precedence(merged)


def _merge_by_uid(
    existing: Sequence[DoseEvent], incoming: Sequence[DoseEvent]
) -> tuple[DoseEvent, ...]:
    incoming_by_uid: dict[str, DoseEvent] = {}
    for event in incoming:
        incoming_by_uid.setdefault(event.event_uid, event)
    existing_uids = [e.event_uid for e in existing]
    if not incoming_by_uid:
        return tuple(_unique(existing))
    if set(existing_uids) <= incoming_by_uid.keys():
        return tuple(incoming_by_uid.values())
    merged: dict[str, DoseEvent] = {}
    for event in existing:
        merged.setdefault(event.event_uid, incoming_by_uid.get(event.event_uid, event))
    for uid, event in incoming_by_uid.items():
        merged.setdefault(uid, event)
    return tuple(merged.values())


_REPORTS = frozenset({SourceKind.RDSR, SourceKind.RRDSR})
_FAMILY = {
    EventKind.CT_ACQUISITION: "ct",
    EventKind.PROJECTION: "xray",
    EventKind.FLUOROSCOPY: "xray",
    EventKind.MAMMOGRAPHY: "xray",
    EventKind.RADIOPHARMACEUTICAL: "rp",
}


def _reports_take_precedence(events: tuple[DoseEvent, ...]) -> tuple[DoseEvent, ...]:
    """Drop header/vendor-summary events of a kind a dose report of the study covers.

    An RDSR and the images' headers describe the same exposures (and an RRDSR and the PET
    images the same administration), so counting both would double the dose.
    """
    reported = {_FAMILY[e.kind] for e in events if e.source in _REPORTS}
    if not reported:
        return events
    return tuple(e for e in events if e.source in _REPORTS or _FAMILY[e.kind] not in reported)


def _unique(events: Sequence[DoseEvent]) -> list[DoseEvent]:
    seen: dict[str, DoseEvent] = {}
    for event in events:
        seen.setdefault(event.event_uid, event)
    return list(seen.values())
