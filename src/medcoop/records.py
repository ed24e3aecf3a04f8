"""The edge → hub record schema: the one contract between the two sides.

Everything that crosses from a hospital's edge node to the hub is a :class:`RecordBatch`
of :class:`StudyRecord` objects. A record is *de-identified by construction*: it has no
field that could hold a patient's name, ID, birth date, address or accession number, and
every key in it is either a keyed pseudonym (HMAC under the site's secret) or a
``2.25.`` UID remapped on the edge. Device identity (hospital equipment, not patients),
age, sex, size, weight, exam times and dose metrics are what the analytics need.

Units are fixed and named in the field names (``ctdivol_mgy``, ``dap_gycm2``...).
Times are timezone-aware datetimes ending in ``_at``.

Versioning: :data:`SCHEMA_VERSION` is ``MAJOR.MINOR``. The hub accepts any batch whose
major version it knows; minor versions only add optional fields, and unknown fields
are rejected (``extra="forbid"``) so that nothing unexpected (and possibly
identifying) slips through.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

__all__ = [
    "SCHEMA_MAJOR",
    "SCHEMA_VERSION",
    "DeviceInfo",
    "DoseCheckNotice",
    "DoseTotals",
    "EventKind",
    "IrradiationEvent",
    "OrganDose",
    "PatientFacts",
    "RecordBatch",
    "Sex",
    "SourceKind",
    "StudyRecord",
    "UsageFacts",
    "record_key_for",
]

SCHEMA_MAJOR = 1
SCHEMA_VERSION = f"{SCHEMA_MAJOR}.1"  # 1.1: StudyRecord.totals_disagree

#: Pseudonyms are hex HMAC-SHA-256 digests (64 chars) or a shorter prefix of one.
Pseudonym = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[0-9a-f]+$")]
#: Remapped UIDs: ``2.25.<decimal>`` as PS3.5 B.2 describes.
RemappedUid = Annotated[str, Field(max_length=64, pattern=r"^2\.25\.[0-9]{1,39}$")]
#: Short coded or cleaned text (protocol names, body regions); never free text.
ShortText = Annotated[str, Field(max_length=128)]
NonNegative = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Sex(StrEnum):
    """Patient's sex as DICOM (0010,0040) codes it."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = "U"


class EventKind(StrEnum):
    """What kind of irradiation (or administration) an event is."""

    CT_ACQUISITION = "ct_acquisition"
    PROJECTION = "projection"  # radiographic / acquisition frames (DX, CR, RF/XA acquisition)
    FLUOROSCOPY = "fluoroscopy"
    MAMMOGRAPHY = "mammography"
    RADIOPHARMACEUTICAL = "radiopharmaceutical"


class SourceKind(StrEnum):
    """Which kind of DICOM object a fact was read from."""

    RDSR = "rdsr"
    RRDSR = "rrdsr"
    IMAGE_HEADER = "image_header"
    MPPS = "mpps"
    VENDOR_SUMMARY = "vendor_summary"


class DeviceInfo(_Strict):
    """The equipment that performed the study (hospital-owned, not identifying a patient).

    ``device_key`` is stable per physical device within a site: the edge derives it from
    manufacturer, model, serial number and station name (or Device Observer UID).
    """

    device_key: Annotated[str, Field(min_length=8, max_length=64)]
    manufacturer: ShortText | None = None
    model: ShortText | None = None
    serial_number: ShortText | None = None
    station_name: ShortText | None = None
    software_versions: ShortText | None = None
    modality: ShortText | None = None


class PatientFacts(_Strict):
    """What the analytics need to know about the patient, and nothing more."""

    pseudonym: Pseudonym
    age_years: Annotated[float, Field(ge=0, le=150)] | None = None
    sex: Sex | None = None
    height_m: Annotated[float, Field(gt=0, le=3)] | None = None
    weight_kg: Annotated[float, Field(gt=0, le=700)] | None = None
    #: Effective diameter (AAPM 204), from the localizer or lateral/AP dimensions.
    effective_diameter_cm: Annotated[float, Field(gt=0, le=100)] | None = None
    #: Water-equivalent diameter (AAPM 220), computed by the CT size app from images.
    water_equivalent_diameter_cm: Annotated[float, Field(gt=0, le=100)] | None = None


