"""Projection X-ray, fluoroscopy and mammography: TID 10001 with TID 10002-10007.

Per Irradiation Event X-Ray Data: plane, start, type, protocol, target region, DAP, dose at
the reference point, fluoro time, kVp, mA, pulses, filters, angles, exposure/deviation
index, and for mammography AGD, compression, anode target, view and laterality. Totals come
from Accumulated X-Ray Dose Data (one container per plane, summed), else from the events.
"""

from __future__ import annotations

from dataclasses import dataclass

from medcoop import records
from medcoop.dicom import codes as c
from medcoop.dicom.content import Node
from medcoop.dicom.model import DoseEvent, make_event, make_totals
from medcoop.dicom.units import Quantity, convert

__all__ = ["ProjectionResult", "acquisition_device_type", "read_projection"]

_PLANES = {c.PLANE_A: "A", c.PLANE_B: "B", c.SINGLE_PLANE: "single"}
_LATERALITY = {
    c.LEFT: "L",
    c.LEFT_BREAST: "L",
    c.RIGHT: "R",
    c.RIGHT_BREAST: "R",
    c.BOTH: "B",
    "SRT:T-04080": "B",  # both breasts
}


@dataclass(frozen=True, slots=True)
class ProjectionResult:
    """Events, totals and the physicist's modality (DX, RF or MG)."""

    events: tuple[DoseEvent, ...]
    totals: records.DoseTotals
    modality: str


def _laterality(node: Node) -> str | None:
    for key in (c.ANATOMICAL_STRUCTURE, c.TARGET_REGION, c.IMAGE_VIEW):
        holder = node.find(key)
        if holder is not None:
            coded = holder.coded(c.LATERALITY)
            if coded is not None and coded[0] in _LATERALITY:
                return _LATERALITY[coded[0]]
    coded = node.coded(c.LATERALITY)
    return _LATERALITY.get(coded[0]) if coded else None


def _filters(node: Node) -> tuple[str | None, float | None]:
    materials: list[str] = []
    thickness: float | None = None
    filters = list(node.find_all(c.XRAY_FILTERS))
    for item in filters:
        material = item.string(c.XRAY_FILTER_MATERIAL)
        if material:
            materials.append(material)
        if len(filters) == 1:  # thicknesses of different materials do not add up
            thickness = item.number(c.XRAY_FILTER_THICKNESS_MIN, Quantity.LENGTH_MM)
            if thickness is None:
                thickness = item.number(c.XRAY_FILTER_THICKNESS_MAX, Quantity.LENGTH_MM)
    return (" + ".join(materials) or None), thickness


def _event_kind(node: Node, mammography: bool) -> records.EventKind:
    coded = node.coded(c.IRRADIATION_EVENT_TYPE)
    if coded is not None and coded[0] == c.EVENT_FLUOROSCOPY:
        return records.EventKind.FLUOROSCOPY
    if mammography or node.find(c.AVERAGE_GLANDULAR_DOSE) is not None:
        return records.EventKind.MAMMOGRAPHY
    return records.EventKind.PROJECTION


