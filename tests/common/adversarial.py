"""An adversarial corpus: synthetic objects with identifiers planted where they hide.

Every patient's identifiers are planted in the places they turn up in the wild: Patient
module, Other Patient IDs (value and sequence), request attributes, free text (comments,
descriptions, protocol names), private tags of an unknown vendor (text, UTF-16 and
Latin-1 binary blobs), sequences nested three deep, SR content items (PNAME, TEXT,
person observer), verifying-observer and author sequences, non-ASCII character sets.
Issue-driven classes are planted too, as people write them: names in another script or
spelling than the header's (``NUNEZ DEL RIO`` / ``Núñez del Río``, ``MUELLER`` / ``Müller``,
``Itō`` and ``伊藤花子様``, ``王伟先生``, ``김민준 님``), short names (Li, Wu, Ono), relatives'
and staff names in free text, telephone, e-mail, street addresses, national identity numbers
with valid check digits (personnummer, henkilötunnus, BSN), IDs reformatted (``208-6828``),
dates with month names and in Korean and Japanese forms, code meanings written by the RIS,
overlay and presentation labels, multi-valued diagnoses, SR Subject Birth Date (121031)
items, in ISO_IR 100, ISO_IR 192, ISO 2022 IR 87 and GB18030; and objects whose pixels hold
rendered text without saying so (screen saves, ultrasound, VL photographs, PDF), which
must be withheld while every other object comes out. Used by the tests (zero leaks,
references resolve, one pseudonym per patient) and by ``bench/deid.py`` (leak counts of
medcoop beside dicognito and deid). Synthetic only.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
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
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"
PDF_DOCUMENT = "1.2.840.10008.5.1.4.1.1.104.1"


@dataclass(frozen=True, slots=True)
class _Person:
    """A patient of another country: the header's name, how others write it, the charset."""

    family: str
    given: str
    charset: str
    ideographic: str = ""  # the PN's second group (FAMILY^GIVEN in CJK)
    written: tuple[str, ...] = ()  # how a RIS or a person writes the name in free text


#: Patients whose names a cleaner working on exact header values would miss.
_WORLD = [
    _Person("NUNEZ DEL RIO", "MARIA", "ISO_IR 100", written=("Núñez del Río", "Sra. Núñez")),
    _Person("MUELLER", "JUERGEN", "ISO_IR 192", written=("Jürgen Müller", "Hr Müller")),
    _Person("Ito", "Hanako", "\\ISO 2022 IR 87", "伊藤^花子", ("伊藤花子様", "Itō Hanako")),
    _Person("Wang", "Wei", "GB18030", "王^伟", ("王伟先生",)),
    _Person("Kim", "Minjun", "ISO_IR 192", "김^민준", ("김민준 님",)),
    _Person("Ono", "Kenji", "ISO_IR 100", written=("ono, kenji",)),
    _Person("Wu", "Li", "ISO_IR 192", written=("Dr Li  Wu", "wu, li")),
    _Person("Lane", "Mary", "ISO_IR 100", written=("mary lane",)),
]


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
    charset: str = "ISO_IR 192"
    ideographic: str = ""
    written: tuple[str, ...] = ()
    #: Identifiers planted only in free text (relative, e-mail, national IDs...).
    extra: tuple[str, ...] = field(default=())

    @property
    def person_name(self) -> str:
        name = f"{self.family}^{self.given}"
        return f"{name}={self.ideographic}" if self.ideographic else name

    @property
    def tokens(self) -> frozenset[str]:
        """Strings whose presence anywhere in an output is a leak (as whole words)."""
        staff_family = {s.split("^")[0] for s in self.staff}
        iso = f"{self.birth_date[:4]}-{self.birth_date[4:6]}-{self.birth_date[6:]}"
        ideographic = {part for part in self.ideographic.split("^") if len(part) >= 2}
        written = {word for text in self.written for word in re.findall(r"\w+", text)}
        written |= set(re.findall(r"\w+", f"{self.family} {self.given}"))
        written = {w for w in written if w.lower() not in _NOT_NAMES and (len(w) >= 2)}
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
                *ideographic,
                *written,
                *self.extra,
            }
        )


_NOT_NAMES = frozenset({"dr", "sra", "hr", "del", "님", "様", "先生"})


def _luhn_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (1 if index % 2 else 2)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def _national_ids(rng: random.Random, birth: str) -> tuple[str, str, str]:
    """A Swedish personnummer, a Finnish henkilötunnus and a Dutch BSN, each valid."""
    short = birth[2:]
    serial = f"{rng.randint(100, 999)}"
    personnummer = f"{birth}-{serial}{_luhn_digit(short + serial)}"
    ddmmyy = f"{birth[6:]}{birth[4:6]}{birth[2:4]}"
    hetu = f"{ddmmyy}-{serial}{'0123456789ABCDEFHJKLMNPRSTUVWXY'[int(ddmmyy + serial) % 31]}"
    while True:
        body = f"{rng.randint(10_000_000, 99_999_999)}"
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        last = total % 11
        if last < 10:
            bsn = body + str(last)
            break
    return personnummer, hetu, f"{bsn[:4]}.{bsn[4:6]}.{bsn[6:]}"


