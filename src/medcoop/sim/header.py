"""The modules every composite object of a study shares: patient, study, series, equipment.

Identifiers are planted here in their usual places (Patient's Name, ID, Birth Date, Address,
Accession Number, physicians, institution); :mod:`medcoop.sim.adversarial` adds the hard
places. File Meta Information is attached so the datasets can be written as Part 10 files or
sent with pynetdicom as they are.
"""

from __future__ import annotations

from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from medcoop.sim._build import dataset, put, put_seq
from medcoop.sim.plan import StudyTruth
from medcoop.sim.vendors import DeviceSpec

__all__ = ["attach_file_meta", "character_set", "common_header", "da", "tm", "utc_offset_text"]


def da(moment: datetime) -> str:
    """DICOM DA of a naive local datetime."""
    return moment.strftime("%Y%m%d")


def tm(moment: datetime) -> str:
    """DICOM TM of a naive local datetime, to the millisecond."""
    return moment.strftime("%H%M%S.%f")[:-3]


def utc_offset_text(minutes: int) -> str:
    """Format minutes east of UTC as DICOM's TimezoneOffsetFromUTC (``+HHMM``)."""
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{mins:02d}"


def common_header(
    truth: StudyTruth,
    device: DeviceSpec,
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    series_instance_uid: str,
    modality: str,
    series_number: int,
    instance_number: int,
    content_at: datetime,
    series_description: str,
) -> Dataset:
    """Return a dataset holding the SOP common, patient, study, series and equipment modules."""
    ds = dataset()
    patient = truth.patient
    vendor = device.vendor
    put(ds, "SpecificCharacterSet", truth.specific_character_set)
    put(ds, "InstanceCreationDate", da(content_at))
    put(ds, "InstanceCreationTime", tm(content_at))
    put(ds, "SOPClassUID", sop_class_uid)
    put(ds, "SOPInstanceUID", sop_instance_uid)
    put(ds, "StudyDate", da(truth.started_at))
    put(ds, "SeriesDate", da(truth.started_at))
    put(ds, "ContentDate", da(content_at))
    put(ds, "StudyTime", tm(truth.started_at))
    put(ds, "SeriesTime", tm(truth.started_at))
    put(ds, "ContentTime", tm(content_at))
    put(ds, "AccessionNumber", truth.accession_number)
    put(ds, "Modality", modality)
    put(ds, "Manufacturer", vendor.manufacturer)
    put(ds, "InstitutionName", truth.institution_name)
    put(ds, "InstitutionAddress", truth.institution_address)
    put(ds, "ReferringPhysicianName", truth.staff.referring_physician)
    put(ds, "StationName", device.station_name)
    put(ds, "StudyDescription", truth.study_description)
    put_seq(ds, "ProcedureCodeSequence", [_procedure_code(truth)])
    put(ds, "SeriesDescription", series_description)
    put(ds, "InstitutionalDepartmentName", truth.department_name)
    put(ds, "PerformingPhysicianName", truth.staff.performing_physician)
    put(ds, "OperatorsName", truth.staff.operator)
    put(ds, "ManufacturerModelName", device.model)
    put(ds, "PatientName", patient.name)
    put(ds, "PatientID", patient.patient_id)
    put(ds, "IssuerOfPatientID", patient.issuer_of_patient_id)
    put(ds, "PatientBirthDate", patient.birth_date_da)
    put(ds, "PatientSex", patient.sex.value)
    if vendor.writes_patient_age:
        put(ds, "PatientAge", f"{truth.age_years:03d}Y")
    if truth.height_m is not None:
        put(ds, "PatientSize", f"{truth.height_m:.2f}")
    if truth.weight_kg is not None:
        put(ds, "PatientWeight", f"{truth.weight_kg:.1f}")
    put(ds, "PatientAddress", patient.address)
    put(ds, "PatientTelephoneNumbers", patient.phone)
    put(ds, "DeviceSerialNumber", device.serial_number)
    put(ds, "SoftwareVersions", device.software_versions)
    put(ds, "StudyInstanceUID", truth.study_instance_uid)
    put(ds, "SeriesInstanceUID", series_instance_uid)
    put(ds, "StudyID", truth.study_id)
    put(ds, "SeriesNumber", series_number)
    put(ds, "InstanceNumber", instance_number)
    if truth.timezone_written:
        put(ds, "TimezoneOffsetFromUTC", utc_offset_text(truth.utc_offset_min))
    return ds


def character_set(truth: StudyTruth, device: DeviceSpec) -> str:
    """Return the Specific Character Set a device writes for this study's names.

    ASCII-only studies say ISO_IR 100; Latin-1 names are written as ISO_IR 100 by some
    vendors and as UTF-8 (ISO_IR 192) by others; anything else needs ISO_IR 192.
    """
    text = "".join(sorted(truth.identifying_values()))
    if text.isascii():
        return "ISO_IR 100"
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return "ISO_IR 192"
    latin1_vendors = {"Nordlys", "Kestrel Systems"}
    return "ISO_IR 100" if device.vendor.manufacturer in latin1_vendors else "ISO_IR 192"


def _procedure_code(truth: StudyTruth) -> Dataset:
    item = dataset()
    put(item, "CodeValue", truth.procedure_code)
    put(item, "CodingSchemeDesignator", "99MEDCOOP")
    put(item, "CodeMeaning", truth.protocol)
    return item


def attach_file_meta(ds: Dataset) -> Dataset:
    """Attach Part 10 File Meta Information (Explicit VR Little Endian) to ``ds``."""
    meta = FileMetaDataset()
    put(meta, "FileMetaInformationVersion", b"\x00\x01")
    put(meta, "MediaStorageSOPClassUID", ds.SOPClassUID)
    put(meta, "MediaStorageSOPInstanceUID", ds.SOPInstanceUID)
    put(meta, "TransferSyntaxUID", ExplicitVRLittleEndian)
    put(meta, "ImplementationClassUID", PYDICOM_IMPLEMENTATION_UID)
    put(meta, "ImplementationVersionName", "MEDCOOP_SIM")
    ds.file_meta = meta
    return ds
