"""Event planners, one per modality: draw realistic events for one study.

Each planner returns :class:`~medcoop.sim.plan.PlannedEvent` objects whose numbers are
rounded to what the DICOM objects will carry, so totals computed from them are exact.
Doses scale with patient size the way automatic exposure control makes them scale.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import datetime

from medcoop.records import DoseCheckNotice, EventKind
from medcoop.sim import protocols as P
from medcoop.sim.plan import PlannedEvent, after, lognormal, new_uid
from medcoop.sim.vendors import DeviceSpec

__all__ = ["ct_events", "dx_events", "mg_events", "nm_events", "plan_events", "rf_events"]

#: CT Dose Check (NEMA XR-25) values configured on every simulated scanner.
CTDIVOL_NOTIFICATION_HEAD_MGY = 80.0
CTDIVOL_NOTIFICATION_BODY_MGY = 50.0
DLP_NOTIFICATION_MGYCM = 1000.0
DLP_ALERT_MGYCM = 1500.0

_COLLIMATION_MM = {  # model → (single, total) nominal collimation
    "Helix 128": (0.6, 38.4),
    "Revo Duo": (0.6, 57.6),
    "Quanta 64": (0.625, 40.0),
}


def _size_factor(weight_kg: float, exponent: float) -> float:
    return float((max(weight_kg, 3.0) / 75.0) ** exponent)


def ct_events(
    rng: random.Random,
    device: DeviceSpec,
    protocol: P.CtProtocol,
    start: datetime,
    weight_kg: float,
    age_years: int,
) -> tuple[PlannedEvent, ...]:
    """Plan a CT study: one or two localizers, then the protocol's acquisitions."""
    single_mm, total_mm = _COLLIMATION_MM.get(device.model, (0.625, 40.0))
    events: list[PlannedEvent] = []
    clock_s = rng.uniform(60, 180)
    for _ in range(1 if protocol.head_phantom else rng.choice((1, 1, 2))):
        length_mm = round(rng.uniform(200, 600) if not protocol.head_phantom else 250.0, 1)
        ctdivol = round(rng.uniform(0.05, 0.3), 3)
        events.append(
            PlannedEvent(
                event_uid=new_uid(rng),
                kind=EventKind.CT_ACQUISITION,
                started_at=after(start, clock_s),
                protocol=protocol.name,
                target_region=protocol.region.meaning,
                acquisition_type="Constant Angle Acquisition",
                ctdivol_mgy=ctdivol,
                dlp_mgycm=round(ctdivol * length_mm / 10, 2),
                ctdi_phantom="head16" if protocol.head_phantom else "body32",
                scanning_length_mm=length_mm,
                nominal_single_collimation_mm=single_mm,
                nominal_total_collimation_mm=single_mm,
                number_of_sources=1,
                exposure_time_s=round(length_mm / 100.0, 2),
                kvp=120.0,
                tube_current_ma=float(rng.choice((20, 30, 35, 50))),
            )
        )
        clock_s += rng.uniform(20, 90)
    accumulated_dlp = sum(e.dlp_mgycm or 0.0 for e in events)
    for _ in range(rng.randint(*protocol.acquisitions)):
        event = _ct_acquisition(
            rng,
            device,
            protocol,
            after(start, clock_s),
            weight_kg,
            age_years,
            (single_mm, total_mm),
        )
        event = _with_dose_check(rng, event, protocol, accumulated_dlp)
        accumulated_dlp += event.dlp_mgycm or 0.0
        events.append(event)
        clock_s += (event.exposure_time_s or 5.0) + rng.uniform(30, 240)
    return tuple(events)


