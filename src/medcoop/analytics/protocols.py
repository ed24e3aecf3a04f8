"""Protocol sharing: summarise acquisition protocols, publish, compare, export.

A :class:`ProtocolSummary` describes how a site runs one protocol, from the irradiation
events of its studies: technique (kVp, tube current, pitch, collimation) as quartiles and
the achieved dose (CTDIvol per acquisition, DLP per study, DAP per study) as quartiles.
Publishing is opt-in per protocol (:func:`publish` is only ever called for a protocol a
site chose) and refused below ``min_studies``, so a published sheet never describes a
handful of patients. Others compare a published protocol side by side with their own
(:func:`compare`) and adopt it as JSON (:func:`export_json`) or a printable HTML sheet
(rendered in the hub: ``medcoop.hub.presenters.html.render_protocol_sheet``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from medcoop.analytics.drl import counts_for_ctdivol
from medcoop.analytics.sketches import DoseSketch
from medcoop.records import StudyRecord
from medcoop.vocabulary import study_dap_gycm2, study_metric

__all__ = [
    "ComparisonRow",
    "Distribution",
    "ProtocolSummary",
    "PublishError",
    "PublishedProtocol",
    "compare",
    "export_json",
    "protocol_of",
    "protocol_values",
    "publish",
    "summarise_protocols",
    "summary_from_sketches",
]

#: Technique and dose fields, in the order sheets and comparisons show them, with units.
FIELDS: tuple[tuple[str, str], ...] = (
    ("kvp", "kV"),
    ("tube_current_ma", "mA"),
    ("pitch", ""),
    ("nominal_total_collimation_mm", "mm"),
    ("ctdivol_mgy", "mGy"),
    ("dlp_mgycm", "mGy·cm"),
    ("dap_gycm2", "Gy·cm²"),
)
_EVENT_FIELDS = ("kvp", "tube_current_ma", "pitch", "nominal_total_collimation_mm", "ctdivol_mgy")


class Distribution(BaseModel):
    """Quartiles of one quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int
    p25: float
    median: float
    p75: float


class ProtocolSummary(BaseModel):
    """How one protocol is run at one site (no patient-level values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(max_length=128)]
    modality: str
    body_region: str | None = None
    n_studies: int
    n_acquisitions: int
    quantities: dict[str, Distribution]


class PublishedProtocol(BaseModel):
    """A protocol a site chose to share with the community library."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str = "1.0"
    summary: ProtocolSummary
    description: Annotated[str, Field(max_length=4000)]
    published_at: AwareDatetime
    #: How the publisher wants to be named (an empty string publishes anonymously).
    publisher: Annotated[str, Field(max_length=128)] = ""


class PublishError(ValueError):
    """Publishing was refused; carries the protocol and the reason."""

    def __init__(self, protocol: str, reason: str) -> None:
        super().__init__(f"cannot publish {protocol!r}: {reason}")
        self.protocol, self.reason = protocol, reason


def _distribution(values: Sequence[float]) -> Distribution | None:
    if not values:
        return None
    p25, p50, p75 = (float(v) for v in np.quantile(values, (0.25, 0.5, 0.75)))
    return Distribution(n=len(values), p25=p25, median=p50, p75=p75)


def protocol_of(record: StudyRecord) -> str | None:
    """A study's protocol: its MPPS protocol, else the first named event's (by event UID)."""
    if record.usage.performed_protocol:
        return record.usage.performed_protocol
    named = sorted((e.event_uid, e.protocol) for e in record.events if e.protocol)
    return named[0][1] if named else None


#: Quantities a study contributes that are counts (one value of 1 each), not values.
STUDIES, ACQUISITIONS, REGION, MODALITY = "studies", "acquisitions", "region:", "modality:"


def protocol_values(record: StudyRecord) -> list[tuple[str, float]]:
    """``(quantity, value)`` for everything one study adds to its protocol's summary.

    One ``studies`` and one ``modality:<modality>`` count; per scan acquisition
    (localizers left out: a localizer's technique, ~30 mA and 0.2 mGy, is not the
    protocol's) one ``acquisitions`` count, its
    technique and CTDIvol values and a ``region:<target region>`` count; per study its DLP
    (CT) and DAP. The one rule for :func:`summarise_protocols` and the hub's protocol
    summaries kept at ingest.
    """
    found: list[tuple[str, float]] = [(STUDIES, 1.0), (MODALITY + record.modality, 1.0)]
    for event in record.events:
        if not counts_for_ctdivol(event):
            continue
        found.append((ACQUISITIONS, 1.0))
        for field_name in _EVENT_FIELDS:
            value = getattr(event, field_name)
            if value is not None:
                found.append((field_name, float(value)))
        if event.target_region:
            found.append((REGION + event.target_region, 1.0))
    dlp = study_metric(record, "dlp") if record.modality == "CT" else None
    dap = study_dap_gycm2(record)
    if dlp is not None:
        found.append(("dlp_mgycm", dlp))
    if dap is not None:
        found.append(("dap_gycm2", dap))
    return found


