"""Cumulative and continued RDSRs: merge a study's events by irradiation event UID.

Some scanners send an RDSR after every acquisition, each holding all events so far
(cumulative: a superset replaces), others split a long study into continued reports
(disjoint: the new events add). A re-sent report changes nothing. OpenREM compares the
event UIDs of a new RDSR with those it holds; this is that rule as a pure function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from medcoop.dicom.model import DoseEvent
from medcoop.records import EventKind, SourceKind

__all__ = ["merge_study_events", "superseded_by_reports"]


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
        The union by event UID: a superset replaces, a disjoint set adds after the
        existing events, a re-send is a no-op. Where both sides hold an event UID the
        better version is kept (:func:`_rank`: a dose report's over an image header's,
        then the more complete), and header events of a kind a report covers are dropped.
        The events kept never depend on the order the study's objects arrive in: merging
        is commutative and associative (tests merge every permutation of a study).
    """
    merged = _merge_by_uid(existing, incoming)
    return _reports_take_precedence(merged)


def _rank(event: DoseEvent) -> tuple[bool, int, str]:
    """Order two versions of one event: report over header, more values, then content.

    A header image of a mammography view carries its exposure's Irradiation Event UID,
    the same as the report's event: the report's version must win whichever arrives
    last. Among versions of equal standing the one with more values wins, and a total
    order on the content breaks ties, so the choice never depends on arrival order.
    """
    values = event.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return (event.source in _REPORTS, len(values), event.model_dump_json())


def _better(a: DoseEvent, b: DoseEvent) -> DoseEvent:
    if a == b:
        return a
    return a if _rank(a) >= _rank(b) else b


def _merge_by_uid(
    existing: Sequence[DoseEvent], incoming: Sequence[DoseEvent]
) -> tuple[DoseEvent, ...]:
    incoming_by_uid: dict[str, DoseEvent] = {}
    for event in incoming:
        held = incoming_by_uid.get(event.event_uid)
        incoming_by_uid[event.event_uid] = event if held is None else _better(held, event)
    if not incoming_by_uid:
        return tuple(_unique(existing))
    merged: dict[str, DoseEvent] = {}
    for event in existing:
        held = merged.get(event.event_uid)
        merged[event.event_uid] = event if held is None else _better(held, event)
    if merged.keys() <= incoming_by_uid.keys():
        # a superset: the incoming object's order, each event the better version
        return tuple(
            _better(merged[uid], event) if uid in merged else event
            for uid, event in incoming_by_uid.items()
        )
    for uid, event in incoming_by_uid.items():
        held = merged.get(uid)
        merged[uid] = event if held is None else _better(held, event)
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


def superseded_by_reports(
    held: Mapping[str, tuple[str, str]], incoming: Mapping[str, tuple[str, str]]
) -> set[str]:
    """Return the held events that the incoming events' dose reports supersede.

    The same rule as :func:`merge_study_events`, for a side that keeps only each event's
    ``(kind, source)`` by UID (the hub's stored rows): header and vendor-summary events
    of a kind an incoming report event covers, and that the incoming object does not
    itself hold, are the same exposures counted a second way.
    """
    reported = {_FAMILY[EventKind(k)] for k, source in incoming.values() if source in _REPORTS}
    return {
        uid
        for uid, (kind, source) in held.items()
        if uid not in incoming and source not in _REPORTS and _FAMILY[EventKind(kind)] in reported
    }


def _unique(events: Sequence[DoseEvent]) -> list[DoseEvent]:
    seen: dict[str, DoseEvent] = {}
    for event in events:
        held = seen.get(event.event_uid)
        seen[event.event_uid] = event if held is None else _better(held, event)
    return list(seen.values())
