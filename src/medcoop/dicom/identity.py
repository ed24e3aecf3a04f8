"""Header facts shared by every object: patient, device, study, and identifying values.

The attributes that identify are :mod:`medcoop.dicom.identifying`'s one list.

These are read from the General/Patient/Study/Equipment modules; the SR observer context
fills device gaps in :mod:`medcoop.dicom.extract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from medcoop import records
from medcoop.dicom.identifying import IDENTIFYING_TAGS
from medcoop.dicom.model import DeviceIdentity, PatientIdentity
from medcoop.dicom.values import (
    combine,
    first_float,
    get_value,
    parse_age_years,
    parse_da,
    parse_offset_min,
    parse_tm,
    text_or_none,
)

__all__ = [
    "StudyFacts",
    "identifying_values",
    "read_device", "read_patient", "read_study"]

_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
_ISSUER = 0x00100021
_BIRTH_DATE = 0x00100030
_SEX = 0x00100040
_AGE = 0x00101010
_SIZE = 0x00101020
_WEIGHT = 0x00101030

_STUDY_DATE = 0x00080020
_SERIES_DATE = 0x00080021
_ACQ_DATE = 0x00080022
_CONTENT_DATE = 0x00080023
_STUDY_TIME = 0x00080030
_SERIES_TIME = 0x00080031
_ACQ_TIME = 0x00080032
_CONTENT_TIME = 0x00080033
_ACQ_DATETIME = 0x0008002A
_TZ_OFFSET = 0x00080201
_ACCESSION = 0x00080050
_STUDY_DESCRIPTION = 0x00081030
_PROCEDURE_CODE_SEQ = 0x00081032
_REQUESTED_PROCEDURE_CODE_SEQ = 0x00321064

_MANUFACTURER = 0x00080070
_MODEL = 0x00081090
_SERIAL = 0x00181000
_STATION = 0x00081010
_SOFTWARE = 0x00181020
_INSTITUTION = 0x00080080
_DEPARTMENT = 0x00081040

@dataclass(frozen=True, slots=True)
class StudyFacts:
    """Study-level header facts."""

    study_at: datetime | None
    utc_offset_min: int | None
    study_description: str | None
    accession_number: str | None
    procedure_code: str | None


def _text(ds: Dataset, tag: int) -> str | None:
    return text_or_none(get_value(ds, tag))


def _study_datetime(ds: Dataset) -> datetime | None:
    for day_tag, time_tag in (
        (_STUDY_DATE, _STUDY_TIME),
        (_SERIES_DATE, _SERIES_TIME),
        (_ACQ_DATE, _ACQ_TIME),
        (_CONTENT_DATE, _CONTENT_TIME),
    ):
        day = parse_da(get_value(ds, day_tag))
        if day is not None:
            return combine(day, parse_tm(get_value(ds, time_tag)))
    return None


def _procedure_code(ds: Dataset) -> str | None:
    for tag in (_PROCEDURE_CODE_SEQ, _REQUESTED_PROCEDURE_CODE_SEQ):
        seq = get_value(ds, tag)
        if seq:
            item = seq[0]
            value = text_or_none(get_value(item, 0x00080100))
            scheme = text_or_none(get_value(item, 0x00080102))
            if value:
                return f"{scheme}:{value}" if scheme else value
    return None


def read_study(ds: Dataset) -> StudyFacts:
    """Return the study date/time, description, accession number and procedure code."""
    return StudyFacts(
        study_at=_study_datetime(ds),
        utc_offset_min=parse_offset_min(get_value(ds, _TZ_OFFSET)),
        study_description=_text(ds, _STUDY_DESCRIPTION),
        accession_number=_text(ds, _ACCESSION),
        procedure_code=_procedure_code(ds),
    )


def _sex(value: str | None) -> records.Sex | None:
    if value is None:
        return None
    try:
        return records.Sex(value.upper()[:1])
    except ValueError:
        return None


def age_between(birth: date, on: date) -> float | None:
    """Return the age in years (decimal) on ``on`` of someone born on ``birth``."""
    days = (on - birth).days
    if days < 0:
        return None
    return days / 365.25


def read_patient(ds: Dataset, study_at: datetime | None) -> PatientIdentity:
    """Return the patient's identity; age from PatientAge, else from birth and study dates."""
    birth = parse_da(get_value(ds, _BIRTH_DATE))
    age = parse_age_years(get_value(ds, _AGE))
    if age is None and birth is not None and study_at is not None:
        age = age_between(birth, study_at.date())
    height = first_float(get_value(ds, _SIZE))
    weight = first_float(get_value(ds, _WEIGHT))
    return PatientIdentity(
        patient_id=_text(ds, _PATIENT_ID),
        issuer_of_patient_id=_text(ds, _ISSUER),
        patient_name=_text(ds, _PATIENT_NAME),
        birth_date=birth,
        sex=_sex(_text(ds, _SEX)),
        age_years=age if age is None or 0 <= age <= 150 else None,
        height_m=height if height and 0 < height <= 3 else None,
        weight_kg=weight if weight and 0 < weight <= 700 else None,
    )


def read_device(ds: Dataset) -> DeviceIdentity:
    """Return the equipment identity from the General Equipment module."""
    return DeviceIdentity(
        manufacturer=_text(ds, _MANUFACTURER),
        model=_text(ds, _MODEL),
        serial_number=_text(ds, _SERIAL),
        station_name=_text(ds, _STATION),
        software_versions=_text(ds, _SOFTWARE),
        institution_name=_text(ds, _INSTITUTION),
        department_name=_text(ds, _DEPARTMENT),
    )


def _add(values: set[str], raw: object) -> None:
    if raw is None:
        return
    if isinstance(raw, list | tuple | MultiValue):
        for part in raw:
            _add(values, part)
        return
    text = text_or_none(raw)
    if not text:
        return
    values.add(text)
    if "^" in text:  # person names: the whole and each meaningful component
        values.add(" ".join(p for p in text.split("^") if p))
        values.update(p.strip() for p in text.split("^") if len(p.strip()) >= 3)


#: Sequences whose items hold identifying attributes of the patient or the request.
_IDENTIFYING_SEQUENCES = (
    0x00101002,  # Other Patient IDs Sequence
    0x00400275,  # Request Attributes Sequence
    0x0040A073,  # Verifying Observer Sequence
    0x00400100,  # Scheduled Procedure Step Sequence
)


def identifying_values(ds: Dataset, extra: list[str] | None = None) -> frozenset[str]:
    """Return every identifying string in the header (and ``extra`` from the content tree).

    The attributes are :data:`IDENTIFYING_TAGS` (institution identity included), at the top
    level and in the items of the patient's and the request's sequences.
    """
    values: set[str] = set()
    _add_from(ds, values)
    for seq_tag in _IDENTIFYING_SEQUENCES:
        for item in get_value(ds, seq_tag) or ():
            _add_from(item, values)
    for text in extra or ():
        _add(values, text)
    return frozenset(values)


def _add_from(ds: Dataset, values: set[str]) -> None:
    present = ds._dict  # only the few tags present are read
    for tag in IDENTIFYING_TAGS:
        if tag in present:
            _add(values, get_value(ds, tag))