def summarise_protocols(records: Iterable[StudyRecord]) -> dict[str, ProtocolSummary]:
    """Return one summary per protocol name (exact quartiles; see :func:`protocol_of`)."""
    grouped: dict[str, list[StudyRecord]] = defaultdict(list)
    for record in records:
        name = protocol_of(record)
        if name:
            grouped[name].append(record)
    return {name: _summarise(name, studies) for name, studies in sorted(grouped.items())}


def _summarise(name: str, studies: list[StudyRecord]) -> ProtocolSummary:
    values: dict[str, list[float]] = defaultdict(list)
    for study in studies:
        for quantity, value in protocol_values(study):
            values[quantity].append(value)
    return _summary(
        name,
        {q: len(v) for q, v in values.items() if _is_count(q)},
        {q: d for q, v in values.items() if not _is_count(q) and (d := _distribution(v))},
    )


def _is_count(quantity: str) -> bool:
    return quantity in (STUDIES, ACQUISITIONS) or quantity.startswith((REGION, MODALITY))


def _summary(
    name: str, counts: dict[str, int], quantities: dict[str, Distribution]
) -> ProtocolSummary:
    regions = {q[len(REGION) :]: n for q, n in counts.items() if q.startswith(REGION)}
    modalities = {q[len(MODALITY) :]: n for q, n in counts.items() if q.startswith(MODALITY)}
    return ProtocolSummary(
        name=name,
        # the protocol's usual modality (a name reused on two modalities is rare)
        modality=max(sorted(modalities), key=lambda m: modalities[m]) if modalities else "",
        body_region=max(regions, key=lambda r: regions[r]) if regions else None,
        n_studies=counts.get(STUDIES, 0),
        n_acquisitions=counts.get(ACQUISITIONS, 0),
        quantities={k: quantities[k] for k in sorted(quantities, key=_field_order)},
    )


def _field_order(quantity: str) -> int:
    order = [name for name, _ in FIELDS]
    return order.index(quantity) if quantity in order else len(order)


def summary_from_sketches(name: str, sketches: Mapping[str, DoseSketch]) -> ProtocolSummary:
    """A protocol's summary from its quantities' sketches (the hub's protocol summaries).

    Counts are exact (a sketch's count); quartiles are the sketch's, within its 1 %
    relative accuracy of the exact ones :func:`summarise_protocols` gives, and kept
    within the smallest and largest value seen (so a protocol run at one setting shows
    that setting exactly).
    """
    counts = {q: s.count for q, s in sketches.items() if _is_count(q) and s.count}
    quantities = {}
    for quantity, sketch in sketches.items():
        if _is_count(quantity) or not sketch.count:
            continue
        low, high = sketch.min, sketch.max
        found = [q for q in sketch.quantiles((0.25, 0.5, 0.75)) if q is not None]
        if len(found) == 3 and low is not None and high is not None:
            # within the values seen: one setting (every study at 120 kV) reads exactly
            p25, p50, p75 = (min(max(q, low), high) for q in found)
            quantities[quantity] = Distribution(n=sketch.count, p25=p25, median=p50, p75=p75)
    return _summary(name, counts, quantities)


def publish(
    summary: ProtocolSummary,
    *,
    description: str,
    published_at: datetime,
    publisher: str = "",
    min_studies: int = 10,
) -> PublishedProtocol:
    """Publish one protocol the site opted to share.

    Raises
    ------
    PublishError
        If the summary rests on fewer than ``min_studies`` studies or has no description.
    """
    if summary.n_studies < min_studies:
        raise PublishError(summary.name, f"{summary.n_studies} studies, {min_studies} needed")
    if not description.strip():
        raise PublishError(summary.name, "a description is required")
    return PublishedProtocol(
        summary=summary,
        description=description.strip(),
        published_at=published_at,
        publisher=publisher,
    )


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One quantity's medians side by side (``ratio`` = own ÷ other)."""

    quantity: str
    unit: str
    own_median: float | None
    other_median: float | None
    ratio: float | None


def compare(own: ProtocolSummary, other: ProtocolSummary) -> list[ComparisonRow]:
    """Return the medians of both protocols side by side, for every quantity either has."""
    rows = []
    for quantity, unit in FIELDS:
        mine, theirs = own.quantities.get(quantity), other.quantities.get(quantity)
        if mine is None and theirs is None:
            continue
        a = mine.median if mine else None
        b = theirs.median if theirs else None
        ratio = a / b if a is not None and b else None
        rows.append(ComparisonRow(quantity, unit, a, b, ratio))
    return rows


def export_json(published: PublishedProtocol) -> str:
    """Return the published protocol as indented JSON (for adoption elsewhere)."""
    return published.model_dump_json(indent=2)
