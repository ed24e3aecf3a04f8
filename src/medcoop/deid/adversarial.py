"""An adversarial corpus: synthetic objects with identifiers planted where they hide.

Every patient's identifiers are planted in the places they turn up in the wild: Patient
module, Other Patient IDs (value and sequence), request attributes, free text (comments,
descriptions, protocol names), private tags of an unknown vendor (text, UTF-16 and
Latin-1 binary blobs), sequences nested three deep, SR content items (PNAME, TEXT,
person observer), verifying-observer and author sequences, non-ASCII character sets.
Used by the tests (zero leaks, references resolve, one pseudonym per patient) and by
``bench/deid.py`` (leak counts of medcoop beside dicognito and deid). Synthetic only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["AdversarialCase", "PatientPlant", "adversarial_corpus", "find_leaks", "write_corpus"]

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"

_FAMILY = ["Okonkwo", "Kowalczyk", "Nakamura", "Müller", "Fitzgerald", "Haddad", "Lindqvist"]
_GIVEN = ["Adaeze", "Agnieszka", "Hiroshi", "Jürgen", "Siobhan", "Karim", "Ingeborg"]
_STAFF = ["Thorvaldsen^Ingrid", "Okafor^Emeka", "Petrenko^Oksana", "Delacroix^Amelie"]
_STREETS = ["Juniper Crescent", "Harbourview Lane", "Wolfsgarten Weg", "Calle Almendro"]


@dataclass(frozen=True, slots=True)
class PatientPlant:
    """One synthetic patient's identifiers (the truth the leak check looks for)."""

    family: str
    given: str
    patient_id: str
    other_id: str
    birth_date: str
    accession: str
    address: str
    phone: str
    institution: str
    staff: tuple[str, ...]

    @property
    def tokens(self) -> frozenset[str]:
        """Strings whose presence anywhere in an output is a leak."""
        staff_family = {s.split("^")[0] for s in self.staff}
        iso = f"{self.birth_date[:4]}-{self.birth_date[4:6]}-{self.birth_date[6:]}"
        return frozenset(
            {
                self.family,
                self.given,
                self.patient_id,
                self.other_id,
                self.birth_date,
                iso,
                self.accession,
                self.address.split(" ", 1)[1],
                self.phone,
                self.institution,
                *staff_family,
            }
        )


@dataclass(frozen=True, slots=True)
class AdversarialCase:
    """One object of the corpus and what is expected of it."""

    name: str
    dataset: Dataset
    patient: PatientPlant
    expect_withheld: bool = False


def _patient(rng: random.Random, index: int) -> PatientPlant:
    return PatientPlant(
        family=_FAMILY[index % len(_FAMILY)],
        given=_GIVEN[index % len(_GIVEN)],
        patient_id=f"MRN{rng.randint(1_000_000, 9_999_999)}",
        other_id=f"H{rng.randint(10_000_000, 99_999_999)}",
        birth_date=f"19{rng.randint(30, 89)}{rng.randint(1, 12):02d}{rng.randint(10, 28)}",
        accession=f"ACC{rng.randint(100_000, 999_999)}",
        address=f"{rng.randint(10, 99)} {_STREETS[index % len(_STREETS)]}",
        phone=f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        institution=f"Saint {_GIVEN[(index + 3) % len(_GIVEN)]} Infirmary",
        staff=tuple(_STAFF[(index + k) % len(_STAFF)] for k in range(3)),
    )


