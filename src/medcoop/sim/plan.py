"""Study plans: the ground truth of each synthetic study, drawn before anything is encoded.

A plan holds every number and UID the DICOM objects will carry, in the record's units
(``ctdivol_mgy``, ``dap_gycm2``...), already rounded to what the objects will say, so the
truth totals equal the sum of the planted events exactly. Rendering a plan into datasets
(:mod:`medcoop.sim.render`) draws no random numbers; :mod:`medcoop.sim.planners` draws
the events.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from medcoop.records import DoseCheckNotice, DoseTotals, EventKind
from medcoop.sim.people import PlantedPatient, Staff, name_parts

__all__ = ["PlannedEvent", "StudyTruth", "after", "lognormal", "new_uid", "totals_of"]


def new_uid(rng: random.Random) -> str:
    """Return a fresh ``2.25.`` UID from ``rng`` (deterministic for the fleet's seed)."""
    return f"2.25.{rng.getrandbits(120)}"


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One planted irradiation event or administration, in record units.

    Field names and units are those of :class:`medcoop.records.IrradiationEvent`;
    ``started_at`` is naive local time as the device's clock wrote it. The last few
    fields are rendering details that the record does not carry.
    """

    event_uid: str
    kind: EventKind
    started_at: datetime
    protocol: str | None = None
    target_region: str | None = None
    acquisition_type: str | None = None
    plane: str | None = None
    # CT
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    ctdi_phantom: str | None = None
    pitch: float | None = None
    nominal_total_collimation_mm: float | None = None
    nominal_single_collimation_mm: float | None = None
    scanning_length_mm: float | None = None
    number_of_sources: int | None = None
    exposure_time_s: float | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    dose_check: tuple[DoseCheckNotice, ...] = ()
    # projection, fluoroscopy
    dap_gycm2: float | None = None
    rp_dose_mgy: float | None = None
    fluoro_time_s: float | None = None
    pulse_rate_per_s: float | None = None
    number_of_pulses: float | None = None
    pulse_width_ms: float | None = None
    primary_angle_deg: float | None = None
    secondary_angle_deg: float | None = None
    filter_material: str | None = None
    filter_thickness_mm: float | None = None
    exposure_index: float | None = None
    deviation_index: float | None = None
    # mammography
    agd_mgy: float | None = None
    laterality: str | None = None
    view: str | None = None
    compressed_thickness_mm: float | None = None
    compression_force_n: float | None = None
    anode_target: str | None = None
    entrance_dose_mgy: float | None = None
    # nuclear medicine
    radiopharmaceutical: str | None = None
    radionuclide: str | None = None
    administered_activity_mbq: float | None = None
    effective_dose_msv: float | None = None
    # rendering details (not record fields)
    duration_s: float | None = None
    rotation_time_s: float | None = None
    target_exposure_index: float | None = None
    region_index: int = 0  # index into the protocol's region/projection table
    image_sop_uid: str | None = None  # the image that carries this event, if any

    def record_fields(self) -> dict[str, object]:
        """Return the fields shared with ``records.IrradiationEvent`` that are set."""
        out: dict[str, object] = {}
        for item in fields(self):
            if item.name in _RENDER_ONLY:
                continue
            value = getattr(self, item.name)
            if value is not None and value != ():
                out[item.name] = value
        return out


_RENDER_ONLY = frozenset(
    {"duration_s", "rotation_time_s", "target_exposure_index", "region_index", "image_sop_uid"}
)


@dataclass(slots=True)
class StudyTruth:
    """Everything planted in one study: identity, timing, UIDs, events and expected totals.

    Times are naive local as the device's (possibly wrong) clock writes them;
    ``true_started_at`` is the wall-clock truth and ``clock_offset_s`` the device's error.
    """

    index: int
    site: str
    device_key_hint: str
    modality: str
    protocol: str
    procedure_code: str
    study_description: str
    study_instance_uid: str
    accession_number: str
    study_id: str
    patient: PlantedPatient
    staff: Staff
    institution_name: str
    institution_address: str
    department_name: str
    age_years: int
    height_m: float | None
    weight_kg: float | None
    effective_diameter_cm: float | None
    started_at: datetime
    ended_at: datetime
    true_started_at: datetime
    clock_offset_s: float
    utc_offset_min: int
    timezone_written: bool
    events: tuple[PlannedEvent, ...]
    totals: DoseTotals
    mpps_sop_instance_uid: str
    mpps_status: str
    rdsr_sop_instance_uid: str | None = None
    rdsr_series_instance_uid: str | None = None
    image_series_instance_uid: str | None = None
    image_sop_instance_uids: tuple[str, ...] = ()
    frame_of_reference_uid: str | None = None
    #: Split dose reports: "cumulative" (a first report of the first ``split_event_count``
    #: events, then a final one of all) or "continued" (then one of the rest); None: one report.
    split_report: str | None = None
    split_event_count: int = 0
    first_report_sop_instance_uid: str | None = None
    adversarial: bool = False
    #: What the device writes in (0008,0005) for this study's names and addresses.
    specific_character_set: str = "ISO_IR 100"
    #: Extra identifiers planted only in adversarial studies (mother's name, case number).
    adversarial_extras: dict[str, str] = field(default_factory=dict)

    @property
    def event_count(self) -> int:
        """Number of planted irradiation events (or administrations)."""
        return len(self.events)

    @property
    def image_count(self) -> int:
        """Number of image objects the study sends."""
        return len(self.image_sop_instance_uids)

    @property
    def total_dlp_mgycm(self) -> float | None:
        """Expected CT DLP total (mGy·cm)."""
        return self.totals.total_dlp_mgycm

    @property
    def total_dap_gycm2(self) -> float | None:
        """Expected DAP total (Gy·cm²), over all planes."""
        return self.totals.total_dap_gycm2

    @property
    def total_rp_dose_mgy(self) -> float | None:
        """Expected dose at the reference point (mGy), over all planes."""
        return self.totals.total_rp_dose_mgy

    @property
    def total_fluoro_time_s(self) -> float | None:
        """Expected total fluoroscopy time (s)."""
        return self.totals.total_fluoro_time_s

    @property
    def total_administered_activity_mbq(self) -> float | None:
        """Expected administered activity (MBq)."""
        return self.totals.total_administered_activity_mbq

    @property
    def report_sop_instance_uids(self) -> tuple[str, ...]:
        """The SOP Instance UIDs of the study's dose reports, in sending order."""
        first = (self.first_report_sop_instance_uid,) if self.split_report else ()
        final = (self.rdsr_sop_instance_uid,) if self.rdsr_sop_instance_uid else ()
        return tuple(dict.fromkeys(uid for uid in (*first, *final) if uid))

    def report_parts(self) -> list[StudyTruth]:
        """The truth as each dose report states it (one part unless the report is split)."""
        if not self.split_report or not self.first_report_sop_instance_uid:
            return [self]
        count = self.split_event_count
        head, tail = self.events[:count], self.events[count:]
        first = replace(
            self,
            events=head,
            totals=totals_of(head),
            rdsr_sop_instance_uid=self.first_report_sop_instance_uid,
            ended_at=tail[0].started_at,
        )
        if self.split_report == "cumulative":
            return [first, self]
        return [first, replace(self, events=tail, totals=totals_of(tail))]

    def identifying_values(self) -> set[str]:
        """Every identifying string planted in this study's objects."""
        # Other Patient IDs are planted only in adversarial studies.
        values = self.patient.identifying_values(other_ids=self.adversarial)
        values |= self.staff.identifying_values()
        values.update({self.accession_number, self.institution_name, self.institution_address})
        for extra in self.adversarial_extras.values():
            values.add(extra)
            values.update(name_parts(extra) if "^" in extra else ())
        return values


def _sum(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(math.fsum(present), 6) if present else None


def totals_of(events: tuple[PlannedEvent, ...]) -> DoseTotals:
    """Return the study totals that the planted events add up to, in record units."""
    fluoro = [e for e in events if e.kind is EventKind.FLUOROSCOPY]
    acquisitions = [e for e in events if e.kind is EventKind.PROJECTION]
    mammo = [e for e in events if e.kind is EventKind.MAMMOGRAPHY]
    return DoseTotals(
        total_dlp_mgycm=_sum([e.dlp_mgycm for e in events]),
        total_dap_gycm2=_sum([e.dap_gycm2 for e in events]),
        total_fluoro_dap_gycm2=_sum([e.dap_gycm2 for e in fluoro]) if fluoro else None,
        # every projection event is an acquisition; fluoroscopy is the rest
        total_acquisition_dap_gycm2=_sum([e.dap_gycm2 for e in acquisitions]),
        total_rp_dose_mgy=_sum([e.rp_dose_mgy for e in events]),
        total_fluoro_time_s=_sum([e.fluoro_time_s for e in fluoro]) if fluoro else None,
        total_acquisition_time_s=(
            _sum([e.duration_s for e in acquisitions]) if fluoro and acquisitions else None
        ),
        total_agd_left_mgy=_sum([e.agd_mgy for e in mammo if e.laterality == "L"]),
        total_agd_right_mgy=_sum([e.agd_mgy for e in mammo if e.laterality == "R"]),
        total_administered_activity_mbq=_sum([e.administered_activity_mbq for e in events]),
        total_effective_dose_msv=_sum([e.effective_dose_msv for e in events]),
        number_of_events=len(events),
    )


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """Draw from a log-normal distribution with the given median and log-space sigma."""
    return median * math.exp(rng.gauss(0.0, sigma))


def after(start: datetime, seconds: float) -> datetime:
    """Return ``start`` plus ``seconds``, truncated to milliseconds as DICOM DT writes it."""
    moment = start + timedelta(seconds=seconds)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
