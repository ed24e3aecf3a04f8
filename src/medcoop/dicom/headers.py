"""Dose and usage facts from image headers, for devices that send no RDSR.

DX/CR/PX/RF/XA: DAP (0018,115E), entrance dose, Exposure and Deviation Index, kVp, mA,
exposure time, filter, angle, view. MG: AGD from Organ Dose (0040,0316), compressed
thickness, compression force, anode target. PT/NM: Radiopharmaceutical Information
Sequence. Every image also gives usage facts (acquisition time, frames, protocol).
CT images: one header-derived acquisition per exposure (CTDIvol (0018,9345), phantom,
kVp, mA, exposure time, pitch, collimation, acquisition type), keyed like the RDSR's
event when the image carries the Irradiation Event UID, so a study's report supersedes
them; a Philips CT "Dose Info" capture is read by :mod:`medcoop.dicom.vendor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from pydicom.dataset import Dataset

from medcoop import records
from medcoop.dicom import identity, vendor
from medcoop.dicom.content import code_key
from medcoop.dicom.model import DoseEvent, Extraction, Skipped, make_event, make_totals
from medcoop.dicom.nm import is_positron_emitter
from medcoop.dicom.values import (
    combine,
    first_float,
    get_value,
    parse_da,
    parse_dt,
    parse_tm,
    text_or_none,
)

__all__ = ["extract_header"]

_PROJECTION = frozenset({"DX", "CR", "PX", "IO", "RG", "RF", "XA", "DF", "DS"})
#: Below 0.1 MBq no diagnostic administration exists: such a value was written in MBq.
_MIN_PLAUSIBLE_BQ = 1e5
_NOT_IMAGES = frozenset({"PR", "KO", "REG", "SEG", "RWV", "DOC", "AU", "ECG", "PLAN", "RTPLAN"})


def _text(ds: Dataset, tag: int) -> str | None:
    return text_or_none(get_value(ds, tag))


def _num(ds: Dataset, tag: int) -> float | None:
    return first_float(get_value(ds, tag))


def _first_meaning(ds: Dataset, tag: int) -> str | None:
    seq = get_value(ds, tag)
    if not seq:
        return None
    code = code_key(seq[0])
    return code[1] if code else None


def acquisition_time(ds: Dataset) -> datetime | None:
    """Return when the image was acquired (AcquisitionDateTime, else date+time pairs)."""
    moment = parse_dt(get_value(ds, 0x0008002A))
    if moment is not None:
        return moment
    for day_tag, time_tag in ((0x00080022, 0x00080032), (0x00080023, 0x00080033)):
        day = parse_da(get_value(ds, day_tag))
        time = parse_tm(get_value(ds, time_tag))
        if day is not None and time is not None:
            return combine(day, time)
    return None


def _exposure_time_s(ds: Dataset) -> float | None:
    micro = _num(ds, 0x00188150)  # Exposure Time in µS
    if micro is not None:
        return micro / 1e6
    milli = _num(ds, 0x00181150)  # Exposure Time, ms
    return None if milli is None else milli / 1000.0


def _tube_current_ma(ds: Dataset) -> float | None:
    micro = _num(ds, 0x00188151)  # X-Ray Tube Current in µA
    if micro is not None:
        return micro / 1000.0
    return _num(ds, 0x00181151)


def _entrance_dose_mgy(ds: Dataset) -> float | None:
    mgy = _num(ds, 0x00408302)  # Entrance Dose in mGy
    if mgy is not None:
        return mgy
    dgy = _num(ds, 0x00400302)  # Entrance Dose, dGy
    return None if dgy is None else dgy * 100.0


#: Header material terms (PS3.3 C.8.7.10, C.8.11.5) as the RDSR's code meanings (CID 10006).
_MATERIALS = {
    "ALUMINUM": "Aluminum or Aluminum compound",
    "ALUMINIUM": "Aluminum or Aluminum compound",
    "COPPER": "Copper or Copper compound",
    "MOLYBDENUM": "Molybdenum or Molybdenum compound",
    "RHODIUM": "Rhodium or Rhodium compound",
    "SILVER": "Silver or Silver compound",
    "TUNGSTEN": "Tungsten or Tungsten compound",
    "LEAD": "Lead or Lead compound",
    "TIN": "Tin or Tin compound",
    "NIOBIUM": "Niobium or Niobium compound",
    "EUROPIUM": "Europium or Europium compound",
    "TANTALUM": "Tantalum or Tantalum compound",
}


def _material_meaning(term: str | None) -> str | None:
    if term is None:
        return None
    return _MATERIALS.get(term.strip().upper(), term.strip())


def _materials(value: object) -> list[str]:
    """Return filter materials; some devices separate values with commas, not backslashes."""
    if isinstance(value, str | bytes):
        raw: list[object] = [value]
    else:
        raw = list(value) if isinstance(value, Iterable) else []
    terms: list[str] = []
    for item in raw:
        text = text_or_none(item)
        if text:
            terms.extend(t for t in (p.strip() for p in text.replace("\\", ",").split(",")) if t)
    return [m for m in (_material_meaning(t) for t in terms) if m]


_FILTER_TYPE = re.compile(r"^(CU|AL|MO|RH|AG|NB|SN)[ _]?([0-9]+(?:[.,][0-9]+)?)[ _]?MM$")
_ELEMENTS = {"CU": "COPPER", "AL": "ALUMINUM", "MO": "MOLYBDENUM", "RH": "RHODIUM",
             "AG": "SILVER", "NB": "NIOBIUM", "SN": "TIN"}  # fmt: skip


def _filter_from_type(filter_type: str | None) -> tuple[list[str], float | None]:
    """Read Siemens-style Filter Type (``CU_0.2_MM``) when Filter Material is absent."""
    match = _FILTER_TYPE.match((filter_type or "").upper())
    if match is None:
        return [], None
    material = _material_meaning(_ELEMENTS[match.group(1)])
    return ([material] if material else []), float(match.group(2).replace(",", "."))


def _filter_thickness_mm(ds: Dataset) -> float | None:
    # some devices swap minimum and maximum: the thinner is the minimum
    values = [v for v in (_num(ds, 0x00187052), _num(ds, 0x00187054)) if v is not None]
    return min(values) if values else None


def _laterality(ds: Dataset) -> str | None:
    value = _text(ds, 0x00200062) or _text(ds, 0x00200060)
    return value if value in ("L", "R", "B") else None


def _exposure_uid(ds: Dataset, sop_uid: str, study_uid: str, acquired: datetime | None) -> str:
    """Return the exposure's event UID: the header's, else one derived from when it happened.

    A "for presentation" and a "for processing" image of one exposure share the study and
    the acquisition time, so keying on them counts the exposure once (as OpenREM does).
    """
    uid = _text(ds, 0x00083010)  # Irradiation Event UID
    if uid:
        return uid
    if acquired is not None:
        return f"{study_uid}.{acquired.strftime('%Y%m%d%H%M%S%f')}"
    return f"{sop_uid}.1"


def _projection_event(
    ds: Dataset, sop_uid: str, study_uid: str, modality: str, notes: list[str]
) -> DoseEvent:
    acquired = acquisition_time(ds)
    mammography = modality == "MG"
    dap_dgycm2 = _num(ds, 0x0018115E)  # Image and Fluoroscopy Area Dose Product, dGy·cm²
    organ_dose_dgy = _num(ds, 0x00400316)  # Organ Dose (AGD for MG), dGy
    materials = _materials(get_value(ds, 0x00187050))
    thickness = _filter_thickness_mm(ds) if len(materials) == 1 else None
    if not materials:
        materials, thickness = _filter_from_type(_text(ds, 0x00181160))
    fields: dict[str, object] = {
        "event_uid": _exposure_uid(ds, sop_uid, study_uid, acquired),
        "kind": records.EventKind.MAMMOGRAPHY if mammography else records.EventKind.PROJECTION,
        "source": records.SourceKind.IMAGE_HEADER,
        "started_at": acquired,
        "protocol": _text(ds, 0x00181400) or _text(ds, 0x00181030) or _text(ds, 0x0008103E),
        "target_region": _text(ds, 0x00180015),
        "dap_gycm2": None if dap_dgycm2 is None else dap_dgycm2 * 0.1,
        "entrance_dose_mgy": _entrance_dose_mgy(ds),
        "kvp": _num(ds, 0x00180060),
        "tube_current_ma": _tube_current_ma(ds),
        "exposure_time_s": _exposure_time_s(ds),
        "exposure_index": _num(ds, 0x00181411),
        "deviation_index": _num(ds, 0x00181413),
        "filter_material": " + ".join(materials) or None,
        "filter_thickness_mm": thickness,
        "primary_angle_deg": _num(ds, 0x00181510),
        "secondary_angle_deg": _num(ds, 0x00181511),
        "view": _first_meaning(ds, 0x00540220) or _text(ds, 0x00185101),
        "laterality": _laterality(ds),
    }
    if mammography:
        fields.update(
            agd_mgy=None if organ_dose_dgy is None else organ_dose_dgy * 100.0,
            compressed_thickness_mm=_num(ds, 0x001811A0),
            compression_force_n=_num(ds, 0x001811A2),
            anode_target=_material_meaning(_text(ds, 0x00181191)),
        )
    return make_event(fields, notes)


#: CT Acquisition Type (0018,9302) terms as CID 10013 meanings, the RDSR's spelling.
_CT_ACQUISITION_TYPES = {
    "SPIRAL": "Spiral Acquisition",
    "SEQUENCED": "Sequenced Acquisition",
    "CONSTANT_ANGLE": "Constant Angle Acquisition",
    "STATIONARY": "Stationary Acquisition",
    "FREE": "Free Acquisition",
}
_CT_PHANTOMS = {"DCM:113690": "head16", "DCM:113691": "body32"}


def _ct_acquisition_type(ds: Dataset) -> str | None:
    stated = _text(ds, 0x00189302)  # Acquisition Type (enhanced CT, some legacy images)
    if stated and stated.upper() in _CT_ACQUISITION_TYPES:
        return _CT_ACQUISITION_TYPES[stated.upper()]
    image_type = get_value(ds, 0x00080008)
    values = [image_type] if isinstance(image_type, str) else list(image_type or ())
    if any(str(v).strip().upper() == "LOCALIZER" for v in values):
        return _CT_ACQUISITION_TYPES["CONSTANT_ANGLE"]
    if _num(ds, 0x00189311) is not None:  # Spiral Pitch Factor: only a spiral has one
        return _CT_ACQUISITION_TYPES["SPIRAL"]
    return None


def _enhanced_ctdivol(ds: Dataset) -> float | None:
    """Return an enhanced CT image's CTDIvol from its shared CT Exposure functional group."""
    for groups in (get_value(ds, 0x52009229), get_value(ds, 0x52009230)):  # shared, per frame
        for group in (groups or ())[:1]:
            for exposure in get_value(group, 0x00189321) or ():  # CT Exposure Sequence
                value = _num(exposure, 0x00189345)
                if value is not None:
                    return value
    return None


