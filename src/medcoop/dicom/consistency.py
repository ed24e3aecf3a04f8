"""Do a study's events add up to its stated totals? And its totals when no report states them.

A report states accumulated totals (TID 10011 CT Dose Length Product Total, TID 10002
Dose Area Product Total, Accumulated Average Glandular Dose per breast...) besides its
events. When the events a study ends with do not add up to them (a report cut short and
re-sent, an event without its dose, a device's own rounding or unit mistakes) the record
says which totals disagree, so an analyst neither trusts nor silently drops either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from medcoop.records import DoseTotals, EventKind, IrradiationEvent

__all__ = ["RELATIVE_TOLERANCE", "totals_disagreement", "totals_from_events"]

#: Sums and totals within 2 % agree: devices round events and totals apart (OpenREM's
#: Dual-RDSR-RF states 0.0212 Gy·cm² for events that add to 0.0209).
RELATIVE_TOLERANCE = 0.02

_Select = Callable[[IrradiationEvent], float | None]


def _value(
    name: str, kinds: frozenset[EventKind] | None = None, side: str | None = None
) -> _Select:
    def select(event: IrradiationEvent) -> float | None:
        if kinds is not None and event.kind not in kinds:
            return None
        if side is not None and event.laterality != side:
            return None
        value: float | None = getattr(event, name)
        return value

    return select


_XRAY = frozenset({EventKind.PROJECTION, EventKind.FLUOROSCOPY, EventKind.MAMMOGRAPHY})
#: (total field, how an event contributes to it, absolute tolerance in its unit)
_CHECKS: tuple[tuple[str, _Select, float], ...] = (
    ("total_dlp_mgycm", _value("dlp_mgycm", frozenset({EventKind.CT_ACQUISITION})), 0.1),
    ("total_dap_gycm2", _value("dap_gycm2", _XRAY), 1e-4),
    ("total_fluoro_dap_gycm2", _value("dap_gycm2", frozenset({EventKind.FLUOROSCOPY})), 1e-4),
    (
        "total_acquisition_dap_gycm2",
        _value("dap_gycm2", frozenset({EventKind.PROJECTION, EventKind.MAMMOGRAPHY})),
        1e-4,
    ),
    ("total_fluoro_time_s", _value("fluoro_time_s", frozenset({EventKind.FLUOROSCOPY})), 0.5),
    ("total_agd_left_mgy", _value("agd_mgy", side="L"), 0.01),
    ("total_agd_right_mgy", _value("agd_mgy", side="R"), 0.01),
    (
        "total_administered_activity_mbq",
        _value("administered_activity_mbq", frozenset({EventKind.RADIOPHARMACEUTICAL})),
        0.5,
    ),
)


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def totals_disagreement(
    events: Sequence[IrradiationEvent], totals: DoseTotals
) -> tuple[str, ...]:
    """Return the names of the stated totals that the events do not add up to.

    A total is compared only when it is stated and at least one event carries the value
    (a device that states totals only is not in disagreement); events that lack the value
    count as nothing, so an event missing its dose makes the sum fall short.
    """
    found = []
    for name, select, absolute in _CHECKS:
        stated = getattr(totals, name)
        summed = _sum(select(e) for e in events)
        if stated is None or summed is None:
            continue
        if abs(summed - stated) > max(absolute, RELATIVE_TOLERANCE * max(stated, summed)):
            found.append(name)
    return tuple(found)


def totals_from_events(events: Sequence[IrradiationEvent]) -> dict[str, float]:
    """Return the totals a study's events add up to, for studies no dose report covers.

    The same contributions as :func:`totals_disagreement` compares (DLP of CT events,
    DAP of X-ray events, AGD per breast, administered activity...). A mammography study
    sent as images only thus has its total AGD per breast, as one with a report has.
    Totals no event carries a value of are left out (never zero-filled).
    """
    found = {}
    for name, select, _ in _CHECKS:
        summed = _sum(select(e) for e in events)
        if summed is not None:
            found[name] = summed
    return found
