"""Projection X-ray dose reports (TID 10001): radiography, fluoroscopy and mammography.

Accumulated dose (TID 10002 with 10004/10005/10007) is written once per acquisition plane,
so biplane rooms report Plane A and Plane B separately; events (TID 10003) carry DAP and
dose at the reference point in the vendor's units (``Gy.m2`` or ``dGy.cm2``; ``Gy`` or
``mGy``), converted from the plan's record units.
"""

from __future__ import annotations

import math

from pydicom.dataset import Dataset

from medcoop.records import EventKind
from medcoop.sim import codes as C
from medcoop.sim._build import SrWriter, put_seq
from medcoop.sim.codes import Code, SopClass
from medcoop.sim.plan import PlannedEvent, StudyTruth
from medcoop.sim.sr import device_observer_items, sr_document, study_scope_items, writer_for
from medcoop.sim.vendors import UNIT_FACTORS, DeviceSpec

__all__ = ["projection_rdsr"]

_PLANES: dict[str, Code] = {"single": C.SINGLE_PLANE, "A": C.PLANE_A, "B": C.PLANE_B}


class _Units:
    """A vendor's DAP and RP-dose units, with conversion from record units."""

    def __init__(self, device: DeviceSpec) -> None:
        self.dap = device.vendor.dap_unit
        self.rp = device.vendor.rp_dose_unit

    def dap_value(self, gycm2: float) -> float:
        return gycm2 * UNIT_FACTORS[self.dap]

    def rp_value(self, mgy: float) -> float:
        return mgy * UNIT_FACTORS[self.rp]


def projection_rdsr(truth: StudyTruth, device: DeviceSpec) -> Dataset:
    """Return the X-Ray Radiation Dose SR (TID 10001) of a DX, RF or MG study."""
    sr = writer_for(device)
    units = _Units(device)
    mammo = device.kind == "mg"
    planes = sorted({event.plane or "single" for event in truth.events})
    content = [
        sr.coded(
            "HAS CONCEPT MOD", C.PROCEDURE_REPORTED, C.MAMMOGRAPHY if mammo else C.PROJECTION_XRAY
        ),
        *device_observer_items(sr, device),
        sr.datetime("CONTAINS", C.START_OF_XRAY_IRRADIATION, truth.events[0].started_at),
        sr.datetime("CONTAINS", C.END_OF_XRAY_IRRADIATION, truth.ended_at),
        *study_scope_items(sr, truth),
    ]
    for plane in planes:
        in_plane = [event for event in truth.events if (event.plane or "single") == plane]
        accumulated = (
            _mammo_accumulated(sr, in_plane)
            if mammo
            else _accumulated(sr, units, in_plane, fluoroscopy=device.kind == "rf")
        )
        content.append(
            sr.container(
                "CONTAINS",
                C.ACCUMULATED_XRAY_DOSE_DATA,
                [sr.coded("HAS CONCEPT MOD", C.ACQUISITION_PLANE, _PLANES[plane]), *accumulated],
            )
        )
    content.extend(_event(sr, units, event, mammo) for event in truth.events)
    content.append(sr.coded("CONTAINS", C.SOURCE_OF_DOSE_INFORMATION, C.AUTOMATED_DATA_COLLECTION))
    image_class = {"mg": SopClass.MG_IMAGE_PRESENTATION, "dx": SopClass.DX_IMAGE_PRESENTATION}
    return sr_document(
        truth,
        device,
        sop_class_uid=SopClass.XRAY_RDSR,
        template_id="10001",
        title=C.XRAY_DOSE_REPORT,
        content=content,
        image_sop_class_uid=image_class.get(device.kind),
    )


def _sum(values: list[float | None]) -> float:
    return math.fsum(value for value in values if value is not None)