def _ct_event(
    ds: Dataset, sop_uid: str, study_uid: str, notes: list[str]
) -> DoseEvent | None:
    """Return a CT image's header-derived acquisition, or None without CTDIvol.

    Every image of an acquisition repeats its CTDIvol: keyed by the Irradiation Event
    UID (the RDSR's own key) or else by series and acquisition number, the images of one
    acquisition give one event (as OpenREM counts header dose per series).
    """
    ctdivol = _num(ds, 0x00189345)  # CTDIvol, mGy
    if ctdivol is None:
        ctdivol = _enhanced_ctdivol(ds)
    if ctdivol is None:
        return None
    uid = _text(ds, 0x00083010)
    if not uid:
        series = _text(ds, 0x0020000E) or sop_uid
        acquisition = _text(ds, 0x00200012) or "0"  # Acquisition Number
        uid = f"{study_uid}.ct.{series}.{acquisition}"
    phantom_seq = get_value(ds, 0x00189346)  # CTDI Phantom Type Code Sequence
    phantom_code = code_key(phantom_seq[0]) if phantom_seq else None
    exposure_ms = _num(ds, 0x00181150)
    fields: dict[str, object] = {
        "event_uid": uid,
        "kind": records.EventKind.CT_ACQUISITION,
        "source": records.SourceKind.IMAGE_HEADER,
        "started_at": acquisition_time(ds),
        "protocol": _text(ds, 0x00181030) or _text(ds, 0x0008103E),
        "target_region": _text(ds, 0x00180015),
        "acquisition_type": _ct_acquisition_type(ds),
        "ctdivol_mgy": ctdivol,
        "ctdi_phantom": _CT_PHANTOMS.get(phantom_code[0]) if phantom_code else None,
        "kvp": _num(ds, 0x00180060),
        "tube_current_ma": _tube_current_ma(ds),
        "exposure_time_s": None if exposure_ms is None else exposure_ms / 1000.0,
        "pitch": _num(ds, 0x00189311),
        "nominal_single_collimation_mm": _num(ds, 0x00189306),
        "nominal_total_collimation_mm": _num(ds, 0x00189307),
    }
    return make_event(fields, notes)