def _event(
    node: Node, index: int, fallback_uid: str, mammography: bool, notes: list[str]
) -> DoseEvent:
    plane = node.coded(c.ACQUISITION_PLANE)
    kind = _event_kind(node, mammography)
    material, thickness = _filters(node)
    exposure_time_s = node.number(c.EXPOSURE_TIME, Quantity.TIME_S)
    if exposure_time_s is None:
        exposure_time_s = node.number(c.EXPOSURE_TIME_LEGACY, Quantity.TIME_S)
    tube_current = node.number(c.XRAY_TUBE_CURRENT, Quantity.CURRENT_MA)
    if tube_current is None:
        tube_current = node.number(c.AVERAGE_XRAY_TUBE_CURRENT, Quantity.CURRENT_MA)
    anode = node.string(c.ANODE_TARGET_MATERIAL) or node.string(c.ANODE_TARGET_MATERIAL_LEGACY)
    fields: dict[str, object] = {
        "event_uid": node.string(c.IRRADIATION_EVENT_UID) or f"{fallback_uid}.{index}",
        "kind": kind,
        "source": records.SourceKind.RDSR,
        "started_at": node.datetime(c.DATETIME_STARTED),
        "protocol": node.string(c.ACQUISITION_PROTOCOL),
        "target_region": node.string(c.TARGET_REGION),
        "acquisition_type": node.string(c.IRRADIATION_EVENT_TYPE),
        "plane": _PLANES.get(plane[0]) if plane else None,
        "dap_gycm2": node.number(c.DOSE_AREA_PRODUCT, Quantity.DAP_GYCM2),
        "rp_dose_mgy": node.number(c.DOSE_RP, Quantity.DOSE_MGY),
        "fluoro_time_s": (
            node.number(c.IRRADIATION_DURATION, Quantity.TIME_S)
            if kind is records.EventKind.FLUOROSCOPY
            else None
        ),
        "exposure_time_s": exposure_time_s,
        "pulse_rate_per_s": node.number(c.PULSE_RATE, Quantity.RATE_PER_S),
        "number_of_pulses": node.count(c.NUMBER_OF_PULSES),
        "pulse_width_ms": node.number(c.PULSE_WIDTH, Quantity.TIME_MS),
        "kvp": node.number(c.KVP, Quantity.VOLTAGE_KV),
        "tube_current_ma": tube_current,
        "primary_angle_deg": node.number(c.POSITIONER_PRIMARY_ANGLE, Quantity.ANGLE_DEG),
        "secondary_angle_deg": node.number(c.POSITIONER_SECONDARY_ANGLE, Quantity.ANGLE_DEG),
        "filter_material": material,
        "filter_thickness_mm": thickness,
        "exposure_index": node.count(c.EXPOSURE_INDEX),
        "deviation_index": node.count(c.DEVIATION_INDEX),
        "agd_mgy": node.number(c.AVERAGE_GLANDULAR_DOSE, Quantity.DOSE_MGY),
        "laterality": _laterality(node),
        "view": node.string(c.IMAGE_VIEW),
        "compressed_thickness_mm": node.number(c.COMPRESSION_THICKNESS, Quantity.LENGTH_MM),
        "compression_force_n": node.number(c.COMPRESSION_FORCE, Quantity.FORCE_N),
        "anode_target": anode,
        "entrance_dose_mgy": node.number(c.ENTRANCE_EXPOSURE_AT_RP, Quantity.DOSE_MGY),
    }
    return make_event(fields, notes)


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _totals(root: Node, events: tuple[DoseEvent, ...], notes: list[str]) -> records.DoseTotals:
    planes = list(root.find_all(c.ACCUMULATED_XRAY_DOSE_DATA))

    def total(key: str, quantity: Quantity) -> float | None:
        return _sum([plane.number(key, quantity) for plane in planes])

    agd: dict[str, float] = {}
    for plane in planes:
        for item in plane.find_all(c.ACCUMULATED_AGD):
            side = item.coded(c.LATERALITY)
            value = convert(item.num, item.unit, Quantity.DOSE_MGY)
            lat = _LATERALITY.get(side[0]) if side else None
            if value is not None and lat in ("L", "R"):
                agd[lat] = agd.get(lat, 0.0) + value
    fluoro = [e for e in events if e.kind is records.EventKind.FLUOROSCOPY]
    acquisition = [e for e in events if e.kind is not records.EventKind.FLUOROSCOPY]
    fields: dict[str, object] = {
        "total_dap_gycm2": total(c.DOSE_AREA_PRODUCT_TOTAL, Quantity.DAP_GYCM2),
        "total_fluoro_dap_gycm2": total(c.FLUORO_DAP_TOTAL, Quantity.DAP_GYCM2),
        "total_acquisition_dap_gycm2": total(c.ACQUISITION_DAP_TOTAL, Quantity.DAP_GYCM2),
        "total_rp_dose_mgy": total(c.DOSE_RP_TOTAL, Quantity.DOSE_MGY),
        "total_fluoro_time_s": total(c.TOTAL_FLUORO_TIME, Quantity.TIME_S),
        "total_acquisition_time_s": total(c.TOTAL_ACQUISITION_TIME, Quantity.TIME_S),
        "total_agd_left_mgy": agd.get("L"),
        "total_agd_right_mgy": agd.get("R"),
        "number_of_events": len(events),
    }
    # a report without accumulated data still has totals: the sum of its events
    if fields["total_dap_gycm2"] is None:
        fields["total_dap_gycm2"] = _sum([e.dap_gycm2 for e in events])
    if fields["total_fluoro_dap_gycm2"] is None and fluoro:
        fields["total_fluoro_dap_gycm2"] = _sum([e.dap_gycm2 for e in fluoro])
    if fields["total_acquisition_dap_gycm2"] is None and acquisition:
        fields["total_acquisition_dap_gycm2"] = _sum([e.dap_gycm2 for e in acquisition])
    if fields["total_rp_dose_mgy"] is None:
        fields["total_rp_dose_mgy"] = _sum([e.rp_dose_mgy for e in events])
    if fields["total_fluoro_time_s"] is None and fluoro:
        fields["total_fluoro_time_s"] = _sum([e.fluoro_time_s for e in fluoro])
    if not agd:
        for lat, name in (("L", "total_agd_left_mgy"), ("R", "total_agd_right_mgy")):
            fields[name] = _sum([e.agd_mgy for e in events if e.laterality == lat])
    return make_totals(fields, notes)


