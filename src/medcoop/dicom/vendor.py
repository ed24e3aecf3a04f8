"""Vendor dose summaries that are not RDSRs.

Philips CT "Dose Info" secondary captures (Brilliance and others) carry, besides the
burned-in page, an Exposure Dose Sequence (0040,030E) with one item per scan series and
the DLP in ELSCINT1 private element (00E1,xx21). Siemens mobile C-arms (Arcadis, Cios) send
a proprietary Enhanced SR radiation summary (99SMS_RADSUM) with study totals only. Other
summaries give a Skipped reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset

from medcoop import records
from medcoop.dicom.content import Node
from medcoop.dicom.model import DoseEvent, make_event, make_totals
from medcoop.dicom.units import Quantity
from medcoop.dicom.values import first_float, get_value, text_or_none

__all__ = [
    "SIEMENS_RADIATION_SUMMARY",
    "VendorSummary",
    "is_philips_dose_info",
    "read_philips_dose_info",
    "read_siemens_radiation_summary",
]

#: Document title of the Siemens (Arcadis/Cios) proprietary radiation summary Enhanced SR.
SIEMENS_RADIATION_SUMMARY = "99SMS_RADSUM:C-10"
_RADSUM_EXPOSURES = "99SMS_RADSUM:C-200"
_RADSUM_FLUORO_TIME = "99SMS_RADSUM:C-202"
_RADSUM_DAP = "99SMS_RADSUM:C-204"
_RADSUM_START = "99SMS_RADSUM:C-206"
_RADSUM_END = "99SMS_RADSUM:C-208"
_RADSUM_AIR_KERMA = "99SMS_RADSUM:C-210"

_EXPOSURE_DOSE_SEQ = 0x0040030E
_ELSCINT = "ELSCINT1"
_ACQUISITION_TYPES = {
    "SPIRAL": "Spiral Acquisition",
    "SEQUENCED": "Sequenced Acquisition",
    "CONSTANT_ANGLE": "Constant Angle Acquisition",
    "STATIONARY": "Stationary Acquisition",
    "FREE": "Free Acquisition",
}


@dataclass(frozen=True, slots=True)
class VendorSummary:
    """Events and totals read from a vendor's own dose summary."""

    events: tuple[DoseEvent, ...]
    totals: records.DoseTotals


@dataclass(frozen=True, slots=True)
class RadiationSummary:
    """Study totals from a Siemens radiation summary (it lists no events)."""

    totals: records.DoseTotals
    started_at: datetime | None
    ended_at: datetime | None


def read_siemens_radiation_summary(root: Node, notes: list[str]) -> RadiationSummary:
    """Read the totals of a Siemens mobile C-arm radiation summary (title 99SMS_RADSUM C-10).

    Parameters
    ----------
    root : Node
        The document root.
    notes : list of str
        Receives a note for each value read but not kept.
    """
    exposures = root.count(_RADSUM_EXPOSURES)
    totals = make_totals(
        {
            "total_dap_gycm2": root.number(_RADSUM_DAP, Quantity.DAP_GYCM2),
            "total_fluoro_time_s": root.number(_RADSUM_FLUORO_TIME, Quantity.TIME_S),
            "total_rp_dose_mgy": root.number(_RADSUM_AIR_KERMA, Quantity.DOSE_MGY),
            "number_of_events": int(exposures)
            if exposures is not None and exposures >= 0
            else None,
        },
        notes,
    )
    return RadiationSummary(totals, root.datetime(_RADSUM_START), root.datetime(_RADSUM_END))


def is_philips_dose_info(ds: Dataset) -> bool:
    """Return whether ``ds`` is a Philips CT dose information capture with structured data."""
    image_type = get_value(ds, 0x00080008) or ()
    if isinstance(image_type, str):
        image_type = [image_type]
    manufacturer = (text_or_none(get_value(ds, 0x00080070)) or "").lower()
    return (
        "philips" in manufacturer
        and "DOSE_INFO" in [str(t).upper() for t in image_type]
        and bool(get_value(ds, _EXPOSURE_DOSE_SEQ))
    )


def _private_dlp(ds: Dataset) -> float | None:
    try:
        block = ds.private_block(0x00E1, _ELSCINT)
        return first_float(block[0x21].value)
    except (KeyError, ValueError):
        return None


def _num(ds: Dataset, tag: int) -> float | None:
    return first_float(get_value(ds, tag))


def read_philips_dose_info(ds: Dataset, sop_uid: str, notes: list[str]) -> VendorSummary:
    """Read a Philips CT "Dose Info" capture's Exposure Dose Sequence into CT events.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A secondary capture for which :func:`is_philips_dose_info` is true.
    sop_uid : str
        Its SOP Instance UID, the prefix of the derived event UIDs.
    notes : list of str
        Receives a note for each value read but not kept.
    """
    events: list[DoseEvent] = []
    for index, item in enumerate(get_value(ds, _EXPOSURE_DOSE_SEQ) or (), start=1):
        micro_a = _num(item, 0x00188151)
        exposure_ms = _num(item, 0x00181150)
        kind = (text_or_none(get_value(item, 0x00189302)) or "").upper()
        fields: dict[str, object] = {
            "event_uid": f"{sop_uid}.{index}",
            "kind": records.EventKind.CT_ACQUISITION,
            "source": records.SourceKind.VENDOR_SUMMARY,
            "protocol": text_or_none(get_value(item, 0x0008103E)),
            "acquisition_type": _ACQUISITION_TYPES.get(kind, kind or None),
            "kvp": _num(item, 0x00180060),
            "tube_current_ma": None if micro_a is None else micro_a / 1000.0,
            "exposure_time_s": None if exposure_ms is None else exposure_ms / 1000.0,
            "scanning_length_mm": _num(item, 0x00181302),
            "nominal_single_collimation_mm": _num(item, 0x00189306),
            "nominal_total_collimation_mm": _num(item, 0x00189307),
            "pitch": _num(item, 0x00189311),
            "ctdivol_mgy": _num(item, 0x00189345),
            "dlp_mgycm": _private_dlp(item),
            "number_of_sources": 1,
        }
        events.append(make_event(fields, notes))
    total_dlp = _private_dlp(ds)
    if total_dlp is None and events and all(e.dlp_mgycm is not None for e in events):
        total_dlp = sum(e.dlp_mgycm or 0.0 for e in events)
    totals = make_totals({"total_dlp_mgycm": total_dlp, "number_of_events": len(events)}, notes)
    return VendorSummary(tuple(events), totals)
