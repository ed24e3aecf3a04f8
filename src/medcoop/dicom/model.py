"""The extraction results: Extraction, DoseEvent, MppsFacts, Skipped and their parts.

These are what :func:`medcoop.dicom.extract_dataset` and :func:`medcoop.dicom.extract_mpps`
return. They still hold identifying values (:class:`PatientIdentity`), so they stay on the
edge: only de-identified :mod:`medcoop.records` objects cross to the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import ValidationError

from medcoop import records

__all__ = [
    "CtSourceParameters",
    "Damaged",
    "DeviceIdentity",
    "DoseEvent",
    "Extraction",
    "MppsFacts",
    "PatientIdentity",
    "Skipped",
    "make_event",
    "make_totals",
]


class DoseEvent(records.IrradiationEvent):
    """One irradiation event or administration, as read on premise.

    Field names and units are those of :class:`medcoop.records.IrradiationEvent`, except
    ``event_uid`` is the ORIGINAL irradiation event UID (or a stable derived one for
    image headers) and ``started_at`` may be naive local time.
    """

    event_uid: str
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object that gave no extraction, and why (never an exception)."""

    reason: str
    sop_instance_uid: str | None = None


@dataclass(frozen=True, slots=True)
class Damaged(Skipped):
    """An object cut short or damaged: counting what is left would half-count its dose.

    The bytes end inside an element or sequence, or a report holds fewer irradiation
    events than its accumulated dose data states. Receivers quarantine it with
    ``reason`` and answer the sender with a failure, so the sender sends it again whole.
    """


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """Identifying patient facts: they stay on premise."""

    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    patient_name: str | None = None
    birth_date: date | None = None
    sex: records.Sex | None = None
    age_years: float | None = None
    height_m: float | None = None
    weight_kg: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """The equipment; institution fields are kept only for the residual-identifier scan."""

    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    station_name: str | None = None
    software_versions: str | None = None
    device_observer_uid: str | None = None
    #: The SR's Device Observer Name (often the station name, not always).
    device_observer_name: str | None = None
    institution_name: str | None = None
    department_name: str | None = None


@dataclass(frozen=True, slots=True)
class CtSourceParameters:
    """One X-ray source of a CT acquisition (TID 10013 CT X-Ray Source Parameters)."""

    source_id: str | None
    kvp: float | None = None
    max_tube_current_ma: float | None = None
    tube_current_ma: float | None = None
    exposure_time_per_rotation_s: float | None = None


@dataclass(frozen=True, slots=True)
class Extraction:
    """Dose and usage facts read from one DICOM object (RDSR, image header or vendor summary).

    ``modality`` is the physicist's modality (CT, DX, RF, MG, NM, PT...), not the header's
    ``SR``. ``study_at`` and all other datetimes are naive local time unless
    ``utc_offset_min`` is known.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str | None
    modality: str
    source: records.SourceKind
    patient: PatientIdentity
    device: DeviceIdentity
    study_at: datetime | None = None
    utc_offset_min: int | None = None
    study_description: str | None = None
    accession_number: str | None = None
    procedure_code: str | None = None
    events: tuple[DoseEvent, ...] = ()
    totals: records.DoseTotals = field(default_factory=records.DoseTotals)
    acquisition_times: tuple[datetime, ...] = ()
    image_count: int = 0
    performed_protocol: str | None = None
    #: The header's Modality (``SR`` for dose reports).
    header_modality: str | None = None
    #: Start and end of X-ray irradiation as the RDSR states them.
    irradiation_started_at: datetime | None = None
    irradiation_ended_at: datetime | None = None
    #: Per-source CT parameters by event UID (dual source scanners have two).
    ct_sources: dict[str, tuple[CtSourceParameters, ...]] = field(default_factory=dict)
    #: Values read but not kept (unknown units, out-of-range values), for the operator.
    notes: tuple[str, ...] = ()
    _identifying: frozenset[str] = frozenset()

    def identifying_values(self) -> set[str]:
        """Return every identifying string of the input object, for the residual scanner.

        Names, IDs, birth date in DICOM DA form, accession number, institution, address and
        physician names, and person names found in the SR content tree.
        """
        return set(self._identifying)


@dataclass(frozen=True, slots=True)
class MppsFacts:
    """Usage (and possibly dose) facts from an MPPS N-CREATE or N-SET dataset."""

    sop_instance_uid: str | None
    study_instance_uids: tuple[str, ...] = ()
    status: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    performed_protocol: str | None = None
    modality: str | None = None
    station_name: str | None = None
    patient: PatientIdentity | None = None
    series_count: int = 0
    image_count: int = 0
    totals: records.DoseTotals = field(default_factory=records.DoseTotals)
    ctdivol_mgy: tuple[float, ...] = ()
    number_of_exposures: int | None = None
    _identifying: frozenset[str] = frozenset()

    def identifying_values(self) -> set[str]:
        """Return every identifying string of the MPPS dataset, for the residual scanner."""
        return set(self._identifying)


_SHORT_TEXT_MAX = 128


def make_event(fields: dict[str, object], notes: list[str]) -> DoseEvent:
    """Return a :class:`DoseEvent` from ``fields``, dropping (and noting) invalid values.

    A negative DAP or an over-long protocol name from one device must not cost the
    event's other values, so each failing field is removed and validation retried.
    """
    clean: dict[str, object] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, str) and len(value) > _SHORT_TEXT_MAX:
            value = value[:_SHORT_TEXT_MAX]
        clean[name] = value
    for _ in range(len(clean) + 1):
        try:
            return DoseEvent.model_validate(clean)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err.get("loc")}
            bad -= {"event_uid", "kind"}
            if not bad:
                raise
            for name in bad:
                notes.append(f"dropped {name}: invalid value")
                clean.pop(name, None)
    raise ValueError("event could not be validated")


def make_totals(fields: dict[str, object], notes: list[str]) -> records.DoseTotals:
    """Return :class:`medcoop.records.DoseTotals`, dropping (and noting) invalid values."""
    clean = {k: v for k, v in fields.items() if v is not None}
    for _ in range(len(clean) + 1):
        try:
            return records.DoseTotals.model_validate(clean)
        except ValidationError as exc:
            for err in exc.errors():
                if err.get("loc"):
                    name = str(err["loc"][0])
                    notes.append(f"dropped {name}: invalid value")
                    clean.pop(name, None)
    return records.DoseTotals()
