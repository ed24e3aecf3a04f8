"""Diagnostic reference levels: national tables, local DRLs (ICRP 135) and comparisons.

National DRLs come from the packaged copy of the shared ``drl.csv`` (every row keeps its
``source`` column, so any comparison can cite where its number comes from). Local DRLs
are computed as ICRP Publication 135 defines them: the median of each site's distribution
first, then the 75th percentile of those medians (the DRL) and their median (the
achievable dose). Comparisons are like with like: the same exam type, the same quantity,
the same scope (per acquisition or sequence, per complete examination, per projection)
and, for CTDIvol and DLP, the same CTDI phantom (16 cm head, 32 cm body). A group whose
median exceeds the DRL is flagged for review (Euratom 2013/59 Art. 58(f)).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

from medcoop.records import EventKind, StudyRecord

__all__ = [
    "DoseObservation",
    "DrlComparison",
    "DrlEntry",
    "LocalDrl",
    "Quantity",
    "Scope",
    "compare_with_drls",
    "load_national_drls",
    "local_drls",
    "observations_from_record",
]

Quantity = Literal["ctdivol", "dlp", "dap", "esd"]
Scope = Literal["per_acquisition", "per_exam", "per_projection"]
Phantom = Literal["head16", "body32"]
GroupBy = Literal["site_id", "device_key", "protocol"]

#: DRL rows → medcoop exam types, keyed by (source_id, exam) as the table spells them.
_EXAM_TYPE_OF_ROW: dict[tuple[str, str], str] = {
    ("UK-NDRL-2024", "Head"): "ct_head",
    ("UK-NDRL-2024", "Paranasal sinuses"): "ct_sinus",
    ("UK-NDRL-2024", "Cervical spine"): "ct_cspine",
    ("UK-NDRL-2024", "Neck, chest, abdomen and pelvis"): "ct_neck_chest_abdomen_pelvis",
    ("UK-NDRL-2024", "Chest"): "ct_chest",
    ("UK-NDRL-2024", "Chest and abdomen"): "ct_chest_abdomen",
    ("UK-NDRL-2024", "Chest - high resolution"): "ct_chest_hr",
    ("UK-NDRL-2024", "Chest, abdomen, pelvis"): "ct_chest_abdomen_pelvis",
    ("UK-NDRL-2024", "CT pulmonary angiography (CTPA)"): "ct_ctpa",
    ("UK-NDRL-2024", "Abdomen and pelvis"): "ct_abdomen_pelvis",
    ("UK-NDRL-2024", "Virtual colonoscopy"): "ct_colonography",
    ("UK-NDRL-2024", "Kidneys, ureters, bladder"): "ct_kub",
    ("UK-NDRL-2024", "Urogram"): "ct_urogram",
    ("FR-2011", "Chest PA (thorax de face, postero-anterieur)"): "dx_chest_pa",
    ("FR-2011", "Chest lateral (thorax de profil)"): "dx_chest_lat",
    ("FR-2011", "Abdomen AP, plain (abdomen sans preparation)"): "dx_abdomen_ap",
    ("FR-2011", "Pelvis AP (bassin de face)"): "dx_pelvis_ap",
    ("FR-2011", "Hip AP or lateral (hanche)"): "dx_hip",
    ("FR-2011", "Cervical spine AP or lateral"): "dx_cspine",
    ("FR-2011", "Thoracic spine AP"): "dx_tspine_ap",
    ("FR-2011", "Thoracic spine lateral"): "dx_tspine_lat",
    ("FR-2011", "Lumbar spine AP"): "dx_lspine_ap",
    ("FR-2011", "Lumbar spine lateral"): "dx_lspine_lat",
    ("FR-2011", "Orthopantomography"): "dx_opg",
    ("FR-2011", "Head (encephale)"): "ct_head",
    ("FR-2011", "Chest (thorax)"): "ct_chest",
    ("FR-2011", "Chest-abdomen-pelvis"): "ct_chest_abdomen_pelvis",
    ("FR-2011", "Abdomen-pelvis"): "ct_abdomen_pelvis",
    ("FR-2011", "Lumbar spine"): "ct_lumbar_spine",
    ("RSNA2019-UCSF-registry", "Head/sinuses"): "ct_sinus",
    ("RSNA2019-UCSF-registry", "Head"): "ct_head",
    ("RSNA2019-UCSF-registry", "Cervical spine"): "ct_cspine",
}
_HEAD_EXAM_TYPES = frozenset({"ct_head", "ct_sinus"})


@dataclass(frozen=True, slots=True)
class DrlEntry:
    """One published reference value, normalised to SI, with where it comes from."""

    source_id: str
    jurisdiction: str
    status: str
    modality: str
    exam: str
    clinical_indication: str
    exam_type: str
    quantity: Quantity
    scope: Scope
    #: Whether the table states the scope; if not, DLP is taken per exam, CTDIvol per acquisition.
    scope_stated: bool
    phantom: Phantom | None
    #: Whether the table states the phantom; if not, head exams 16 cm, others 32 cm.
    phantom_stated: bool
    value_si: float
    unit_si: str
    year: int
    source: str
    notes: str


def _quantity(metric: str) -> Quantity:
    lowered = metric.lower()
    for name in ("ctdivol", "dlp", "dap", "esd"):
        if lowered.startswith(name):
            return name  # type: ignore[return-value]
    raise ValueError(f"unknown DRL metric {metric!r}")


def _scope(metric: str, quantity: Quantity) -> tuple[Scope, bool]:
    lowered = metric.lower()
    if "per sequence" in lowered or "per acquisition" in lowered:
        return "per_acquisition", True
    if "per complete examination" in lowered:
        return "per_exam", True
    if "per single projection" in lowered:
        return "per_projection", True
    return ("per_acquisition" if quantity == "ctdivol" else "per_exam"), False


def _phantom(modality: str, basis: str, exam_type: str) -> tuple[Phantom | None, bool]:
    if modality != "CT":
        return None, True
    if "16 cm" in basis:
        return "head16", True
    if "32 cm" in basis:
        return "body32", True
    return ("head16" if exam_type in _HEAD_EXAM_TYPES else "body32"), False


def load_national_drls(text: str | None = None) -> tuple[DrlEntry, ...]:
    """Return the national DRLs packaged with medcoop (or parsed from ``text``, same columns).

    Raises
    ------
    ValueError
        If a row names an exam this module cannot map to an exam type, or a bad number.
    """
    if text is None:
        text = resources.files("medcoop.analytics.data").joinpath("drl.csv").read_text("utf-8")
    entries = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        key = (row["source_id"], row["exam"])
        if key not in _EXAM_TYPE_OF_ROW:
            raise ValueError(f"drl.csv line {line}: no exam type for {key}")
        exam_type = _EXAM_TYPE_OF_ROW[key]
        quantity = _quantity(row["metric"])
        scope, scope_stated = _scope(row["metric"], quantity)
        phantom, phantom_stated = _phantom(row["modality"], row["basis"], exam_type)
        entries.append(
            DrlEntry(
                source_id=row["source_id"],
                jurisdiction=row["jurisdiction"],
                status=row["status"],
                modality=row["modality"],
                exam=row["exam"],
                clinical_indication=row["clinical_indication"],
                exam_type=exam_type,
                quantity=quantity,
                scope=scope,
                scope_stated=scope_stated,
                phantom=phantom,
                phantom_stated=phantom_stated,
                value_si=float(row["value_si"]),
                unit_si=row["unit_si"],
                year=int(row["year"]),
                source=row["source"],
                notes=row["notes"],
            )
        )
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class DoseObservation:
    """One dose value in a known scope, ready to compare with a reference level."""

    site_id: str
    device_key: str
    protocol: str | None
    exam_type: str
    quantity: Quantity
    scope: Scope
    phantom: Phantom | None
    value: float
    study_uid: str


def observations_from_record(
    record: StudyRecord, *, site_id: str, exam_type: str
) -> Iterator[DoseObservation]:
    """Yield the DRL-comparable values of one study.

    Per acquisition: each CT event's CTDIvol and DLP with its phantom. Per exam: the
    study's total DLP (or the sum of its events' DLP when every event has one; a CT study
    mixing phantoms gives no per-exam DLP, as it is not comparable). Per projection: each
    projection event's DAP; per exam: the total DAP.
    """

    def obs(
        quantity: Quantity,
        scope: Scope,
        value: float,
        phantom: Phantom | None,
        protocol: str | None,
    ) -> DoseObservation:
        device = record.device.device_key
        return DoseObservation(
            site_id, device, protocol, exam_type, quantity, scope, phantom, value, record.study_uid
        )

    study_protocol = record.usage.performed_protocol
    ct_events = [e for e in record.events if e.kind == EventKind.CT_ACQUISITION]
    for event in ct_events:
        protocol = event.protocol or study_protocol
        if event.ctdivol_mgy is not None:
            yield obs("ctdivol", "per_acquisition", event.ctdivol_mgy, event.ctdi_phantom, protocol)
        if event.dlp_mgycm is not None:
            yield obs("dlp", "per_acquisition", event.dlp_mgycm, event.ctdi_phantom, protocol)
    if ct_events:
        phantoms = {e.ctdi_phantom for e in ct_events}
        total = record.totals.total_dlp_mgycm
        if total is None and all(e.dlp_mgycm is not None for e in ct_events):
            total = sum(e.dlp_mgycm or 0.0 for e in ct_events)
        if total is not None and len(phantoms) == 1:
            yield obs("dlp", "per_exam", total, phantoms.pop(), study_protocol)
    projections = [e for e in record.events if e.kind == EventKind.PROJECTION]
    for event in projections:
        if event.dap_gycm2 is not None:
            protocol = event.protocol or study_protocol
            yield obs("dap", "per_projection", event.dap_gycm2, None, protocol)
    if record.totals.total_dap_gycm2 is not None:
        yield obs("dap", "per_exam", record.totals.total_dap_gycm2, None, study_protocol)


def _matches(entry: DrlEntry, ob: DoseObservation) -> bool:
    return (
        ob.exam_type == entry.exam_type
        and ob.quantity == entry.quantity
        and ob.scope == entry.scope
        and (entry.phantom is None or ob.phantom == entry.phantom)
    )


@dataclass(frozen=True, slots=True)
class DrlComparison:
    """A group's median against one reference level."""

    group: tuple[str | None, ...]
    entry: DrlEntry
    n: int
    median: float
    p75: float
    ratio_to_drl: float
    #: Median above the DRL: Euratom 2013/59 Art. 58(f) asks for a review.
    exceeds: bool