def acquisition_device_type(root: Node) -> str | None:
    """Return the code key of the report's Acquisition Device Type (122142), if stated.

    TID 10001 states it at the document level, within the irradiating device's Device
    Role in Procedure (113876) context; some devices put it directly under the root.
    """
    coded = root.coded(c.ACQUISITION_DEVICE_TYPE)
    if coded is not None:
        return coded[0]
    for role in root.find_all(c.DEVICE_ROLE_IN_PROCEDURE):
        coded = role.coded(c.ACQUISITION_DEVICE_TYPE)
        if coded is not None:
            return coded[0]
    return None


def _modality(root: Node, events: tuple[DoseEvent, ...], totals: records.DoseTotals) -> str:
    reported = root.coded(c.PROCEDURE_REPORTED)
    if (reported and reported[0] == c.PROC_MAMMOGRAPHY) or any(
        e.kind is records.EventKind.MAMMOGRAPHY for e in events
    ):
        return "MG"
    if acquisition_device_type(root) == c.DEVICE_FLUORO_GUIDED_PROJECTION:
        # a C-arm's radiographs (no fluoroscopy events in this report) are still RF. The
        # other device types do not force DX: Philips' Azurion states "Cassette-based"
        # beside its 89 fluoroscopy events, so the events decide there.
        return "RF"
    fluoro = any(e.kind is records.EventKind.FLUOROSCOPY for e in events)
    if fluoro or (totals.total_fluoro_time_s or 0) > 0 or (totals.total_fluoro_dap_gycm2 or 0) > 0:
        return "RF"
    return "DX"


def read_projection(root: Node, fallback_uid: str, notes: list[str]) -> ProjectionResult:
    """Read a TID 10001 projection X-ray tree (radiography, fluoroscopy or mammography).

    Parameters
    ----------
    root : Node
        The document root of an X-Ray Radiation Dose SR that is not CT.
    fallback_uid : str
        Prefix for derived event UIDs when a device omits Irradiation Event UID.
    notes : list of str
        Receives a note for each value read but not kept.
    """
    reported = root.coded(c.PROCEDURE_REPORTED)
    mammography = bool(reported and reported[0] == c.PROC_MAMMOGRAPHY)
    events = tuple(
        _event(node, index, fallback_uid, mammography, notes)
        for index, node in enumerate(root.find_all(c.IRRADIATION_EVENT_XRAY_DATA), start=1)
    )
    totals = _totals(root, events, notes)
    return ProjectionResult(events, totals, _modality(root, events, totals))
