"""Nuclear medicine and PET: TID 10021 Radiopharmaceutical Radiation Dose reports.

Per Radiopharmaceutical Administration: agent, radionuclide, administered activity, start
time, organ doses and effective dose. The physicist's modality is PT when the radionuclide
is a positron emitter, NM otherwise (OpenREM files both under NM).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from medcoop import records
from medcoop.dicom import codes as c
from medcoop.dicom.content import Node
from medcoop.dicom.model import DoseEvent, PatientIdentity, make_event, make_totals
from medcoop.dicom.units import Quantity, convert

__all__ = [
    "RadiopharmaceuticalResult",
    "fill_patient",
    "is_positron_emitter",
    "read_radiopharmaceutical",
]

#: Positron-emitting radionuclides (SRT and SCT codes) → PT rather than NM.
POSITRON_EMITTERS = frozenset(
    {
        "SRT:C-111A1",  # ^18^Fluorine
        "SCT:77004003",
        "SRT:C-131A3",  # ^68^Gallium
        "SCT:10495007",
        "SRT:C-105A1",  # ^11^Carbon
        "SCT:21576001",
        "SRT:C-107A1",  # ^13^Nitrogen
        "SCT:21213005",
        "SRT:C-B1038",  # ^15^Oxygen
        "SRT:C-159A2",  # ^82^Rubidium
        "SCT:3970008",
        "SRT:C-127A2",  # ^64^Copper
        "SRT:C-163AA",  # ^89^Zirconium
    }
)
_POSITRON_SPELLINGS = ("^18^F", "18F", "F-18", "F18", "^68^Ga", "Ga-68", "68Ga", "^11^C",
                       "C-11", "^82^Rb", "Rb-82", "^13^N", "N-13", "^15^O", "O-15",
                       "^64^Cu", "Cu-64", "^89^Zr", "Zr-89")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RadiopharmaceuticalResult:
    """Administrations, totals and the physicist's modality (NM or PT)."""

    events: tuple[DoseEvent, ...]
    totals: records.DoseTotals
    modality: str


def is_positron_emitter(code: str | None, name: str | None) -> bool:
    """Return whether a radionuclide (code key or name as written) emits positrons."""
    if code in POSITRON_EMITTERS:
        return True
    if not name:
        return False
    lowered = name.lower()
    return any(s.lower() in lowered for s in _POSITRON_SPELLINGS)


def _radionuclide(admin: Node) -> tuple[str | None, str | None]:
    holder = admin.find(c.RADIOPHARMACEUTICAL_AGENT)
    for node in (holder, admin):
        if node is not None:
            found = node.find(c.RADIONUCLIDE)
            if found is not None:
                return found.code, found.meaning or found.text
    return None, None


def _organ_doses(admin: Node) -> tuple[records.OrganDose, ...]:
    doses: list[records.OrganDose] = []
    for info in admin.find_all(c.ORGAN_DOSE_INFORMATION):
        organ = info.string(c.FINDING_SITE)
        if not organ:
            continue
        value = info.number(c.ORGAN_DOSE, Quantity.DOSE_MGY)
        doses.append(
            records.OrganDose(
                organ=organ[:128], dose_mgy=value if value is None or value >= 0 else None
            )
        )
    return tuple(doses)


def _effective_dose(admin: Node) -> float | None:
    for node in admin.walk():
        if node.key == c.EFFECTIVE_DOSE and node.num is not None:
            return convert(node.num, node.unit, Quantity.DOSE_MSV)
    return None


def _event(admin: Node, index: int, fallback_uid: str, notes: list[str]) -> DoseEvent:
    agent = admin.find(c.RADIOPHARMACEUTICAL_AGENT)
    nuclide_code, nuclide = _radionuclide(admin)
    fields: dict[str, object] = {
        "event_uid": admin.string(c.RADIOPHARMACEUTICAL_ADMINISTRATION_EVENT_UID)
        or f"{fallback_uid}.{index}",
        "kind": records.EventKind.RADIOPHARMACEUTICAL,
        "source": records.SourceKind.RRDSR,
        "started_at": admin.datetime(c.RADIOPHARMACEUTICAL_START),
        "radiopharmaceutical": (agent.meaning or agent.text) if agent is not None else None,
        "radionuclide": nuclide,
        "administered_activity_mbq": admin.number(c.ADMINISTERED_ACTIVITY, Quantity.ACTIVITY_MBQ),
        "effective_dose_msv": _effective_dose(admin),
        "organ_doses": _organ_doses(admin),
    }
    event = make_event(fields, notes)
    if is_positron_emitter(nuclide_code, nuclide):
        notes.append("positron emitter")
    return event


def read_radiopharmaceutical(
    root: Node, fallback_uid: str, notes: list[str]
) -> RadiopharmaceuticalResult:
    """Read a TID 10021 tree.

    Parameters
    ----------
    root : Node
        The document root of a Radiopharmaceutical Radiation Dose SR.
    fallback_uid : str
        Prefix for derived event UIDs when a device omits the administration event UID.
    notes : list of str
        Receives a note for each value read but not kept.
    """
    local: list[str] = []
    events = tuple(
        _event(admin, index, fallback_uid, local)
        for index, admin in enumerate(root.find_all(c.RADIOPHARMACEUTICAL_ADMINISTRATION), 1)
    )
    positron = "positron emitter" in local
    notes.extend(n for n in local if n != "positron emitter")
    activities = [e.administered_activity_mbq for e in events]
    effective = [e.effective_dose_msv for e in events if e.effective_dose_msv is not None]
    totals = make_totals(
        {
            "total_administered_activity_mbq": (
                sum(a for a in activities if a is not None)
                if any(a is not None for a in activities)
                else None
            ),
            "total_effective_dose_msv": sum(effective) if effective else None,
            "number_of_events": len(events),
        },
        notes,
    )
    return RadiopharmaceuticalResult(events, totals, "PT" if positron else "NM")


def fill_patient(root: Node, patient: PatientIdentity) -> PatientIdentity:
    """Fill the header's gaps from TID 10021's Patient Characteristics (age, sex, size)."""
    chars = root.find(c.PATIENT_CHARACTERISTICS)
    if chars is None:
        return patient
    age = chars.number(c.SUBJECT_AGE, Quantity.AGE_YEARS)
    height = chars.number(c.PATIENT_HEIGHT, Quantity.HEIGHT_M)
    weight = chars.number(c.PATIENT_WEIGHT, Quantity.MASS_KG)
    sex_code = chars.coded(c.SUBJECT_SEX)
    sex = None
    if sex_code is not None:
        value = sex_code[0].split(":", 1)[-1][:1].upper()
        sex = records.Sex(value) if value in ("M", "F", "O", "U") else None
    return replace(
        patient,
        age_years=patient.age_years if patient.age_years is not None else age,
        height_m=patient.height_m or (height if height and 0 < height <= 3 else None),
        weight_kg=patient.weight_kg or (weight if weight and 0 < weight <= 700 else None),
        sex=patient.sex or sex,
    )