def _ct_acquisition(
    rng: random.Random,
    device: DeviceSpec,
    protocol: P.CtProtocol,
    started_at: datetime,
    weight_kg: float,
    age_years: int,
    collimation_mm: tuple[float, float],
) -> PlannedEvent:
    if protocol.head_phantom:
        size = 0.55 if age_years < 2 else (0.8 if age_years < 12 else 1.0)
    else:
        size = _size_factor(weight_kg, 0.7)
    ctdivol = round(lognormal(rng, protocol.ctdivol_median_mgy * size, 0.28), 2)
    length_mm = round(
        max(60.0, rng.gauss(protocol.length_median_mm, 0.1 * protocol.length_median_mm)), 1
    )
    sources = 2 if device.dual_source and (protocol.sequenced or rng.random() < 0.3) else 1
    rotation_s = rng.choice((0.28, 0.33, 0.5)) if not protocol.head_phantom else 1.0
    if protocol.sequenced:
        pitch = None
        acquisition_type = "Sequenced Acquisition"
        overrange_mm = 0.0
        exposure_s = round(rotation_s * length_mm / collimation_mm[1], 2)
    else:
        pitch = round(rng.choice((3.2, 0.9)) if sources == 2 else rng.uniform(0.8, 1.4), 3)
        acquisition_type = "Spiral Acquisition"
        overrange_mm = collimation_mm[1] * 0.6
        exposure_s = round(rotation_s * length_mm / (pitch * collimation_mm[1]), 2)
    kvp = 100.0 if protocol.code in {"CTPA", "CTCA"} or age_years < 12 else 120.0
    return PlannedEvent(
        event_uid=new_uid(rng),
        kind=EventKind.CT_ACQUISITION,
        started_at=started_at,
        protocol=protocol.name,
        target_region=protocol.region.meaning,
        acquisition_type=acquisition_type,
        ctdivol_mgy=ctdivol,
        dlp_mgycm=round(ctdivol * (length_mm + overrange_mm) / 10, 2),
        ctdi_phantom="head16" if protocol.head_phantom else "body32",
        pitch=pitch,
        nominal_total_collimation_mm=collimation_mm[1],
        nominal_single_collimation_mm=collimation_mm[0],
        scanning_length_mm=length_mm,
        number_of_sources=sources,
        exposure_time_s=exposure_s,
        rotation_time_s=rotation_s,
        kvp=kvp,
        tube_current_ma=round(
            ctdivol * (6.0 if protocol.head_phantom else 14.0) * rng.uniform(0.8, 1.2)
        ),
    )


def _with_dose_check(
    rng: random.Random, event: PlannedEvent, protocol: P.CtProtocol, accumulated_dlp: float
) -> PlannedEvent:
    """Attach Dose Check notices where the event crosses the configured values.

    NEMA XR-25 asks the operator for a reason only when an alert is crossed, so only
    alerts carry one; notifications are acknowledged without.
    """
    notices: list[DoseCheckNotice] = []
    limit = (
        CTDIVOL_NOTIFICATION_HEAD_MGY if protocol.head_phantom else CTDIVOL_NOTIFICATION_BODY_MGY
    )
    ctdivol = event.ctdivol_mgy or 0.0
    dlp = event.dlp_mgycm or 0.0
    if ctdivol > limit:
        notices.append(
            DoseCheckNotice(
                kind="notification",
                metric="ctdivol",
                configured_value=limit,
                forward_estimate=ctdivol,
                reason_given=False,
            )
        )
    if dlp > DLP_NOTIFICATION_MGYCM:
        notices.append(
            DoseCheckNotice(
                kind="notification",
                metric="dlp",
                configured_value=DLP_NOTIFICATION_MGYCM,
                forward_estimate=dlp,
                reason_given=False,
            )
        )
    forward_dlp = round(accumulated_dlp + dlp, 2)
    if forward_dlp > DLP_ALERT_MGYCM:
        notices.append(
            DoseCheckNotice(
                kind="alert",
                metric="dlp",
                configured_value=DLP_ALERT_MGYCM,
                forward_estimate=forward_dlp,
                reason_given=True,
            )
        )
    if not notices:
        return event
    return replace(event, dose_check=tuple(notices))


def dx_events(
    rng: random.Random,
    device: DeviceSpec,
    protocol: P.DxProtocol,
    start: datetime,
    weight_kg: float,
) -> tuple[PlannedEvent, ...]:
    """Plan a radiography study: one event per projection (plus an occasional repeat)."""
    target_ei = {"Nordlys": 400.0, "Acme Medical": 250.0}.get(device.vendor.manufacturer, 1000.0)
    projections = list(enumerate(protocol.projections))
    if rng.random() < 0.05:  # a rejected and repeated exposure
        projections.append(projections[-1])
    events = []
    clock_s = rng.uniform(60, 200)
    for region_index, projection in projections:
        dap = round(
            lognormal(rng, projection.dap_median_gycm2 * _size_factor(weight_kg, 0.8), 0.35), 5
        )
        field_cm2 = 1200.0 if projection.region.meaning == "Chest" else 600.0
        ei = round(target_ei * 10 ** (rng.gauss(0, 1.2) / 10))
        events.append(
            PlannedEvent(
                event_uid=new_uid(rng),
                kind=EventKind.PROJECTION,
                started_at=after(start, clock_s),
                protocol=projection.name,
                target_region=projection.region.meaning,
                acquisition_type="Stationary Acquisition",
                plane="single",
                kvp=projection.kvp,
                dap_gycm2=dap,
                rp_dose_mgy=round(dap * 1000 / field_cm2 * rng.uniform(0.9, 1.1), 4),
                exposure_index=float(ei),
                target_exposure_index=target_ei,
                deviation_index=round(10 * math.log10(ei / target_ei), 2),
                duration_s=round(rng.uniform(0.005, 0.2), 3),
                region_index=region_index,
            )
        )
        clock_s += rng.uniform(40, 150)
    return tuple(events)