def compare_with_drls(
    observations: Iterable[DoseObservation],
    entries: Sequence[DrlEntry],
    *,
    group_by: Sequence[GroupBy] = ("site_id",),
    min_n: int = 10,
) -> list[DrlComparison]:
    """Compare each group's median with every matching reference level.

    Parameters
    ----------
    observations
        Values from :func:`observations_from_record`.
    entries
        Reference levels (national or local ones turned into entries).
    group_by
        Fields to group by: a site, a device, a protocol or a combination.
    min_n
        Groups with fewer values are not compared (a median of three says little).
    """
    groups: dict[tuple[tuple[str | None, ...], int], list[float]] = defaultdict(list)
    observations = list(observations)
    for index, entry in enumerate(entries):
        for ob in observations:
            if _matches(entry, ob):
                key = tuple(getattr(ob, name) for name in group_by)
                groups[(key, index)].append(ob.value)
    results = []
    for (key, index), values in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if len(values) < min_n:
            continue
        entry = entries[index]
        median, p75 = (float(v) for v in np.quantile(values, (0.5, 0.75)))
        results.append(
            DrlComparison(
                group=key,
                entry=entry,
                n=len(values),
                median=median,
                p75=p75,
                ratio_to_drl=median / entry.value_si,
                exceeds=median > entry.value_si,
            )
        )
    return results


