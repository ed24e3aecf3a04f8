"""Dispatch: a Dataset (or a file's bytes) in, an :class:`Extraction` or :class:`Skipped` out.

Dose SRs are recognised by their document title code (TID 10001/10011 X-Ray Radiation
Dose Report, TID 10021 Radiopharmaceutical Radiation Dose Report), whatever SOP class
carries them (X-Ray RDSR, Enhanced or Comprehensive SR). The physicist's modality comes
from the content: CT template → CT, projection with fluoroscopy → RF, mammography → MG,
PET agent → PT. Everything else is read as an image header. Nothing raises: malformed
objects become :class:`Skipped` with the reason. :func:`extract_bytes` reads a file's bytes
with :mod:`medcoop.dicom.part10` (no ``dcmread``), else with pydicom.
"""

from __future__ import annotations

from datetime import datetime

from pydicom.dataset import Dataset

from medcoop import records
from medcoop.dicom import codes as c
from medcoop.dicom import headers, identity, nm, projection, vendor
from medcoop.dicom.content import Node, TreeError
from medcoop.dicom.ct import read_ct
from medcoop.dicom.model import Damaged, DeviceIdentity, DoseEvent, Extraction, Skipped
from medcoop.dicom.part10 import TruncatedFileError, read_dataset
from medcoop.dicom.sr import read_tree
from medcoop.dicom.values import get_value, text_or_none

__all__ = ["extract_bytes", "extract_dataset"]

_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_STUDY_UID = 0x0020000D
_SERIES_UID = 0x0020000E
_MODALITY = 0x00080060
_CONTENT_SEQ = 0x0040A730

#: Content items whose text identifies a person or a place.
_IDENTIFYING_KEYS = frozenset(
    {
        c.PERSON_NAME,
        c.PERSON_ID,
        c.ORGANIZATION_NAME,
        c.PERFORMING_PHYSICIAN,
        c.DEVICE_OBSERVER_LOCATION,
        c.PERSON_OBSERVER_NAME,
        "DCM:121009",  # Person Observer's Organization Name
        "99PHI-IXR-XPER:027",  # Philips: Performing Physicians Name
    }
)


def extract_dataset(ds: Dataset) -> Extraction | Skipped:
    """Return the dose and usage facts of one DICOM object, or why there are none.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An RDSR, Enhanced/Comprehensive SR, image or vendor dose summary, as read (with
        ``force=True`` for files of unknown origin).

    Returns
    -------
    Extraction or Skipped
        Never raises for malformed or unexpected objects.
    """
    sop_uid: str | None = None
    try:
        sop_uid = text_or_none(get_value(ds, _SOP_INSTANCE))
        return _extract(ds, sop_uid)
    except Exception as exc:  # the contract: junk in, Skipped out
        # only the exception type: messages can quote element values, which may identify
        return Skipped(f"unreadable object ({type(exc).__name__})", sop_uid)


def extract_bytes(data: bytes) -> Extraction | Skipped:
    """Return the dose and usage facts of one DICOM file given as bytes.

    The same result as :func:`extract_dataset` of ``pydicom.dcmread(..., force=True)``
    (a file dcmread refuses gives a :class:`Skipped`), without ``dcmread`` where
    :func:`~medcoop.dicom.part10.read_part10` reads the file (Part 10 with a preamble, not
    deflated: ~4× faster for a dose report).

    Parameters
    ----------
    data : bytes
        A Part 10 file (or a bare dataset, read by pydicom).

    Returns
    -------
    Extraction or Skipped
        Never raises for malformed or unexpected input; a file cut short is
        :class:`Damaged` (a :class:`Skipped`).
    """
    try:
        ds = read_dataset(data)
    except TruncatedFileError as exc:
        return Damaged(f"truncated file: {exc.reason}", None)
    except Exception as exc:  # pydicom raises many types on junk; none may escape
        return Skipped(f"not a readable DICOM file ({type(exc).__name__})", None)
    return extract_dataset(ds)


def _extract(ds: Dataset, sop_uid: str | None) -> Extraction | Skipped:
    if not isinstance(ds, Dataset):
        return Skipped("not a DICOM dataset", None)
    sop_class = text_or_none(get_value(ds, _SOP_CLASS))
    if sop_class is None:
        return Skipped("no SOP Class UID: not a DICOM composite object", sop_uid)
    if sop_class == c.SopClass.MPPS:
        return Skipped("an MPPS dataset: read it with extract_mpps", sop_uid)
    if sop_uid is None:
        return Skipped("no SOP Instance UID", None)
    study_uid = text_or_none(get_value(ds, _STUDY_UID))
    if study_uid is None:
        return Skipped("no Study Instance UID", sop_uid)
    header_modality = text_or_none(get_value(ds, _MODALITY))
    is_sr = sop_class in c.SopClass.DOSE_SR or (
        header_modality == "SR" and _CONTENT_SEQ in ds._dict
    )
    if is_sr:
        return _extract_sr(ds, sop_uid, sop_class, study_uid, header_modality)
    if sop_class.startswith("1.2.840.10008.5.1.4.1.1.88."):
        return Skipped("a structured report that is not a dose report", sop_uid)
    return headers.extract_header(ds, sop_uid, sop_class, study_uid, header_modality)


def _observer_device(root: Node, header: DeviceIdentity) -> DeviceIdentity:
    """Fill gaps in the header's equipment identity from the SR's device observer context."""
    return DeviceIdentity(
        manufacturer=header.manufacturer or root.string(c.DEVICE_OBSERVER_MANUFACTURER),
        model=header.model or root.string(c.DEVICE_OBSERVER_MODEL_NAME),
        serial_number=header.serial_number or root.string(c.DEVICE_OBSERVER_SERIAL_NUMBER),
        station_name=header.station_name or root.string(c.DEVICE_OBSERVER_NAME),
        software_versions=header.software_versions,
        device_observer_uid=root.string(c.DEVICE_OBSERVER_UID),
        device_observer_name=root.string(c.DEVICE_OBSERVER_NAME),
        institution_name=header.institution_name,
        department_name=header.department_name,
    )