def _accumulated(
    sr: SrWriter, units: _Units, events: list[PlannedEvent], *, fluoroscopy: bool
) -> list[Dataset]:
    """TID 10004 (fluoroscopy rooms: every plane has both splits) or TID 10007 totals."""
    rel = "CONTAINS"
    fluoro = [e for e in events if e.kind is EventKind.FLUOROSCOPY]
    acquisitions = [e for e in events if e.kind is not EventKind.FLUOROSCOPY]
    items: list[Dataset] = []
    if fluoroscopy:
        items += [
            sr.num(
                rel,
                C.FLUORO_DAP_TOTAL,
                units.dap_value(_sum([e.dap_gycm2 for e in fluoro])),
                units.dap,
            ),
            sr.num(
                rel,
                C.FLUORO_DOSE_RP_TOTAL,
                units.rp_value(_sum([e.rp_dose_mgy for e in fluoro])),
                units.rp,
            ),
            sr.num(rel, C.TOTAL_FLUORO_TIME, _sum([e.fluoro_time_s for e in fluoro]), "s"),
            sr.num(
                rel,
                C.ACQUISITION_DAP_TOTAL,
                units.dap_value(_sum([e.dap_gycm2 for e in acquisitions])),
                units.dap,
            ),
            sr.num(
                rel,
                C.ACQUISITION_DOSE_RP_TOTAL,
                units.rp_value(_sum([e.rp_dose_mgy for e in acquisitions])),
                units.rp,
            ),
            sr.num(rel, C.TOTAL_ACQUISITION_TIME, _sum([e.duration_s for e in acquisitions]), "s"),
        ]
    items += [
        sr.num(rel, C.DAP_TOTAL, units.dap_value(_sum([e.dap_gycm2 for e in events])), units.dap),
        sr.num(
            rel, C.DOSE_RP_TOTAL, units.rp_value(_sum([e.rp_dose_mgy for e in events])), units.rp
        ),
        sr.num(
            rel,
            C.TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES,
            _sum(
                [e.number_of_pulses if e.kind is not EventKind.FLUOROSCOPY else 0.0 for e in events]
            )
            or len(acquisitions),
            "frames",
        ),
        sr.coded(rel, C.REFERENCE_POINT_DEFINITION, C.RP_15CM_FROM_ISOCENTER),
    ]
    return items


def _mammo_accumulated(sr: SrWriter, events: list[PlannedEvent]) -> list[Dataset]:
    items = []
    for laterality, code in (("R", C.RIGHT_BREAST), ("L", C.LEFT_BREAST)):
        doses = [e.agd_mgy for e in events if e.laterality == laterality]
        if not doses:
            continue
        item = sr.num("CONTAINS", C.ACCUMULATED_AGD, _sum(doses), "mGy")
        put_seq(item, "ContentSequence", [sr.coded("HAS CONCEPT MOD", C.LATERALITY, code)])
        items.append(item)
    return items


def _event(sr: SrWriter, units: _Units, event: PlannedEvent, mammo: bool) -> Dataset:
    rel = "CONTAINS"
    event_type = (
        C.FLUOROSCOPY if event.kind is EventKind.FLUOROSCOPY else (C.STATIONARY_ACQUISITION)
    )
    region = sr.coded(rel, C.TARGET_REGION, C.ANATOMY[event.target_region or "Entire body"])
    if event.laterality:
        put_seq(
            region,
            "ContentSequence",
            [
                sr.coded(
                    "HAS CONCEPT MOD",
                    C.LATERALITY,
                    C.LEFT_BREAST if event.laterality == "L" else C.RIGHT_BREAST,
                )
            ],
        )
    items = [
        sr.coded(rel, C.ACQUISITION_PLANE, _PLANES[event.plane or "single"]),
        sr.uidref(rel, C.IRRADIATION_EVENT_UID, event.event_uid),
        sr.datetime(rel, C.DATETIME_STARTED, event.started_at),
        sr.coded(rel, C.IRRADIATION_EVENT_TYPE, event_type),
        sr.text(rel, C.ACQUISITION_PROTOCOL, event.protocol or ""),
        region,
    ]
    if mammo:
        items += _mammo_items(sr, event)
    else:
        items += _projection_items(sr, units, event)
    if event.kvp is not None:
        items.append(sr.num(rel, C.KVP, event.kvp, "kV"))
    return sr.container(rel, C.IRRADIATION_EVENT_XRAY_DATA, items)