class DoseCheckNotice(_Strict):
    """A CT Dose Check (NEMA XR-25) alert or notification carried in the RDSR."""

    kind: Literal["alert", "notification"]
    metric: Literal["ctdivol", "dlp"] | None = None
    configured_value: NonNegative | None = None
    forward_estimate: NonNegative | None = None
    reason_given: bool = False


class OrganDose(_Strict):
    """Organ dose estimate from a radiopharmaceutical dose report (TID 10021)."""

    organ: ShortText
    dose_mgy: NonNegative | None = None


class IrradiationEvent(_Strict):
    """One irradiation event (TID 10011/10013, 10003, mammography) or administration.

    Only the fields relevant to the event's ``kind`` are set; everything is optional
    because vendors omit freely, and a missing value must stay missing (never zero).
    """

    event_uid: RemappedUid
    kind: EventKind
    source: SourceKind = SourceKind.RDSR
    started_at: AwareDatetime | None = None
    protocol: ShortText | None = None
    target_region: ShortText | None = None
    acquisition_type: ShortText | None = None
    plane: Literal["single", "A", "B"] | None = None

    # CT (TID 10013/10014)
    ctdivol_mgy: NonNegative | None = None
    dlp_mgycm: NonNegative | None = None
    ctdi_phantom: Literal["head16", "body32"] | None = None
    pitch: NonNegative | None = None
    nominal_total_collimation_mm: NonNegative | None = None
    nominal_single_collimation_mm: NonNegative | None = None
    scanning_length_mm: NonNegative | None = None
    number_of_sources: Annotated[int, Field(ge=1, le=4)] | None = None
    exposure_time_s: NonNegative | None = None
    kvp: NonNegative | None = None
    tube_current_ma: NonNegative | None = None
    dose_check: tuple[DoseCheckNotice, ...] = ()

    # Projection X-ray, fluoroscopy (TID 10003/10004)
    dap_gycm2: NonNegative | None = None
    rp_dose_mgy: NonNegative | None = None
    fluoro_time_s: NonNegative | None = None
    pulse_rate_per_s: NonNegative | None = None
    number_of_pulses: NonNegative | None = None
    pulse_width_ms: NonNegative | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    filter_material: ShortText | None = None
    filter_thickness_mm: NonNegative | None = None
    exposure_index: NonNegative | None = None
    deviation_index: float | None = None

    # Mammography
    agd_mgy: NonNegative | None = None
    laterality: Literal["L", "R", "B"] | None = None
    view: ShortText | None = None
    compressed_thickness_mm: NonNegative | None = None
    compression_force_n: NonNegative | None = None
    anode_target: ShortText | None = None
    entrance_dose_mgy: NonNegative | None = None

    # Nuclear medicine (TID 10021 / image headers)
    radiopharmaceutical: ShortText | None = None
    radionuclide: ShortText | None = None
    administered_activity_mbq: NonNegative | None = None
    effective_dose_msv: NonNegative | None = None
    organ_doses: tuple[OrganDose, ...] = ()


class DoseTotals(_Strict):
    """Study-level accumulated dose, as the report states it or as summed from events."""

    total_dlp_mgycm: NonNegative | None = None
    total_dap_gycm2: NonNegative | None = None
    total_fluoro_dap_gycm2: NonNegative | None = None
    total_acquisition_dap_gycm2: NonNegative | None = None
    total_rp_dose_mgy: NonNegative | None = None
    total_fluoro_time_s: NonNegative | None = None
    total_acquisition_time_s: NonNegative | None = None
    total_agd_left_mgy: NonNegative | None = None
    total_agd_right_mgy: NonNegative | None = None
    total_administered_activity_mbq: NonNegative | None = None
    total_effective_dose_msv: NonNegative | None = None
    number_of_events: Annotated[int, Field(ge=0)] | None = None