def _tree_identifiers(root: Node) -> list[str]:
    found: list[str] = []
    # every node, in no particular order (the caller makes a set): a plain stack is cheaper
    # than Node.walk's ordered one, and this visits every node of every report
    stack = list(root.children)
    while stack:
        node = stack.pop()
        if node.text and (node.key in _IDENTIFYING_KEYS or node.vt in ("PNAME", "PERSON NAME")):
            found.append(node.text)
        if node.children:
            stack.extend(node.children)
    return found


def _report_kind(root: Node) -> str | None:
    """Return ``ct``, ``projection`` or ``radiopharmaceutical`` for a dose report root."""
    if root.key == c.RADIOPHARMACEUTICAL_RADIATION_DOSE_REPORT:
        return "radiopharmaceutical"
    if root.key != c.XRAY_RADIATION_DOSE_REPORT:
        return None
    reported = root.coded(c.PROCEDURE_REPORTED)
    if (reported and reported[0] == c.PROC_CT) or root.find(c.CT_ACQUISITION) is not None:
        return "ct"
    return "projection"


def _extract_sr(
    ds: Dataset, sop_uid: str, sop_class: str, study_uid: str, header_modality: str | None
) -> Extraction | Skipped:
    try:
        root = read_tree(ds)
    except TreeError as exc:
        return Skipped(f"unreadable content tree: {exc}", sop_uid)
    kind = _report_kind(root)
    if kind is None and root.key == vendor.SIEMENS_RADIATION_SUMMARY:
        return _siemens_summary(ds, root, sop_uid, sop_class, study_uid, header_modality)
    if kind is None:
        return Skipped(
            f"a structured report that is not a dose report (document title {root.key})", sop_uid
        )
    notes: list[str] = []
    sources: dict = {}
    if kind == "ct":
        ct = read_ct(root, sop_uid, notes)
        events, totals, sources, modality = ct.events, ct.totals, ct.sources, "CT"
        source = records.SourceKind.RDSR
        stated = totals.number_of_events
        if stated is not None and stated > len(events):
            # TID 10011 states its accumulated data before the acquisitions: a report cut
            # short (and re-encoded by a sender that read what it could) keeps the totals
            return Damaged(
                f"damaged dose report: states {stated} irradiation events, holds {len(events)}",
                sop_uid,
            )
    elif kind == "projection":
        proj = projection.read_projection(root, sop_uid, notes)
        events, totals, modality = proj.events, proj.totals, proj.modality
        source = records.SourceKind.RDSR
    else:
        radio = nm.read_radiopharmaceutical(root, sop_uid, notes)
        events, totals, modality = radio.events, radio.totals, radio.modality
        source = records.SourceKind.RRDSR
    study = identity.read_study(ds)
    patient = identity.read_patient(ds, study.study_at)
    if kind == "radiopharmaceutical":
        patient = nm.fill_patient(root, patient)
    started = root.datetime(c.START_OF_XRAY_IRRADIATION)
    ended = root.datetime(c.END_OF_XRAY_IRRADIATION)
    return Extraction(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        study_instance_uid=study_uid,
        series_instance_uid=text_or_none(get_value(ds, _SERIES_UID)),
        modality=modality,
        source=source,
        patient=patient,
        device=_observer_device(root, identity.read_device(ds)),
        study_at=study.study_at,
        utc_offset_min=study.utc_offset_min,
        study_description=study.study_description,
        accession_number=study.accession_number,
        procedure_code=study.procedure_code,
        events=events,
        totals=totals,
        acquisition_times=_times(events, started, ended),
        image_count=0,
        header_modality=header_modality,
        irradiation_started_at=started,
        irradiation_ended_at=ended,
        ct_sources=sources,
        notes=tuple(notes),
        _identifying=identity.identifying_values(ds, _tree_identifiers(root)),
    )


def _times(
    events: tuple[DoseEvent, ...], started: datetime | None, ended: datetime | None
) -> tuple[datetime, ...]:
    times = {e.started_at for e in events if e.started_at is not None}
    times.update(t for t in (started, ended) if t is not None)
    return tuple(sorted(times))


def _siemens_summary(
    ds: Dataset,
    root: Node,
    sop_uid: str,
    sop_class: str,
    study_uid: str,
    header_modality: str | None,
) -> Extraction:
    notes: list[str] = []
    summary = vendor.read_siemens_radiation_summary(root, notes)
    study = identity.read_study(ds)
    return Extraction(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        study_instance_uid=study_uid,
        series_instance_uid=text_or_none(get_value(ds, _SERIES_UID)),
        modality="RF",  # a fluoroscopy C-arm's summary: fluoro time and DAP
        source=records.SourceKind.VENDOR_SUMMARY,
        patient=identity.read_patient(ds, study.study_at),
        device=_observer_device(root, identity.read_device(ds)),
        study_at=study.study_at,
        utc_offset_min=study.utc_offset_min,
        study_description=study.study_description,
        accession_number=study.accession_number,
        procedure_code=study.procedure_code,
        totals=summary.totals,
        acquisition_times=_times((), summary.started_at, summary.ended_at),
        header_modality=header_modality,
        irradiation_started_at=summary.started_at,
        irradiation_ended_at=summary.ended_at,
        notes=tuple(notes),
        _identifying=identity.identifying_values(ds, _tree_identifiers(root)),
    )