def rf_events(
    rng: random.Random,
    device: DeviceSpec,
    protocol: P.RfProtocol,
    start: datetime,
    weight_kg: float,
) -> tuple[PlannedEvent, ...]:
    """Plan a fluoroscopy procedure: interleaved fluoro and acquisition runs, maybe biplane."""
    size = _size_factor(weight_kg, 1.0)
    total_fluoro_s = lognormal(rng, protocol.fluoro_time_median_s, 0.55)
    dap_per_s = protocol.fluoro_dap_median_gycm2 / protocol.fluoro_time_median_s * size
    n_fluoro = rng.randint(*protocol.fluoro_events)
    n_acq = rng.randint(*protocol.acquisitions)
    kinds = [EventKind.FLUOROSCOPY] * n_fluoro + [EventKind.PROJECTION] * n_acq
    rng.shuffle(kinds)
    biplane = device.biplane and protocol.biplane_capable
    shares = [rng.expovariate(1.0) for _ in range(n_fluoro)]
    share_total = sum(shares) or 1.0
    events: list[PlannedEvent] = []
    clock_s = rng.uniform(120, 600)
    fluoro_index = 0
    for kind in kinds:
        plane = ("B" if rng.random() < 0.4 else "A") if biplane else "single"
        if kind is EventKind.FLUOROSCOPY:
            seconds = round(max(0.5, total_fluoro_s * shares[fluoro_index] / share_total), 1)
            fluoro_index += 1
            dap = round(dap_per_s * seconds * lognormal(rng, 1.0, 0.3), 5)
            rate = rng.choice((7.5, 15.0))
            events.append(
                _rf_event(
                    rng,
                    kind,
                    start,
                    clock_s,
                    protocol,
                    plane,
                    dap,
                    rate,
                    seconds,
                    round(seconds * rate),
                    fluoro_time_s=seconds,
                )
            )
        else:
            seconds = round(rng.uniform(2, 10), 1)
            dap = round(lognormal(rng, protocol.acquisition_dap_median_gycm2 * size, 0.5), 5)
            rate = rng.choice((2.0, 3.0, 4.0))
            events.append(
                _rf_event(
                    rng,
                    kind,
                    start,
                    clock_s,
                    protocol,
                    plane,
                    dap,
                    rate,
                    seconds,
                    round(seconds * rate),
                )
            )
        clock_s += seconds + rng.uniform(10, 120)
    return tuple(events)


def _rf_event(
    rng: random.Random,
    kind: EventKind,
    start: datetime,
    clock_s: float,
    protocol: P.RfProtocol,
    plane: str,
    dap: float,
    rate: float,
    seconds: float,
    pulses: int,
    *,
    fluoro_time_s: float | None = None,
) -> PlannedEvent:
    return PlannedEvent(
        event_uid=new_uid(rng),
        kind=kind,
        started_at=after(start, clock_s),
        protocol=protocol.name if kind is EventKind.PROJECTION else "Fluoro",
        target_region=protocol.region.meaning,
        acquisition_type=(
            "Fluoroscopy" if kind is EventKind.FLUOROSCOPY else "Stationary Acquisition"
        ),
        plane=plane,
        dap_gycm2=dap,
        rp_dose_mgy=round(dap * rng.uniform(4.0, 9.0), 4),
        fluoro_time_s=fluoro_time_s,
        pulse_rate_per_s=rate,
        number_of_pulses=float(pulses),
        pulse_width_ms=round(rng.uniform(4.0, 12.0), 1),
        primary_angle_deg=round(rng.uniform(-90, 90), 1),
        secondary_angle_deg=round(rng.uniform(-40, 40), 1),
        filter_material="Copper or Copper compound",
        filter_thickness_mm=rng.choice((0.1, 0.2, 0.3, 0.6, 0.9)),
        kvp=round(rng.uniform(65, 110)),
        duration_s=seconds,
    )