#: The names :attr:`StudyRecord.totals_disagree` may hold.
TotalName = Literal[
    "total_dlp_mgycm",
    "total_dap_gycm2",
    "total_fluoro_dap_gycm2",
    "total_acquisition_dap_gycm2",
    "total_fluoro_time_s",
    "total_agd_left_mgy",
    "total_agd_right_mgy",
    "total_administered_activity_mbq",
]


class UsageFacts(_Strict):
    """Facts for utilization analytics: when the device was busy with this study."""

    first_acquisition_at: AwareDatetime | None = None
    last_acquisition_at: AwareDatetime | None = None
    mpps_started_at: AwareDatetime | None = None
    mpps_ended_at: AwareDatetime | None = None
    mpps_status: Literal["IN PROGRESS", "COMPLETED", "DISCONTINUED"] | None = None
    performed_protocol: ShortText | None = None
    series_count: Annotated[int, Field(ge=0)] = 0
    image_count: Annotated[int, Field(ge=0)] = 0


class StudyRecord(_Strict):
    """One study as the hub sees it: pseudonymous, with its dose and usage facts."""

    #: Idempotency key: the same content always has the same key (see :func:`record_key_for`).
    record_key: Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[0-9a-f]+$")]
    study_uid: RemappedUid
    modality: ShortText
    modalities_in_study: tuple[ShortText, ...] = ()
    study_at: AwareDatetime | None = None
    #: Minutes east of UTC at the site when the study was performed (for local-hour views).
    utc_offset_min: Annotated[int, Field(ge=-840, le=840)] = 0
    study_description: ShortText | None = None
    procedure_code: ShortText | None = None
    device: DeviceInfo
    patient: PatientFacts
    events: tuple[IrradiationEvent, ...] = ()
    totals: DoseTotals = DoseTotals()
    usage: UsageFacts = UsageFacts()
    sources: tuple[SourceKind, ...] = ()
    consent: Literal["pooling"] = "pooling"
    #: Stated totals (:class:`DoseTotals` field names) that the events do not add up to
    #: (within 2 %): a damaged report, an event without its dose, a device's mistake.
    #: Added in 1.1; empty when events and totals agree or nothing can be compared.
    totals_disagree: tuple[TotalName, ...] = ()

    @model_serializer(mode="wrap")
    def _omit_agreement(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # absent when empty: a record whose events agree keeps its 1.0 form and key, and
        # a hub of 1.0 (extra="forbid") still takes it
        dumped: dict[str, Any] = handler(self)
        if not dumped.get("totals_disagree"):
            dumped.pop("totals_disagree", None)
        return dumped

    @field_validator("events")
    @classmethod
    def _unique_event_uids(
        cls, events: tuple[IrradiationEvent, ...]
    ) -> tuple[IrradiationEvent, ...]:
        seen: set[str] = set()
        for event in events:
            if event.event_uid in seen:
                raise ValueError(f"duplicate event_uid {event.event_uid}")
            seen.add(event.event_uid)
        return events


class RecordBatch(_Strict):
    """What the edge uploads to ``POST /api/v1/ingest``."""

    schema_version: Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+$")] = SCHEMA_VERSION
    sent_at: AwareDatetime
    edge_version: ShortText | None = None
    records: tuple[StudyRecord, ...] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, version: str) -> str:
        if int(version.split(".")[0]) != SCHEMA_MAJOR:
            raise ValueError(
                f"schema version {version} is not supported (this side speaks {SCHEMA_VERSION})"
            )
        return version


def record_key_for(record_content: dict[str, object]) -> str:
    """Return the idempotency key of a record's content (everything but the key itself).

    The key is SHA-256 over canonical JSON, so a re-sent record has the same key and a
    record updated by late objects (more events, MPPS end) gets a new one.
    """
    content = {k: v for k, v in record_content.items() if k != "record_key"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