def _radiopharmaceutical_events(
    ds: Dataset, study_uid: str, notes: list[str]
) -> tuple[tuple[DoseEvent, ...], bool]:
    events: list[DoseEvent] = []
    positron = False
    series_day = parse_da(get_value(ds, 0x00080021)) or parse_da(get_value(ds, 0x00080020))
    for index, item in enumerate(get_value(ds, 0x00540016) or (), start=1):
        started = parse_dt(get_value(item, 0x00181078)) or combine(
            series_day, parse_tm(get_value(item, 0x00181072))
        )
        nuclide_seq = get_value(item, 0x00540300)
        nuclide_code = code_key(nuclide_seq[0]) if nuclide_seq else None
        nuclide = nuclide_code[1] if nuclide_code else None
        # the coded agent is the one vocabulary across vendors; free text only without it
        agent = _first_meaning(item, 0x00540304) or _text(item, 0x00180031)
        positron = positron or is_positron_emitter(
            nuclide_code[0] if nuclide_code else None, nuclide or agent
        )
        total_bq = _num(item, 0x00181074)  # Radionuclide Total Dose, Bq
        if total_bq is not None and 0 < total_bq < _MIN_PLAUSIBLE_BQ:
            # some NM cameras write MBq here: 320 "Bq" of sestamibi is 320 MBq
            notes.append("Radionuclide Total Dose read as MBq (implausibly small in Bq)")
            total_bq *= 1e6
        # every image of one administration carries it: key it to the study and the start
        stamp = started.strftime("%Y%m%d%H%M%S") if started else "0"
        fields: dict[str, object] = {
            "event_uid": f"{study_uid}.rp.{stamp}.{index}",
            "kind": records.EventKind.RADIOPHARMACEUTICAL,
            "source": records.SourceKind.IMAGE_HEADER,
            "started_at": started,
            "radiopharmaceutical": agent,
            "radionuclide": nuclide,
            "administered_activity_mbq": None if total_bq is None else total_bq / 1e6,
        }
        events.append(make_event(fields, notes))
    return tuple(events), positron


