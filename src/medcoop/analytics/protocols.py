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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from medcoop.analytics.drl import counts_for_ctdivol
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
    "publish",
    "summarise_protocols",
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


def _protocol_of(record: StudyRecord) -> str | None:
    return record.usage.performed_protocol or next(
        (e.protocol for e in record.events if e.protocol), None
    )


def summarise_protocols(records: Iterable[StudyRecord]) -> dict[str, ProtocolSummary]:
    """Return one summary per protocol name (study-level protocol, else the first event's)."""
    grouped: dict[str, list[StudyRecord]] = defaultdict(list)
    for record in records:
        name = _protocol_of(record)
        if name:
            grouped[name].append(record)
    return {name: _summarise(name, studies) for name, studies in sorted(grouped.items())}


def _summarise(name: str, studies: list[StudyRecord]) -> ProtocolSummary:
    values: dict[str, list[float]] = defaultdict(list)
    regions: dict[str, int] = defaultdict(int)
    acquisitions = 0
    for study in studies:
        for event in study.events:
            if not counts_for_ctdivol(event):
                continue  # a localizer's technique (~30 mA, 0.2 mGy) is not the protocol's
            acquisitions += 1
            for field_name in _EVENT_FIELDS:
                value = getattr(event, field_name)
                if value is not None:
                    values[field_name].append(float(value))
            if event.target_region:
                regions[event.target_region] += 1
        dlp = study_metric(study, "dlp") if study.modality == "CT" else None
        dap = study_dap_gycm2(study)
        if dlp is not None:
            values["dlp_mgycm"].append(dlp)
        if dap is not None:
            values["dap_gycm2"].append(dap)
    quantities = {k: d for k, v in values.items() if (d := _distribution(v)) is not None}
    return ProtocolSummary(
        name=name,
        modality=studies[0].modality,
        body_region=max(regions, key=lambda r: regions[r]) if regions else None,
        n_studies=len(studies),
        n_acquisitions=acquisitions,
        quantities=quantities,
    )


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
