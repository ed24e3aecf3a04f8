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
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

from medcoop.records import EventKind, IrradiationEvent, StudyRecord

__all__ = [
    "PACKAGED_TABLES",
    "AcquisitionClass",
    "DoseObservation",
    "DrlComparison",
    "DrlEntry",
    "LocalDrl",
    "Quantity",
    "Scope",
    "acquisition_class",
    "compare_with_drls",
    "counts_for_ctdivol",
    "load_national_drls",
    "local_drls",
    "mammography_view",
    "observations_from_record",
]

Quantity = Literal["ctdivol", "dlp", "dap", "esd", "agd"]
Scope = Literal["per_acquisition", "per_exam", "per_projection"]
Phantom = Literal["head16", "body32"]
GroupBy = Literal["site_id", "device_key", "protocol"]
#: CT Acquisition Type (DCM 113820, CID 10013) in classes: the record carries its meaning.
AcquisitionClass = Literal["spiral", "sequenced", "constant_angle", "stationary", "free"]

#: Words of CID 10013's meanings and vendors' variants, most specific first.
_ACQUISITION_WORDS: tuple[tuple[str, AcquisitionClass], ...] = (
    ("constant angle", "constant_angle"),
    ("localizer", "constant_angle"),
    ("localiser", "constant_angle"),
    ("scout", "constant_angle"),
    ("topogram", "constant_angle"),
    ("surview", "constant_angle"),
    ("scanogram", "constant_angle"),
    ("spiral", "spiral"),
    ("helical", "spiral"),
    ("sequenced", "sequenced"),
    ("axial", "sequenced"),
    ("stationary", "stationary"),
    ("free", "free"),
)
#: What per-acquisition (per-sequence) CT DRLs are defined for. The UK NDRLs' "All
#: sequences" are the diagnostic scan sequences (spiral and sequenced); the French
#: arrêté's "par acquisition" likewise. Localizers (constant angle) are radiographs, not
#: scan sequences; stationary (bolus tracking, perfusion) and free (interventional)
#: acquisitions are not what either table surveyed, so neither is compared. A row whose
#: technique is "Helical" is compared with spiral acquisitions only. Events without a
#: stated type (image headers that do not say) are compared: nothing marks them out.
_DRL_ACQUISITIONS: frozenset[AcquisitionClass | None] = frozenset({"spiral", "sequenced", None})
_HELICAL_ONLY: frozenset[AcquisitionClass | None] = frozenset({"spiral", None})

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
    ("UG-NDRL-2024", "Screening mammography"): "mg_screening",
}
#: The packaged tables: the byte-for-byte copy of ../shared's and the one we add to it
#: (DRLs the shared table lacks, each row with its source; see the data folder's tables).
PACKAGED_TABLES = ("drl.csv", "drl_extra.csv")
_BAND = re.compile(r"compressed breast thickness (\d+(?:\.\d+)?)-(\d+(?:\.\d+)?) mm")
_VIEW = re.compile(r"\bview (CC|MLO)\b")
_HEAD_EXAM_TYPES = frozenset({"ct_head", "ct_sinus"})


def acquisition_class(acquisition_type: str | None) -> AcquisitionClass | None:
    """Return the class of a CT event's ``acquisition_type`` text (None if unknown)."""
    if not acquisition_type:
        return None
    lowered = acquisition_type.lower()
    for word, found in _ACQUISITION_WORDS:
        if word in lowered:
            return found
    return None


def counts_for_ctdivol(event: IrradiationEvent) -> bool:
    """Whether a CT event's CTDIvol counts in a study's CTDIvol (alerts, benchmarks).

    A localizer (constant angle acquisition) is a radiograph whose CTDIvol (~0.2 mGy)
    says nothing of the scan: a study's CTDIvol is that of its scan acquisitions.
    """
    return acquisition_class(event.acquisition_type) != "constant_angle"


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
    #: CT acquisition classes a per-acquisition value is compared for (None: not stated
    #: on the event); empty for per-exam and projection entries (every value counts).
    acquisition_classes: frozenset[AcquisitionClass | None] = frozenset()
    #: Mammography: the view (``CC``/``MLO``) and compressed breast thickness band (mm,
    #: both ends included) the AGD level is defined for.
    view: str | None = None
    thickness_mm: tuple[float, float] | None = None

    @property
    def acquisitions(self) -> str:
        """The acquisitions this entry is compared with, as a physicist reads it."""
        if self.view is not None or self.thickness_mm is not None:
            band = self.thickness_mm
            return ", ".join(
                part
                for part in (
                    f"{self.view} views" if self.view else None,
                    f"compressed breast thickness {band[0]:g}-{band[1]:g} mm" if band else None,
                )
                if part
            )
        if not self.acquisition_classes:
            return "whole examination" if self.scope == "per_exam" else "every value"
        named = sorted(c for c in self.acquisition_classes if c is not None)
        return (
            " and ".join(named) + " acquisitions (localizers, stationary and free "
            "acquisitions excluded; events of unstated type included)"
        )