def _totals(events: tuple[DoseEvent, ...], notes: list[str]) -> records.DoseTotals:
    def total(name: str) -> float | None:
        values = [getattr(e, name) for e in events if getattr(e, name) is not None]
        return sum(values) if values else None

    return make_totals(
        {
            "total_dap_gycm2": total("dap_gycm2"),
            "total_acquisition_dap_gycm2": total("dap_gycm2"),
            "total_agd_left_mgy": total("agd_mgy")
            if events and events[0].laterality == "L"
            else None,
            "total_agd_right_mgy": total("agd_mgy")
            if events and events[0].laterality == "R"
            else None,
            "total_administered_activity_mbq": total("administered_activity_mbq"),
            "number_of_events": len(events),
        },
        notes,
    )


def extract_header(
    ds: Dataset, sop_uid: str, sop_class: str, study_uid: str, header_modality: str | None
) -> Extraction | Skipped:
    """Return the dose and usage facts in an image's header.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An image (or vendor summary) dataset; pixel data is not needed.
    sop_uid, sop_class, study_uid : str
        Already read by the caller.
    header_modality : str or None
        The header's Modality.
    """
    modality = (header_modality or "").upper()
    if not modality:
        return Skipped("no Modality in the image header", sop_uid)
    if modality in _NOT_IMAGES:
        return Skipped(f"a {modality} object carries no dose or usage facts", sop_uid)
    notes: list[str] = []
    source = records.SourceKind.IMAGE_HEADER
    events: tuple[DoseEvent, ...] = ()
    totals = records.DoseTotals()
    if modality in _PROJECTION or modality == "MG":
        events = (_projection_event(ds, sop_uid, study_uid, modality, notes),)
        totals = _totals(events, notes)
    elif modality in ("PT", "NM"):
        events, positron = _radiopharmaceutical_events(ds, study_uid, notes)
        totals = _totals(events, notes)
        if modality == "NM" and positron:
            modality = "PT"
    elif modality == "CT" and vendor.is_philips_dose_info(ds):
        summary = vendor.read_philips_dose_info(ds, sop_uid, notes)
        events, totals, source = summary.events, summary.totals, records.SourceKind.VENDOR_SUMMARY
    elif modality == "CT" and (ct_event := _ct_event(ds, sop_uid, study_uid, notes)) is not None:
        events = (ct_event,)
        totals = make_totals({"number_of_events": 1}, notes)
    study = identity.read_study(ds)
    acquired = acquisition_time(ds)
    frames = first_float(get_value(ds, 0x00280008))
    protocol_seq = _first_meaning(ds, 0x00400260)
    return Extraction(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        study_instance_uid=study_uid,
        series_instance_uid=_text(ds, 0x0020000E),
        modality=modality,
        source=source,
        patient=identity.read_patient(ds, study.study_at),
        device=identity.read_device(ds),
        study_at=study.study_at,
        utc_offset_min=study.utc_offset_min,
        study_description=study.study_description,
        accession_number=study.accession_number,
        procedure_code=study.procedure_code,
        events=events,
        totals=totals,
        acquisition_times=(acquired,) if acquired else (),
        image_count=int(frames) if frames and frames >= 1 else 1,
        performed_protocol=protocol_seq or _text(ds, 0x00181030),
        header_modality=header_modality,
        notes=tuple(notes),
        _identifying=identity.identifying_values(ds),
    )
