"""The synthetic scanner fleet: sites, their devices, and a deterministic stream of studies.

:class:`Fleet` simulates every device of every site from a start date: each device works its
opening hours, patients follow one another with realistic exam durations and change-over
gaps that vary by weekday and hour, and each device's clock is off by its own offset. Studies
come out in the order they start. Everything derives from one ``random.Random(seed)``, so a
seed always gives the same studies, UIDs and bytes.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from pydicom.dataset import Dataset

from medcoop.sim import protocols as P
from medcoop.sim.adversarial import extra_identifiers
from medcoop.sim.header import character_set
from medcoop.sim.people import (
    DEMOGRAPHICS,
    FAMILY_NAMES,
    GENERAL,
    PlantedPatient,
    make_patient,
    make_staff,
    name_parts,
    staff_pool,
)
from medcoop.sim.plan import PlannedEvent, StudyTruth, after, new_uid, totals_of
from medcoop.sim.planners import plan_events
from medcoop.sim.render import render_composites, render_mpps
from medcoop.sim.vendors import DeviceSpec, site_devices

__all__ = ["Fleet", "SimStudy", "Site"]

_DEFAULT_UTC_OFFSETS_MIN = (0, 60, -300, 330, 600)
_PROTOCOLS: dict[str, tuple[P.ExamProtocol, ...]] = {
    "ct": P.CT_PROTOCOLS,
    "dx": P.DX_PROTOCOLS,
    "cr": P.DX_PROTOCOLS,
    "rf": P.RF_PROTOCOLS,
    "mg": P.MG_PROTOCOLS,
    "nm": P.NM_PROTOCOLS,
    "pt": P.PT_PROTOCOLS,
}
#: Median change-over gap between patients (minutes) per device kind.
_GAP_MEDIAN_MIN = {"ct": 8.0, "dx": 4.0, "cr": 5.0, "rf": 20.0, "mg": 6.0, "nm": 15.0, "pt": 20.0}
_REVISIT_PROBABILITY = 0.15


@dataclass(frozen=True, slots=True)
class Site:
    """A hospital in the fleet, with its devices and staff."""

    name: str
    prefix: str  # two letters that start its patient IDs and accession numbers
    utc_offset_min: int
    address: str
    devices: tuple[DeviceSpec, ...]
    staff: tuple[str, ...]


@dataclass(slots=True)
class SimStudy:
    """One simulated study: its ground truth and the objects its device sends.

    ``datasets``, ``mpps_create`` and ``mpps_set`` are built on first access and cached;
    copy them before changing them if the originals are needed again.
    """

    truth: StudyTruth
    device: DeviceSpec
    protocol: P.ExamProtocol
    _objects: list[Dataset] | None = field(default=None, init=False, repr=False)
    _mpps: tuple[Dataset, Dataset] | None = field(default=None, init=False, repr=False)

    @property
    def site(self) -> str:
        """The site (hospital) name."""
        return self.truth.site

    @property
    def device_key_hint(self) -> str:
        """A stable name of the physical device (``<site slug>:<kind>-<n>``)."""
        return self.device.key

    @property
    def datasets(self) -> list[Dataset]:
        """The composite objects (images, then the dose report), with File Meta."""
        if self._objects is None:
            self._objects = render_composites(self.truth, self.device, self.protocol)
        return self._objects

    @property
    def mpps_create(self) -> Dataset | None:
        """The MPPS N-CREATE attribute list (IN PROGRESS)."""
        return self._mpps_pair()[0]

    @property
    def mpps_set(self) -> Dataset | None:
        """The MPPS N-SET attribute list (COMPLETED or DISCONTINUED)."""
        return self._mpps_pair()[1]

    def _mpps_pair(self) -> tuple[Dataset, Dataset]:
        if self._mpps is None:
            self._mpps = render_mpps(self.truth, self.device)
        return self._mpps


class Fleet:
    """A deterministic synthetic fleet of scanners at one or more sites.

    Parameters
    ----------
    seed : int
        Seeds the one ``random.Random`` everything derives from.
    sites : sequence of str
        Hospital names; each gets the full catalogue of devices (CT, DX, CR, RF, MG, NM, PET).
    start : date
        The first simulated day (devices open on their first opening hour of that day).
    adversarial : bool
        Also plant identifiers in hard places (see :mod:`medcoop.sim.adversarial`).
    utc_offsets_min : sequence of int, optional
        Minutes east of UTC per site (defaults cycle through 0, +60, -300, +330, +600).
    split_reports : float
        Fraction (0 to 1) of CT and fluoroscopy studies with two or more events whose dose
        report is sent in two parts, half cumulative (the second report repeats the first
        one's events) and half continued (the second holds only the rest), as some scanners
        do. 0 (the default) leaves the random stream, and so every study, unchanged.
    """

    def __init__(
        self,
        seed: int = 1,
        sites: Sequence[str] = ("St Elsewhere", "County General"),
        start: date = date(2026, 1, 5),
        *,
        adversarial: bool = False,
        utc_offsets_min: Sequence[int] | None = None,
        split_reports: float = 0.0,
    ) -> None:
        if not sites:
            raise ValueError("a fleet needs at least one site")
        if len(set(sites)) != len(sites):
            raise ValueError(f"site names must be distinct: {list(sites)}")
        if any(len(name.strip()) < 3 for name in sites):
            # names are planted identifiers; residual scans need them long enough to search
            raise ValueError(f"site names must have at least 3 characters: {list(sites)}")
        if not 0.0 <= split_reports <= 1.0:
            raise ValueError(f"split_reports must be within [0, 1], got {split_reports}")
        self.seed = seed
        self.start = start
        self.adversarial = adversarial
        self.split_reports = split_reports
        offsets = list(utc_offsets_min or _DEFAULT_UTC_OFFSETS_MIN)
        setup = random.Random(f"medcoop-sim-sites:{seed}")
        self.sites: tuple[Site, ...] = tuple(
            _make_site(setup, name, index, offsets[index % len(offsets)])
            for index, name in enumerate(sites)
        )
        self._identifying: set[str] = set()
        for site in self.sites:
            self._identifying.update({site.name, site.address})
            for name in site.staff:
                self._identifying.add(name)
        self._identifying.update(_staff_parts(self.sites))

    @property
    def devices(self) -> tuple[DeviceSpec, ...]:
        """Every device of every site."""
        return tuple(device for site in self.sites for device in site.devices)

    def studies(self, n: int) -> Iterator[SimStudy]:
        """Yield the first ``n`` studies of the fleet, in start order (same for a seed)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        run = _Run(self)
        for index in range(n):
            study = run.next_study(index)
            self._identifying.update(study.truth.identifying_values())
            yield study

    def write(self, out_dir: str | Path, n: int = 100, *, workers: int = 1) -> list[Path]:
        """Write the first ``n`` studies' composite objects as Part 10 files under ``out_dir``.

        Files go to ``out_dir/study-NNNNNN/NN-<modality>.dcm``; returns their paths in order.
        ``workers`` > 1 renders in that many processes; the files are the same either way.
        """
        from medcoop.sim.files import write_fleet

        return write_fleet(self, Path(out_dir), n, workers=workers)

    def identifying_values(self) -> set[str]:
        """Every identifier the fleet may have planted so far.

        The sites' names and addresses and their staff pools (any of whom may appear in a
        study), plus every identifier of every study generated so far by this object;
        studies not yet generated are not covered, so generate first, then ask.
        """
        return set(self._identifying)


def _staff_parts(sites: tuple[Site, ...]) -> set[str]:
    return {part for site in sites for name in site.staff for part in name_parts(name)}


def _make_site(rng: random.Random, name: str, index: int, utc_offset_min: int) -> Site:
    letters = [ch for ch in name.upper() if ch.isalpha()]
    prefix = "".join(letters[:1] + letters[-1:]) if letters else f"S{index}"
    return Site(
        name=name,
        prefix=f"{prefix}{index}",
        utc_offset_min=utc_offset_min,
        address=f"{rng.randrange(1, 400)} Infirmary Road, {name} Park",
        devices=site_devices(rng, name, index),
        staff=staff_pool(rng, 12),
    )


@dataclass(order=True, slots=True)
class _Slot:
    true_start: datetime
    order: int
    site_index: int = field(compare=False)
    device: DeviceSpec = field(compare=False)


class _Run:
    """One pass of the simulation: device schedules, patient pools, the random stream."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.rng = random.Random(fleet.seed)
        self.heap: list[_Slot] = []
        self.patients: list[list[PlantedPatient]] = [[] for _ in fleet.sites]
        day = datetime(fleet.start.year, fleet.start.month, fleet.start.day)
        order = 0
        for site_index, site in enumerate(fleet.sites):
            for device in site.devices:
                opening = _next_open(device, day + timedelta(minutes=self.rng.uniform(0, 20)))
                heapq.heappush(self.heap, _Slot(opening, order, site_index, device))
                order += 1

    def next_study(self, index: int) -> SimStudy:
        slot = heapq.heappop(self.heap)
        site = self.fleet.sites[slot.site_index]
        device = slot.device
        protocol = _choose(self.rng, _PROTOCOLS[device.kind])
        truth = self._plan(index, site, slot.site_index, device, protocol, slot.true_start)
        truth.specific_character_set = character_set(truth, device)
        self._maybe_split_report(truth, device)
        true_end = truth.ended_at - timedelta(seconds=device.clock_offset_s)
        gap_min = _GAP_MEDIAN_MIN[device.kind] * _demand(true_end) * self.rng.lognormvariate(0, 0.5)
        following = _next_open(device, true_end + timedelta(minutes=gap_min))
        heapq.heappush(self.heap, _Slot(following, slot.order, slot.site_index, device))
        return SimStudy(truth=truth, device=device, protocol=protocol)

    def _maybe_split_report(self, truth: StudyTruth, device: DeviceSpec) -> None:
        """Send some studies' dose reports in two parts (draws nothing when disabled)."""
        rate = self.fleet.split_reports
        eligible = device.kind in {"ct", "rf"} and truth.rdsr_sop_instance_uid is not None
        if not rate or not eligible or len(truth.events) < 2 or self.rng.random() >= rate:
            return
        truth.split_report = "cumulative" if self.rng.random() < 0.5 else "continued"
        truth.split_event_count = self.rng.randint(1, len(truth.events) - 1)
        truth.first_report_sop_instance_uid = new_uid(self.rng)

    def _patient(self, site_index: int, site: Site, day: date, kind: str) -> PlantedPatient:
        pool = self.patients[site_index]
        law = DEMOGRAPHICS.get(kind, GENERAL)
        if pool and self.rng.random() < _REVISIT_PROBABILITY:
            fitting = pool if law is GENERAL else [p for p in pool if law.admits(p, day)]
            if fitting:
                return self.rng.choice(fitting)
        patient = make_patient(self.rng, site_prefix=site.prefix, study_day=day, demographics=law)
        pool.append(patient)
        return patient

    def _plan(
        self,
        index: int,
        site: Site,
        site_index: int,
        device: DeviceSpec,
        protocol: P.ExamProtocol,
        true_start: datetime,
    ) -> StudyTruth:
        rng = self.rng
        started_at = after(true_start, device.clock_offset_s)
        patient = self._patient(site_index, site, started_at.date(), device.kind)
        age = patient.age_years_at(started_at.date())
        events = plan_events(
            rng, device, protocol, start=started_at, weight_kg=patient.weight_kg, age_years=age
        )
        events, image_uids = self._assign_images(device, events)
        # the study ends after its last irradiation ends (a fluoroscopy run can outlast later
        # short ones), then the patient leaves the room
        last_end_s = max(
            (e.started_at - started_at).total_seconds() + (e.duration_s or 0.0) for e in events
        )
        duration_s = last_end_s + rng.uniform(60, 420)
        if isinstance(protocol, P.NmProtocol):  # the scan follows the uptake time
            duration_s += protocol.duration_min * 60
        writes_size = device.vendor.writes_patient_size and device.kind != "cr"
        name = protocol.name
        return StudyTruth(
            index=index,
            site=site.name,
            device_key_hint=device.key,
            modality=device.modality,
            protocol=name,
            procedure_code=protocol.code,
            study_description=f"{device.modality} {name}"
            if not name.startswith(device.modality)
            else name,
            study_instance_uid=new_uid(rng),
            accession_number=f"{site.prefix}A{rng.randrange(10_000_000, 99_999_999)}",
            study_id=str(rng.randrange(1, 999_999)),
            patient=patient,
            staff=make_staff(rng, site.staff),
            institution_name=site.name,
            institution_address=site.address,
            department_name="Radiology" if device.kind not in {"nm", "pt"} else "Nuclear Medicine",
            age_years=age,
            height_m=patient.height_m if writes_size else None,
            weight_kg=patient.weight_kg if writes_size else None,
            effective_diameter_cm=round(12.5 + 0.21 * patient.weight_kg, 1),
            started_at=started_at,
            ended_at=after(started_at, duration_s),
            true_started_at=true_start,
            clock_offset_s=device.clock_offset_s,
            utc_offset_min=site.utc_offset_min,
            timezone_written=device.vendor.writes_timezone,
            events=events,
            totals=totals_of(events),
            mpps_sop_instance_uid=new_uid(rng),
            mpps_status="DISCONTINUED" if rng.random() < 0.015 else "COMPLETED",
            rdsr_sop_instance_uid=new_uid(rng) if device.sends_rdsr else None,
            rdsr_series_instance_uid=new_uid(rng) if device.sends_rdsr else None,
            image_series_instance_uid=new_uid(rng) if image_uids else None,
            image_sop_instance_uids=image_uids,
            frame_of_reference_uid=new_uid(rng) if device.kind == "pt" else None,
            adversarial=self.fleet.adversarial,
            adversarial_extras=(
                extra_identifiers(rng, FAMILY_NAMES) if self.fleet.adversarial else {}
            ),
        )

    def _assign_images(
        self, device: DeviceSpec, events: tuple[PlannedEvent, ...]
    ) -> tuple[tuple[PlannedEvent, ...], tuple[str, ...]]:
        """Give each imaged event its image SOP Instance UID (CT: not the localizers)."""
        if not device.sends_images:
            return events, ()
        if device.kind == "pt":
            return events, tuple(new_uid(self.rng) for _ in range(3))
        assigned = []
        for event in events:
            imaged = device.kind != "ct" or event.acquisition_type != "Constant Angle Acquisition"
            assigned.append(replace(event, image_sop_uid=new_uid(self.rng)) if imaged else event)
        image_uids = tuple(e.image_sop_uid for e in assigned if e.image_sop_uid)
        return tuple(assigned), image_uids


def _choose(rng: random.Random, options: tuple[P.ExamProtocol, ...]) -> P.ExamProtocol:
    weights = [option.weight for option in options]
    return rng.choices(options, weights=weights)[0]


def _demand(moment: datetime) -> float:
    """How much longer gaps are at ``moment`` than at the busiest time (weekday × hour)."""
    hour = moment.hour
    if 8 <= hour < 12:
        by_hour = 1.0
    elif 12 <= hour < 14:
        by_hour = 1.5
    elif 14 <= hour < 17:
        by_hour = 1.15
    elif 17 <= hour < 22:
        by_hour = 2.2
    else:
        by_hour = 5.0
    by_day = (0.9, 1.0, 1.0, 1.05, 1.2, 3.0, 3.5)[moment.weekday()]
    return by_hour * by_day


def _next_open(device: DeviceSpec, moment: datetime) -> datetime:
    """Return ``moment`` if ``device`` is open then, else its next opening time."""
    open_hour, close_hour = device.opening_hours
    for _ in range(8):
        open_day = device.weekends or moment.weekday() < 5
        if open_day and open_hour <= moment.hour < close_hour:
            return moment
        if open_day and moment.hour < open_hour:
            return moment.replace(hour=open_hour, minute=0, second=0, microsecond=0)
        moment = (moment + timedelta(days=1)).replace(
            hour=open_hour, minute=0, second=0, microsecond=0
        )
        if device.weekends or moment.weekday() < 5:
            return moment
    return moment