def _acquisition_classes(
    modality: str, scope: Scope, basis: str
) -> frozenset[AcquisitionClass | None]:
    if modality != "CT" or scope != "per_acquisition":
        return frozenset()
    return _HELICAL_ONLY if "helical" in basis.lower() else _DRL_ACQUISITIONS


def _mammography_band(basis: str) -> dict[str, object]:
    band = _BAND.search(basis)
    view = _VIEW.search(basis)
    return {
        "view": view.group(1) if view else None,
        "thickness_mm": (float(band.group(1)), float(band.group(2))) if band else None,
    }


def _quantity(metric: str) -> Quantity:
    lowered = metric.lower()
    for name in ("ctdivol", "dlp", "dap", "esd", "agd"):
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
        data = resources.files("medcoop.analytics.data")
        return tuple(
            entry
            for name in PACKAGED_TABLES
            for entry in load_national_drls(data.joinpath(name).read_text("utf-8"))
        )
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
                acquisition_classes=_acquisition_classes(row["modality"], scope, row["basis"]),
                **_mammography_band(row["basis"]),  # type: ignore[arg-type]
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
    #: The CT acquisition's class, for per-acquisition CT values.
    acquisition_class: AcquisitionClass | None = None
    #: Mammography: the view (``CC``/``MLO``) and compressed breast thickness (mm).
    view: str | None = None
    thickness_mm: float | None = None


def observations_from_record(
    record: StudyRecord, *, site_id: str, exam_type: str
) -> Iterator[DoseObservation]:
    """Yield the DRL-comparable values of one study.

    Per acquisition: each CT event's CTDIvol and DLP with its phantom and acquisition
    class (localizers are never compared per acquisition; see :data:`_DRL_ACQUISITIONS`
    for what each entry takes). Per exam: the
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
        acquisition: AcquisitionClass | None = None,
    ) -> DoseObservation:
        device = record.device.device_key
        return DoseObservation(
            site_id,
            device,
            protocol,
            exam_type,
            quantity,
            scope,
            phantom,
            value,
            record.study_uid,
            acquisition,
        )

    study_protocol = record.usage.performed_protocol
    ct_events = [e for e in record.events if e.kind == EventKind.CT_ACQUISITION]
    for event in ct_events:
        protocol = event.protocol or study_protocol
        kind = acquisition_class(event.acquisition_type)
        if kind == "constant_angle":
            continue  # a localizer: no DRL is defined per localizer
        phantom = event.ctdi_phantom
        if event.ctdivol_mgy is not None:
            yield obs("ctdivol", "per_acquisition", event.ctdivol_mgy, phantom, protocol, kind)
        if event.dlp_mgycm is not None:
            yield obs("dlp", "per_acquisition", event.dlp_mgycm, phantom, protocol, kind)
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
    for event in record.events:
        if event.kind == EventKind.MAMMOGRAPHY and event.agd_mgy is not None:
            yield DoseObservation(
                site_id,
                record.device.device_key,
                event.protocol or study_protocol,
                exam_type,
                "agd",
                "per_projection",
                None,
                event.agd_mgy,
                record.study_uid,
                view=mammography_view(event.view),
                thickness_mm=event.compressed_thickness_mm,
            )


def mammography_view(view: str | None) -> str | None:
    """Return ``CC`` or ``MLO`` for a mammography view's code meaning or label, else None.

    Only the standard screening views: a rolled or magnified CC (``RCC``, ``XCCL``) is not
    the projection the DRLs survey.
    """
    if not view:
        return None
    text = re.sub(r"[^a-z]+", " ", view.lower()).strip()
    if text in ("cc", "cranio caudal", "craniocaudal"):
        return "CC"
    if text in ("mlo", "medio lateral oblique", "mediolateral oblique"):
        return "MLO"
    return None


def _matches(entry: DrlEntry, ob: DoseObservation) -> bool:
    return (
        ob.exam_type == entry.exam_type
        and ob.quantity == entry.quantity
        and ob.scope == entry.scope
        and (entry.phantom is None or ob.phantom == entry.phantom)
        and (not entry.acquisition_classes or ob.acquisition_class in entry.acquisition_classes)
        and (entry.view is None or ob.view == entry.view)
        and (
            entry.thickness_mm is None
            or (
                ob.thickness_mm is not None
                and entry.thickness_mm[0] <= ob.thickness_mm <= entry.thickness_mm[1] + 0.99
            )
        )
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
        if ob.scope == "per_acquisition" and ob.acquisition_class not in _DRL_ACQUISITIONS:
            continue  # per-sequence DRLs are for scan sequences, as the national ones
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
