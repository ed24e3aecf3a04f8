"""Small builders of synthetic DICOM objects (RDSR content items, image headers, MPPS)."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.67"


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _item(rel: str, vt: str, name: tuple[str, str, str]) -> Dataset:
    item = Dataset()
    item.RelationshipType = rel
    item.ValueType = vt
    item.ConceptNameCodeSequence = Sequence([code(*name)])
    return item


def num(name: tuple[str, str, str], value: Any, unit: str, rel: str = "CONTAINS") -> Dataset:
    item = _item(rel, "NUM", name)
    measured = Dataset()
    measured.NumericValue = str(value)
    measured.MeasurementUnitsCodeSequence = Sequence([code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def coded(
    name: tuple[str, str, str], value: tuple[str, str, str], rel: str = "CONTAINS"
) -> Dataset:
    item = _item(rel, "CODE", name)
    item.ConceptCodeSequence = Sequence([code(*value)])
    return item


def text(name: tuple[str, str, str], value: str, rel: str = "CONTAINS") -> Dataset:
    item = _item(rel, "TEXT", name)
    item.TextValue = value
    return item


def uidref(name: tuple[str, str, str], value: str, rel: str = "CONTAINS") -> Dataset:
    item = _item(rel, "UIDREF", name)
    item.UID = value
    return item


def dt(name: tuple[str, str, str], value: str, rel: str = "CONTAINS") -> Dataset:
    item = _item(rel, "DATETIME", name)
    item.DateTime = value
    return item


def container(name: tuple[str, str, str], *children: Dataset, rel: str = "CONTAINS") -> Dataset:
    item = _item(rel, "CONTAINER", name)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(list(children))
    return item


def header(
    sop_class: str = XRAY_RDSR, modality: str = "SR", study_uid: str | None = None
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.StudyDate = "20260105"
    ds.StudyTime = "101500"
    ds.PatientName = "Testperson^Ada"
    ds.PatientID = "PID-778899"
    ds.PatientBirthDate = "19700203"
    ds.PatientSex = "F"
    ds.AccessionNumber = "ACC-445566"
    ds.InstitutionName = "St Elsewhere"
    ds.Manufacturer = "Acme"
    ds.ManufacturerModelName = "Scanner 9"
    ds.DeviceSerialNumber = "SN-1"
    ds.StationName = "CT01"
    return ds


def rdsr(*content: Dataset, study_uid: str | None = None, sop_class: str = XRAY_RDSR) -> Dataset:
    ds = header(sop_class, "SR", study_uid)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([code("113701", "DCM", "X-Ray Radiation Dose Report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = Sequence(list(content))
    return ds


CT_PROC = coded(("121058", "DCM", "Procedure reported"), ("P5-08000", "SRT", "CT X-Ray"),
                rel="HAS CONCEPT MOD")  # fmt: skip


def ct_event(
    uid: str, ctdivol: float, dlp: float, dlp_unit: str = "mGy.cm", kvps: tuple[float, ...] = (120,)
) -> Dataset:
    sources = [
        container(
            ("113831", "DCM", "CT X-Ray Source Parameters"),
            text(("113832", "DCM", "Identification of the X-Ray Source"), chr(ord("A") + i)),
            num(("113733", "DCM", "KVP"), kvp, "kV"),
            num(("113734", "DCM", "X-Ray Tube Current"), 200 + i, "mA"),
        )
        for i, kvp in enumerate(kvps)
    ]
    return container(
        ("113819", "DCM", "CT Acquisition"),
        text(("125203", "DCM", "Acquisition Protocol"), "Chest routine"),
        coded(("113820", "DCM", "CT Acquisition Type"), ("P5-08001", "SRT", "Spiral Acquisition")),
        uidref(("113769", "DCM", "Irradiation Event UID"), uid),
        container(
            ("113822", "DCM", "CT Acquisition Parameters"),
            num(("113824", "DCM", "Exposure Time"), 5000, "ms"),
            num(("113823", "DCM", "Number of X-Ray Sources"), len(kvps), "{X-Ray sources}"),
            *sources,
        ),
        container(
            ("113829", "DCM", "CT Dose"),
            num(("113830", "DCM", "Mean CTDIvol"), ctdivol, "mGy"),
            coded(("113835", "DCM", "CTDIw Phantom Type"), ("113691", "DCM", "IEC Body")),
            num(("113838", "DCM", "DLP"), dlp, dlp_unit),
        ),
    )


def ct_rdsr(events: list[tuple[str, float, float]], study_uid: str | None = None) -> Dataset:
    return rdsr(CT_PROC, *(ct_event(*e) for e in events), study_uid=study_uid)