def _base(p: PatientPlant, sop_class: str, uids: dict[str, str], charset: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = uids["frame"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260105"
    ds.StudyTime = ds.ContentTime = "101500"
    ds.PatientName = f"{p.family}^{p.given}"
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "HOSPITAL-A"
    ds.OtherPatientIDs = p.other_id
    other = Dataset()
    other.PatientID = p.other_id
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = "F"
    ds.PatientAge = "061Y"
    ds.PatientWeight = 71.5
    ds.PatientAddress = p.address
    ds.PatientTelephoneNumbers = p.phone
    ds.PatientComments = f"Lives at {p.address}, call {p.phone}"
    ds.AccessionNumber = p.accession
    ds.InstitutionName = p.institution
    ds.InstitutionAddress = f"1 {p.institution} Road"
    ds.ReferringPhysicianName = p.staff[0]
    ds.PerformingPhysicianName = p.staff[1]
    ds.OperatorsName = p.staff[2]
    ds.Manufacturer = "ACME Medical"
    ds.ManufacturerModelName = "Imager 9000"
    ds.StationName = "CT01"
    ds.DeviceSerialNumber = "SN-77812"
    ds.StudyDescription = f"CT CHEST for {p.given} {p.family}"
    ds.SeriesDescription = f"Axial {p.patient_id}"
    ds.ProtocolName = f"CHEST ROUTINE {p.family.upper()}"
    ds.ImageComments = f"Patient {p.family}, {p.given} DOB {p.birth_date} MRN {p.patient_id}"
    request = Dataset()
    request.RequestedProcedureID = p.accession
    request.AccessionNumber = p.accession
    request.RequestedProcedureDescription = f"CT chest {p.family}"
    deep = Dataset()
    deep.ScheduledPerformingPhysicianName = p.staff[0]
    deep.ScheduledProcedureStepDescription = f"booked by {p.staff[0].replace('^', ' ')}"
    deeper = Dataset()
    deeper.PersonName = f"{p.family}^{p.given}"
    deep.ContentSequence = Sequence([deeper])
    request.ScheduledProtocolCodeSequence = Sequence([deep])
    ds.RequestAttributesSequence = Sequence([request])
    _unknown_vendor_private(ds, p, charset)
    return ds


def _unknown_vendor_private(ds: Dataset, p: PatientPlant, charset: str) -> None:
    codec = "utf_8" if charset == "ISO_IR 192" else "latin_1"
    block = ds.private_block(0x0029, "SHADOWY VENDOR 1.0", create=True)
    block.add_new(0x01, "LO", f"{p.family}^{p.given}")
    block.add_new(0x02, "UN", f"id={p.patient_id}".encode("utf_16_le"))
    block.add_new(0x03, "OB", b"\x00\x10" + f"{p.family} {p.birth_date}".encode(codec) + b"\x00")
    nested = Dataset()
    nested_block = nested.private_block(0x0031, "SHADOWY VENDOR 1.0", create=True)
    nested_block.add_new(0x01, "LT", f"accession {p.accession} at {p.institution}")
    block.add_new(0x04, "SQ", Sequence([nested]))


def _ct_image(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _base(p, CT_IMAGE, uids, charset)
    ds.Modality = "CT"
    ds.SOPInstanceUID = uids["ct"]
    ds.BurnedInAnnotation = "NO"
    ds.CTDIvol = 12.5
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(128))
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _content(value_type: str, concept: Dataset, **values: object) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS" if value_type != "PNAME" else "HAS OBS CONTEXT"
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([concept])
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _rdsr(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _base(p, XRAY_DOSE_SR, uids, charset)
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("113701", "DCM", "X-Ray Radiation Dose Report")])
    observer = Dataset()
    observer.VerifyingObserverName = p.staff[1]
    observer.VerifyingOrganization = p.institution
    observer.VerificationDateTime = "20260105120000"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence(
        [_code(p.other_id, "LOCAL", p.staff[1].replace("^", " "))]
    )
    ds.VerifyingObserverSequence = Sequence([observer])
    author = Dataset()
    author.ObserverType = "PSN"
    author.PersonName = p.staff[2]
    ds.AuthorObserverSequence = Sequence([author])
    event = _content("CONTAINER", _code("113819", "DCM", "CT Acquisition"))
    event.ContentSequence = Sequence(
        [
            _content("UIDREF", _code("113769", "DCM", "Irradiation Event UID"), UID=uids["event"]),
            _content(
                "DATETIME", _code("111526", "DCM", "DateTime Started"), DateTime="20260105101700"
            ),
            _content(
                "TEXT", _code("125203", "DCM", "Acquisition Protocol"), TextValue=f"Chest {p.given}"
            ),
            _content(
                "TEXT", _code("121106", "DCM", "Comment"), TextValue=f"{p.given} {p.family} ok"
            ),
        ]
    )
    ds.ContentSequence = Sequence(
        [
            _content(
                "PNAME", _code("121008", "DCM", "Person Observer Name"), PersonName=p.staff[2]
            ),
            _content("TEXT", _code("121012", "DCM", "Device Observer Name"), TextValue="CT01"),
            _content(
                "UIDREF", _code("121018", "DCM", "Procedure Study Instance UID"), UID=uids["study"]
            ),
            event,
        ]
    )
    evidence_instance = Dataset()
    evidence_instance.ReferencedSOPClassUID = CT_IMAGE
    evidence_instance.ReferencedSOPInstanceUID = uids["ct"]
    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = uids["series"]
    evidence_series.ReferencedSOPSequence = Sequence([evidence_instance])
    evidence = Dataset()
    evidence.StudyInstanceUID = uids["study"]
    evidence.ReferencedSeriesSequence = Sequence([evidence_series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    return ds


def _secondary_capture(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _ct_image(p, uids, charset)
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    del ds.BurnedInAnnotation
    return ds


def _dx_burned_in(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _ct_image(p, uids, charset)
    ds.SOPClassUID = DX_IMAGE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Manufacturer = "ACME Medical"
    ds.ManufacturerModelName = "Mobile DR 7"
    ds.BurnedInAnnotation = "YES"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT_IMAGE
    ref.ReferencedSOPInstanceUID = uids["ct"]
    ds.ReferencedImageSequence = Sequence([ref])
    return ds


_CHARSETS = ["ISO_IR 192", "ISO_IR 100", "ISO_IR 192", "ISO_IR 100"]


def adversarial_corpus(*, seed: int = 7, patients: int = 4) -> list[AdversarialCase]:
    """Return the corpus: per patient a CT image, an RDSR, a Secondary Capture (withheld)
    and a DX with burned-in text (cleaned by a pixel rule for "Mobile DR 7", 8×8)."""
    rng = random.Random(seed)
    cases: list[AdversarialCase] = []
    for index in range(patients):
        p = _patient(rng, index)
        uids: dict[str, str] = {
            key: generate_uid(entropy_srcs=[str(seed), str(index), key])
            for key in ("study", "series", "frame", "ct", "event")
        }
        charset = _CHARSETS[index % len(_CHARSETS)]
        cases.append(AdversarialCase(f"p{index}-ct", _ct_image(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-rdsr", _rdsr(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-sc", _secondary_capture(p, uids, charset), p, True))
        cases.append(AdversarialCase(f"p{index}-dx", _dx_burned_in(p, uids, charset), p))
    return cases


def write_corpus(out_dir: Path, *, seed: int = 7, patients: int = 4) -> list[Path]:
    """Write the corpus as DICOM files under ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in adversarial_corpus(seed=seed, patients=patients):
        path = out_dir / f"{case.name}.dcm"
        case.dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def find_leaks(payload: bytes, tokens: frozenset[str]) -> set[str]:
    """Return the planted tokens found in an output's bytes (a simple, independent check).

    Each token is looked for case-insensitively in UTF-8, Latin-1 and UTF-16 (LE and BE)
    anywhere in the bytes; ``payload`` should exclude pixel data.
    """
    haystack = payload.lower()
    found = set()
    for token in tokens:
        for codec in ("utf_8", "latin_1", "utf_16_le", "utf_16_be"):
            try:
                needle = token.lower().encode(codec)
            except UnicodeEncodeError:
                continue
            if needle in haystack:
                found.add(token)
                break
    return found