def mg_events(
    rng: random.Random, device: DeviceSpec, protocol: P.MgProtocol, start: datetime
) -> tuple[PlannedEvent, ...]:
    """Plan a mammography study: one event per view; AGD grows with compressed thickness."""
    tungsten = device.vendor.manufacturer == "Zenith Imaging"
    anode = "Tungsten or Tungsten compound" if tungsten else "Molybdenum or Molybdenum compound"
    filt = "Rhodium or Rhodium compound" if tungsten else "Molybdenum or Molybdenum compound"
    events = []
    clock_s = rng.uniform(60, 180)
    base_thickness = lognormal(rng, 55.0, 0.22)
    for region_index, (laterality, view) in enumerate(protocol.views):
        thickness = round(min(110.0, max(15.0, base_thickness * rng.uniform(0.9, 1.15))))
        agd = round(1.3 * (thickness / 50.0) ** 1.1 * lognormal(rng, 1.0, 0.15), 3)
        events.append(
            PlannedEvent(
                event_uid=new_uid(rng),
                kind=EventKind.MAMMOGRAPHY,
                started_at=after(start, clock_s),
                protocol=f"{laterality}{view}",
                target_region="Breast",
                acquisition_type="Stationary Acquisition",
                plane="single",
                agd_mgy=agd,
                laterality=laterality,
                view=view,
                compressed_thickness_mm=float(thickness),
                compression_force_n=round(lognormal(rng, 100.0, 0.3), 1),
                kvp=float(min(35, 24 + round(thickness / 10))),
                anode_target=anode,
                filter_material=filt,
                entrance_dose_mgy=round(agd * rng.uniform(3.5, 6.0), 3),
                duration_s=round(rng.uniform(0.4, 2.0), 2),
                region_index=region_index,
            )
        )
        clock_s += rng.uniform(45, 120)
    return tuple(events)


def nm_events(
    rng: random.Random, protocol: P.NmProtocol, start: datetime, weight_kg: float
) -> tuple[PlannedEvent, ...]:
    """Plan a nuclear medicine or PET study: one radiopharmaceutical administration."""
    if protocol.per_kg:
        activity = protocol.activity_median_mbq * weight_kg * lognormal(rng, 1.0, 0.08)
        activity = min(activity, 450.0)
    else:
        activity = lognormal(rng, protocol.activity_median_mbq, 0.1)
    activity = round(activity, 1)
    return (
        PlannedEvent(
            event_uid=new_uid(rng),
            kind=EventKind.RADIOPHARMACEUTICAL,
            started_at=after(start, rng.uniform(0, 120)),
            radiopharmaceutical=protocol.agent.meaning,
            radionuclide=protocol.radionuclide.meaning,
            administered_activity_mbq=activity,
            effective_dose_msv=round(activity * protocol.effective_dose_msv_per_mbq, 3),
        ),
    )


def plan_events(
    rng: random.Random,
    device: DeviceSpec,
    protocol: P.ExamProtocol,
    *,
    start: datetime,
    weight_kg: float,
    age_years: int,
) -> tuple[PlannedEvent, ...]:
    """Draw the events of one study on ``device`` following ``protocol`` from ``start``.

    Parameters
    ----------
    rng : random.Random
        The fleet's random stream.
    device : DeviceSpec
        The device performing the study (collimation, dual source, biplane, vendor).
    protocol : ExamProtocol
        The protocol drawn for the study; its type picks the modality's planner.
    start : datetime
        Study start on the device's clock (naive local).
    weight_kg, age_years : float, int
        The patient's size and age, which automatic exposure control follows.
    """
    if isinstance(protocol, P.CtProtocol):
        return ct_events(rng, device, protocol, start, weight_kg, age_years)
    if isinstance(protocol, P.DxProtocol):
        return dx_events(rng, device, protocol, start, weight_kg)
    if isinstance(protocol, P.RfProtocol):
        return rf_events(rng, device, protocol, start, weight_kg)
    if isinstance(protocol, P.MgProtocol):
        return mg_events(rng, device, protocol, start)
    return nm_events(rng, protocol, start, weight_kg)
