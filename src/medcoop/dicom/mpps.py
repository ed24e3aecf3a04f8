"""Usage (and dose, where carried) facts from Modality Performed Procedure Step datasets.

An N-CREATE gives the start, the station and the patient; an N-SET gives the end, the
status, the performed series and images, and sometimes radiation dose (PS3.3 C.4.16:
Exposure Dose Sequence, Image and Fluoroscopy Area Dose Product, Total Time of
Fluoroscopy, CT Exposure Sequence).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop import records
from medcoop.dicom import identity
from medcoop.dicom.content import code_key
from medcoop.dicom.model import MppsFacts, PatientIdentity, Skipped, make_totals
from medcoop.dicom.values import combine, first_float, get_value, parse_da, parse_tm, text_or_none

__all__ = ["extract_mpps"]

_STATUSES = frozenset({"IN PROGRESS", "COMPLETED", "DISCONTINUED"})
_PATIENT_TAGS = (0x00100010, 0x00100020, 0x00100030)


def _text(ds: Dataset, tag: int) -> str | None:
    return text_or_none(get_value(ds, tag))


def _study_uids(ds: Dataset) -> tuple[str, ...]:
    uids: list[str] = []
    for item in get_value(ds, 0x00400270) or ():  # Scheduled Step Attributes Sequence
        uid = _text(item, 0x0020000D)
        if uid and uid not in uids:
            uids.append(uid)
    uid = _text(ds, 0x0020000D)
    if uid and uid not in uids:
        uids.append(uid)
    return tuple(uids)


def _counts(ds: Dataset) -> tuple[int, int]:
    series = get_value(ds, 0x00400340) or ()  # Performed Series Sequence
    images = 0
    for item in series:
        images += len(get_value(item, 0x00081140) or ())  # Referenced Image Sequence
        images += len(get_value(item, 0x00400220) or ())  # Referenced Non-Image Composite
    return len(series), images


def _protocol(ds: Dataset) -> str | None:
    seq = get_value(ds, 0x00400260)  # Performed Protocol Code Sequence
    if seq:
        code = code_key(seq[0])
        if code and code[1]:
            return code[1]
    return _text(ds, 0x00400254)  # Performed Procedure Step Description


def _dose(ds: Dataset, notes: list[str]) -> tuple[records.DoseTotals, tuple[float, ...]]:
    dap_dgycm2 = first_float(get_value(ds, 0x0018115E))
    fluoro_s = first_float(get_value(ds, 0x00400300))
    ctdivols: list[float] = []
    for item in get_value(ds, 0x00189321) or ():  # CT Exposure Sequence
        value = first_float(get_value(item, 0x00189345))
        if value is not None and value >= 0:
            ctdivols.append(value)
    for item in get_value(ds, 0x0040030E) or ():  # Exposure Dose Sequence
        value = first_float(get_value(item, 0x00189345))
        if value is not None and value >= 0:
            ctdivols.append(value)
    totals = make_totals(
        {
            "total_dap_gycm2": None if dap_dgycm2 is None else dap_dgycm2 * 0.1,
            "total_fluoro_time_s": fluoro_s,
        },
        notes,
    )
    return totals, tuple(ctdivols)


def _patient(ds: Dataset) -> PatientIdentity | None:
    if not any(tag in ds._dict for tag in _PATIENT_TAGS):
        return None
    return identity.read_patient(ds, None)


def extract_mpps(ds: Dataset) -> MppsFacts | Skipped:
    """Return the usage facts of an MPPS N-CREATE or N-SET dataset.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset of the N-CREATE or N-SET request. The SOP Instance UID is the
        Affected/Requested SOP Instance UID of the message; when the dataset carries it
        (as stored MPPS objects do) it is read from (0008,0018).

    Returns
    -------
    MppsFacts or Skipped
        Never raises for malformed datasets.
    """
    sop_uid: str | None = None
    try:
        if not isinstance(ds, Dataset):
            return Skipped("not a DICOM dataset", None)
        sop_uid = _text(ds, 0x00080018)
        return _extract(ds, sop_uid)
    except Exception as exc:  # the contract: junk in, Skipped out
        return Skipped(f"unreadable MPPS ({type(exc).__name__})", sop_uid)


def _extract(ds: Dataset, sop_uid: str | None) -> MppsFacts | Skipped:
    status = _text(ds, 0x00400252)
    if status is not None:
        status = status.upper()
        if status not in _STATUSES:
            return Skipped("unknown Performed Procedure Step Status", sop_uid)
    started = combine(parse_da(get_value(ds, 0x00400244)), parse_tm(get_value(ds, 0x00400245)))
    ended = combine(parse_da(get_value(ds, 0x00400250)), parse_tm(get_value(ds, 0x00400251)))
    series_count, image_count = _counts(ds)
    notes: list[str] = []
    totals, ctdivols = _dose(ds, notes)
    if status is None and started is None and ended is None and not series_count:
        return Skipped("no MPPS attributes (status, start, end or performed series)", sop_uid)
    exposures = first_float(get_value(ds, 0x00400301))
    return MppsFacts(
        sop_instance_uid=sop_uid,
        study_instance_uids=_study_uids(ds),
        status=status,
        started_at=started,
        ended_at=ended,
        performed_protocol=_protocol(ds),
        modality=_text(ds, 0x00080060),
        station_name=_text(ds, 0x00400242) or _text(ds, 0x00400241),
        patient=_patient(ds),
        series_count=series_count,
        image_count=image_count,
        totals=totals,
        ctdivol_mgy=ctdivols,
        number_of_exposures=int(exposures) if exposures is not None and exposures >= 0 else None,
        _identifying=identity.identifying_values(ds),
    )