@dataclass(frozen=True, slots=True)
class AdversarialCase:
    """One object of the corpus and what is expected of it."""

    name: str
    dataset: Dataset
    patient: PatientPlant
    expect_withheld: bool = False


def _patient(rng: random.Random, index: int) -> PatientPlant:
    if index % 2:  # every other patient from the world list, in its own character set
        person = _WORLD[(index // 2) % len(_WORLD)]
        return _world_patient(rng, index, person)
    return PatientPlant(
        family=_FAMILY[(index // 2) % len(_FAMILY)],
        given=_GIVEN[(index // 2) % len(_GIVEN)],
        patient_id=f"MRN{rng.randint(1_000_000, 9_999_999)}",
        other_id=f"H{rng.randint(10_000_000, 99_999_999)}",
        birth_date=f"19{rng.randint(30, 89)}{rng.randint(1, 12):02d}{rng.randint(10, 28)}",
        accession=f"ACC{rng.randint(100_000, 999_999)}",
        address=f"{rng.randint(10, 99)} {_STREETS[index % len(_STREETS)]}",
        phone=f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        institution=f"Saint {_GIVEN[(index + 3) % len(_GIVEN)]} Infirmary",
        staff=tuple(_STAFF[(index + k) % len(_STAFF)] for k in range(3)),
        charset=_CHARSETS[(index // 2) % len(_CHARSETS)],
    )


def _world_patient(rng: random.Random, index: int, person: _Person) -> PatientPlant:
    birth = f"19{rng.randint(30, 89)}{rng.randint(1, 12):02d}{rng.randint(10, 28)}"
    number = f"{rng.randint(1_000_000, 9_999_999)}"
    ids = _national_ids(rng, birth)
    relative = _FAMILY[(index + 2) % len(_FAMILY)]
    return PatientPlant(
        family=person.family,
        given=person.given,
        patient_id=number,  # digits only: written reformatted in the text
        other_id=f"H{rng.randint(10_000_000, 99_999_999)}",
        birth_date=birth,
        accession=f"ACC{rng.randint(100_000, 999_999)}",
        address=f"{rng.randint(10, 99)} {_STREETS[index % len(_STREETS)]}",
        phone=f"+46 8 {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(10, 99)}",
        institution=f"Saint {_GIVEN[(index + 3) % len(_GIVEN)]} Infirmary",
        staff=tuple(_STAFF[(index + k) % len(_STAFF)] for k in range(3)),
        charset=person.charset,
        ideographic=person.ideographic,
        written=person.written,
        extra=(relative, f"{person.given.lower()}.{relative.lower()}@mail.example", *ids,
               f"{number[:3]}-{number[3:]}"),
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
    ds.PatientName = p.person_name
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
                "DATE", _code("121031", "DCM", "Subject Birth Date"), Date=p.birth_date
            ),
            _content(
                "TEXT",
                _code("121106", "DCM", "Comment"),
                TextValue=f"seen by {p.family}; daughter {p.extra[0] if p.extra else 'Eva'} "
                f"informed, {' '.join(p.extra[1:2])}; {'; '.join(p.written)}",
            ),
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


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov")


def _free_text_ct(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    """A CT image whose free text, codes, overlays and labels carry every text class."""
    ds = _ct_image(p, uids, charset)
    ds.SOPInstanceUID = generate_uid()
    relative, email, personnummer, hetu, bsn, reformatted = (p.extra + ("",) * 6)[:6]
    y, m, d = p.birth_date[:4], int(p.birth_date[4:6]), int(p.birth_date[6:])
    month = (*_MONTH_NAMES, "Dec")[m - 1]
    written = "; ".join(p.written)
    ds.AdditionalPatientHistory = (
        f"seen by {relative.upper()}^ANNA at home; mother {relative} called {p.phone}; "
        f"mail {email}; lives at {p.address}; pnr {personnummer}, hetu {hetu}, BSN {bsn}; "
        f"born {d} {month} {y}, {d:02d}.{m:02d}.{y}; MRN {reformatted}; {written}"
    )
    if charset == "\\ISO 2022 IR 87":
        ds.ImageComments = f"{y}年{m}月{d}日生 {written}"
    elif charset in ("ISO_IR 192", "GB18030"):
        ds.ImageComments = f"{y}년 {m}월 {d}일 {written}"
    else:
        ds.ImageComments = f"{written} born {month} {d}, {y}"
    staff = p.staff[0].split("^")[0]
    meaning = f"CT chest (dr. {staff.lower()})"
    ds.ProcedureCodeSequence = Sequence([_code("CT123", "99RIS", meaning)])
    performed = _code("CT124", "99RIS", f"CT {written}")
    ds.PerformedProcedureCodeSequence = Sequence([performed])
    reference = Dataset()
    reference.RequestedProcedureCodeSequence = Sequence(
        [_code("CT125", "99RIS", f"CT for {p.given} {p.family}")]
    )
    ds.ReferencedRequestSequence = Sequence([reference])
    ds.add_new(0x60001500, "LO", f"{p.family} {p.given}")  # Overlay Label
    ds.add_new(0x60000022, "LO", f"marked by {staff} on {d:02d}/{m:02d}/{y}")  # Description
    ds.ContentDescription = f"annotations for {written}"
    ds.AdmittingDiagnosesDescription = [f"fall at {p.address}", f"{p.family}: syncope"]
    return ds


def _screen_save(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _ct_image(p, uids, charset)  # CT Image Storage, declared without burned-in text
    ds.SOPInstanceUID = generate_uid()
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    return ds


def _rendered(p: PatientPlant, uids: dict[str, str], charset: str, sop_class: str) -> Dataset:
    ds = _ct_image(p, uids, charset)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "US" if sop_class == US_IMAGE else "XC"
    del ds.BurnedInAnnotation
    return ds


def _pdf(p: PatientPlant, uids: dict[str, str], charset: str) -> Dataset:
    ds = _base(p, PDF_DOCUMENT, uids, charset)
    ds.Modality = "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4 " + f"{p.family} {p.patient_id}".encode() + b" %%EOF "
    return ds


_CHARSETS = ["ISO_IR 192", "ISO_IR 100", "ISO_IR 192", "ISO_IR 100"]


def adversarial_corpus(*, seed: int = 7, patients: int = 4) -> list[AdversarialCase]:
    """Return the corpus: per patient a CT image, an RDSR, a CT image full of free text
    (released clean), a DX with burned-in text (cleaned by a pixel rule for "Mobile DR 7",
    8×8), and five objects whose pixels or content hold rendered text (withheld): a
    Secondary Capture, a CT screen save, an ultrasound image, a VL photograph, a PDF."""
    rng = random.Random(seed)
    cases: list[AdversarialCase] = []
    for index in range(patients):
        p = _patient(rng, index)
        uids: dict[str, str] = {
            key: generate_uid(entropy_srcs=[str(seed), str(index), key])
            for key in ("study", "series", "frame", "ct", "event")
        }
        charset = p.charset
        cases.append(AdversarialCase(f"p{index}-ct", _ct_image(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-rdsr", _rdsr(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-sc", _secondary_capture(p, uids, charset), p, True))
        cases.append(AdversarialCase(f"p{index}-dx", _dx_burned_in(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-text", _free_text_ct(p, uids, charset), p))
        cases.append(AdversarialCase(f"p{index}-screen", _screen_save(p, uids, charset), p, True))
        cases.append(
            AdversarialCase(f"p{index}-us", _rendered(p, uids, charset, US_IMAGE), p, True)
        )
        cases.append(
            AdversarialCase(f"p{index}-vl", _rendered(p, uids, charset, VL_PHOTO), p, True)
        )
        cases.append(AdversarialCase(f"p{index}-pdf", _pdf(p, uids, charset), p, True))
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


_LEAK_CODECS = ("utf_8", "latin_1", "utf_16_le", "utf_16_be", "gb18030", "iso2022_jp")
_LEAK_CODECS += ("euc_kr",)  # type: ignore[assignment]


def find_leaks(payload: bytes, tokens: frozenset[str]) -> set[str]:
    """Return the planted tokens found in an output's bytes (a simple, independent check).

    Each token is looked for case-insensitively as a whole word (no ASCII letter or digit
    beside it; CJK tokens anywhere) in UTF-8, Latin-1, UTF-16 (LE and BE), GB18030,
    ISO 2022 JP and EUC-KR; ``payload`` should exclude pixel data.
    """
    found = set()
    for token in tokens:
        for codec in _LEAK_CODECS:
            try:
                needle = token.encode(codec)
            except UnicodeEncodeError:
                continue
            if codec == "iso2022_jp" and needle.startswith(b"\x1b"):
                needle = needle.rstrip(b"\x1b(B")[3:]  # the kanji bytes between the escapes
            before = b"(?<![A-Za-z0-9])" if token[:1].isascii() else b""
            after = b"(?![A-Za-z0-9])" if token[-1:].isascii() else b""
            if re.search(before + re.escape(needle) + after, payload, re.IGNORECASE):
                found.add(token)
                break
    return found
