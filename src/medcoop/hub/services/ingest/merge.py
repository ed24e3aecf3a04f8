"""How a later record of a study updates what the hub already holds (pure, no I/O).

The edge sends a new record (new ``record_key``) when late objects arrive for a study:
a continued or cumulative RDSR, an MPPS end, more images. The rules, by event UID:

- incoming events that are a **superset** of the stored ones replace them, and the
  record's totals and study facts replace the stored ones;
- a **subset** (an older record arriving late) updates those events in place and leaves
  totals alone;
- **disjoint or overlapping** events are added, and the totals grow by the added
  events' contributions, so nothing is counted twice;
- a re-sent record (same key) never gets here: it is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from medcoop.vocabulary import TOTAL_FIELDS

__all__ = ["TOTAL_FIELDS", "MergeKind", "add_event_contributions", "classify", "merge_usage"]



class MergeKind(Enum):
    """How incoming events relate to the stored ones."""

    SUPERSET = "superset"
    SUBSET = "subset"
    ADDS = "adds"


def classify(stored_uids: set[str], incoming_uids: set[str]) -> MergeKind:
    """Return how ``incoming_uids`` relate to ``stored_uids``."""
    if incoming_uids >= stored_uids:
        return MergeKind.SUPERSET
    if incoming_uids <= stored_uids:
        return MergeKind.SUBSET
    return MergeKind.ADDS


def _plus(current: float | None, value: float | None) -> float | None:
    if value is None:
        return current
    return value if current is None else current + value


def add_event_contributions(
    totals: Mapping[str, float | None], added_events: Iterable[Mapping[str, Any]]
) -> dict[str, float | None]:
    """Return ``totals`` grown by the dose of ``added_events`` (event rows as dicts).

    A missing value stays missing unless an added event carries one: never zero-fill.
    """
    grown: dict[str, float | None] = {name: totals.get(name) for name in TOTAL_FIELDS}
    for event in added_events:
        kind = event.get("kind")
        dap = event.get("dap_gycm2")
        grown["total_dlp_mgycm"] = _plus(grown["total_dlp_mgycm"], event.get("dlp_mgycm"))
        grown["total_dap_gycm2"] = _plus(grown["total_dap_gycm2"], dap)
        if kind == "fluoroscopy":
            grown["total_fluoro_dap_gycm2"] = _plus(grown["total_fluoro_dap_gycm2"], dap)
            grown["total_fluoro_time_s"] = _plus(
                grown["total_fluoro_time_s"], event.get("fluoro_time_s")
            )
        elif kind == "projection":
            grown["total_acquisition_dap_gycm2"] = _plus(grown["total_acquisition_dap_gycm2"], dap)
            grown["total_acquisition_time_s"] = _plus(
                grown["total_acquisition_time_s"], event.get("exposure_time_s")
            )
        grown["total_rp_dose_mgy"] = _plus(grown["total_rp_dose_mgy"], event.get("rp_dose_mgy"))
        side = {"L": "total_agd_left_mgy", "R": "total_agd_right_mgy"}.get(
            event.get("laterality") or ""
        )
        if side:
            grown[side] = _plus(grown[side], event.get("agd_mgy"))
        grown["total_administered_activity_mbq"] = _plus(
            grown["total_administered_activity_mbq"], event.get("administered_activity_mbq")
        )
        grown["total_effective_dose_msv"] = _plus(
            grown["total_effective_dose_msv"], event.get("effective_dose_msv")
        )
    return grown


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def merge_usage(
    stored: Mapping[str, Any], incoming: Mapping[str, Any], kind: MergeKind
) -> dict[str, Any]:
    """Return the usage facts of a study after an update of ``kind``.

    Acquisition times widen; MPPS facts take the newer record's value when it has one;
    image and series counts follow the event rule (replace on superset, add on adds).
    """
    merged = dict(stored)
    merged["first_acquisition_at"] = _earliest(
        stored.get("first_acquisition_at"), incoming.get("first_acquisition_at")
    )
    merged["last_acquisition_at"] = _latest(
        stored.get("last_acquisition_at"), incoming.get("last_acquisition_at")
    )
    for name in ("mpps_started_at", "mpps_ended_at", "mpps_status", "performed_protocol"):
        if incoming.get(name) is not None:
            merged[name] = incoming[name]
    for name in ("series_count", "image_count"):
        if kind is MergeKind.SUPERSET:
            merged[name] = max(incoming.get(name) or 0, stored.get(name) or 0)
        elif kind is MergeKind.ADDS:
            merged[name] = (stored.get(name) or 0) + (incoming.get(name) or 0)
    return merged