@dataclass(frozen=True, slots=True)
class LocalDrl:
    """A DRL computed from the pool the ICRP 135 way, for one exam type and quantity."""

    exam_type: str
    quantity: Quantity
    scope: Scope
    phantom: Phantom | None
    n_sites: int
    n_values: int
    #: 75th percentile of the per-site medians.
    drl: float
    #: Median of the per-site medians (the achievable dose).
    achievable_dose: float


def local_drls(
    observations: Iterable[DoseObservation],
    *,
    min_values_per_site: int = 10,
    min_sites: int = 5,
) -> list[LocalDrl]:
    """Compute local DRLs per exam type, quantity, scope and phantom (ICRP 135).

    Sites with fewer than ``min_values_per_site`` values are left out; a group with fewer
    than ``min_sites`` remaining sites gets no DRL (it would describe a few sites only).
    """
    per_site: dict[tuple[str, str, str, str | None], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for ob in observations:
        per_site[(ob.exam_type, ob.quantity, ob.scope, ob.phantom)][ob.site_id].append(ob.value)
    results = []
    for (exam, quantity, scope, phantom), sites in sorted(per_site.items(), key=str):
        kept = {s: v for s, v in sites.items() if len(v) >= min_values_per_site}
        if len(kept) < min_sites:
            continue
        medians = np.asarray([np.median(v) for v in kept.values()])
        p50, p75 = (float(v) for v in np.quantile(medians, (0.5, 0.75)))
        results.append(
            LocalDrl(
                exam_type=exam,
                quantity=quantity,  # type: ignore[arg-type]
                scope=scope,  # type: ignore[arg-type]
                phantom=phantom,  # type: ignore[arg-type]
                n_sites=len(kept),
                n_values=sum(len(v) for v in kept.values()),
                drl=p75,
                achievable_dose=p50,
            )
        )
    return results