def _projection_items(sr: SrWriter, units: _Units, event: PlannedEvent) -> list[Dataset]:
    rel = "CONTAINS"
    items = [
        sr.num(rel, C.DAP, units.dap_value(event.dap_gycm2 or 0.0), units.dap),
        sr.num(rel, C.DOSE_RP, units.rp_value(event.rp_dose_mgy or 0.0), units.rp),
        sr.coded(rel, C.REFERENCE_POINT_DEFINITION, C.RP_15CM_FROM_ISOCENTER),
    ]
    if event.exposure_index is not None:
        items += [
            sr.num(rel, C.EXPOSURE_INDEX, event.exposure_index, "1"),
            sr.num(rel, C.TARGET_EXPOSURE_INDEX, event.target_exposure_index or 0.0, "1"),
            sr.num(rel, C.DEVIATION_INDEX, event.deviation_index or 0.0, "1"),
        ]
    if event.pulse_rate_per_s is not None:
        items += [
            sr.coded(rel, C.FLUORO_MODE, C.PULSED),
            sr.num(rel, C.PULSE_RATE, event.pulse_rate_per_s, "pulse/s"),
            sr.num(rel, C.NUMBER_OF_PULSES, event.number_of_pulses or 0.0, "pulses"),
            sr.num(rel, C.PULSE_WIDTH, event.pulse_width_ms or 0.0, "ms"),
        ]
    if event.duration_s is not None:
        items.append(sr.num(rel, C.IRRADIATION_DURATION, event.duration_s, "s"))
    if event.primary_angle_deg is not None:
        items += [
            sr.num(rel, C.POSITIONER_PRIMARY_ANGLE, event.primary_angle_deg, "deg"),
            sr.num(rel, C.POSITIONER_SECONDARY_ANGLE, event.secondary_angle_deg or 0.0, "deg"),
        ]
    if event.filter_material is not None:
        items.append(_filters(sr, event))
    return items


def _filters(sr: SrWriter, event: PlannedEvent) -> Dataset:
    rel = "CONTAINS"
    thickness = event.filter_thickness_mm or 0.0
    return sr.container(
        rel,
        C.XRAY_FILTERS,
        [
            sr.coded(rel, C.XRAY_FILTER_TYPE, C.FLAT_FILTER),
            sr.coded(
                rel,
                C.XRAY_FILTER_MATERIAL,
                C.MATERIALS[event.filter_material or "Copper or Copper compound"],
            ),
            sr.num(rel, C.XRAY_FILTER_THICKNESS_MIN, thickness, "mm"),
            sr.num(rel, C.XRAY_FILTER_THICKNESS_MAX, thickness, "mm"),
        ],
    )


def _mammo_items(sr: SrWriter, event: PlannedEvent) -> list[Dataset]:
    rel = "CONTAINS"
    view = C.CRANIO_CAUDAL if event.view == "CC" else C.MEDIO_LATERAL_OBLIQUE
    items = [
        sr.coded(rel, C.IMAGE_VIEW, view),
        sr.num(rel, C.AVERAGE_GLANDULAR_DOSE, event.agd_mgy or 0.0, "mGy"),
        sr.num(rel, C.ENTRANCE_EXPOSURE_AT_RP, event.entrance_dose_mgy or 0.0, "mGy"),
        sr.num(rel, C.COMPRESSION_THICKNESS, event.compressed_thickness_mm or 0.0, "mm"),
        sr.num(rel, C.COMPRESSION_FORCE, event.compression_force_n or 0.0, "N"),
        sr.coded(
            rel,
            C.ANODE_TARGET_MATERIAL,
            C.MATERIALS[event.anode_target or "Tungsten or Tungsten compound"],
        ),
    ]
    if event.filter_material is not None:
        items.append(_filters(sr, event))
    if event.duration_s is not None:
        items.append(sr.num(rel, C.EXPOSURE_TIME, event.duration_s * 1000, "ms"))
    return items
