"""The engine on encoded input: every transfer syntax, raw sequences, UN, nested charsets."""

from __future__ import annotations

import zlib
from io import BytesIO

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from medcoop.deid import (
    Deidentified,
    Deidentifier,
    PixelRule,
    SiteKey,
    Withheld,
    identifying_values,
    load_profile,
)
from medcoop.deid.elements import emit, from_dataset, parse
from tests.common.adversarial import adversarial_corpus, find_leaks

KEY = SiteKey(b"\x08" * 32)
RULE = PixelRule("ACME Medical", "Mobile DR 7", 8, 8, ((0, 0, 8, 2),))
SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
]


def _ok(result: Deidentified | Withheld) -> Deidentified:
    assert isinstance(result, Deidentified), getattr(result, "reason", "")
    return result


def _encoded(ds: Dataset, syntax: str) -> bytes:
    ds = ds.copy()
    ds.file_meta = FileMetaDataset(ds.file_meta)
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _read(data: bytes) -> Dataset:
    return dcmread(BytesIO(data))


def _plain(payload: bytes, ds: Dataset) -> bytes:
    """The output's bytes as the leak check sees them: inflated, pixel data aside."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax == DeflatedExplicitVRLittleEndian:
        start = 132 + 12 + int.from_bytes(payload[140:144], "little")
        payload = payload[:start] + zlib.decompress(payload[start:], -zlib.MAX_WBITS)
    pixels = ds.get("PixelData", b"") or b""
    return payload.replace(pixels, b"") if len(pixels) > 16 else payload


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_files_in_every_uncompressed_syntax_release_nothing_and_keep_their_syntax(
    syntax: str,
) -> None:
    deid = Deidentifier(KEY, load_profile("dose-monitoring", {"pixel_rules": [RULE]}))
    for case in adversarial_corpus(patients=2):
        from_memory = deid.deidentify(case.dataset)
        result = deid.deidentify(_read(_encoded(case.dataset, syntax)))
        if case.expect_withheld:
            assert isinstance(result, Withheld), case.name
            continue
        out = _ok(result)
        reread = _read(out.payload)
        assert reread.file_meta.TransferSyntaxUID == syntax
        assert find_leaks(_plain(out.payload, reread), case.patient.tokens) == set(), case.name
        # The same object gives the same de-identified content whatever its encoding.
        assert out.pseudonym == _ok(from_memory).pseudonym
        assert reread.SOPInstanceUID == _ok(from_memory).dataset.SOPInstanceUID
        assert reread.PatientName == out.dataset.PatientName
        assert reread.ProtocolName == _ok(from_memory).dataset.ProtocolName


def test_the_input_is_neither_modified_nor_converted() -> None:
    ds = _read(_encoded(adversarial_corpus(patients=1)[1].dataset, ExplicitVRLittleEndian))
    tags = list(ds.keys())  # iterating the dataset would convert its elements
    before = {tag: ds.get_item(tag) for tag in tags}
    _ok(Deidentifier(KEY).deidentify(ds))
    assert {tag: ds.get_item(tag) for tag in tags} == before  # still the raw elements


@pytest.mark.parametrize("syntax", SYNTAXES[:3])
def test_unchanged_elements_are_written_back_byte_for_byte(syntax: str) -> None:
    source = adversarial_corpus(patients=1)[1].dataset
    ds = _read(_encoded(source, syntax))
    implicit, little = syntax == ImplicitVRLittleEndian, syntax != ExplicitVRBigEndian
    elems = from_dataset(ds, implicit=implicit, little=little)
    out: list[bytes] = []
    emit(elems, out, implicit=implicit, little=little)
    reparsed, _ = parse(b"".join(out), 0, len(b"".join(out)), implicit=implicit, little=little)
    assert [e.tag for e in reparsed] == [e.tag for e in elems]
    kept = next(e for e in elems if e.tag == 0x00080070)  # Manufacturer
    assert kept.value == ds.get_item(0x00080070).value
    again = _read(_encoded(source, syntax))
    assert str(again.ContentSequence[-1].ContentSequence[2].TextValue).startswith("Chest")


def _with_undefined_lengths(ds: Dataset) -> Dataset:
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    return ds


def test_undefined_length_sequences_and_items_are_walked() -> None:
    case = adversarial_corpus(patients=1)[1]
    data = _encoded(_with_undefined_lengths(case.dataset.copy()), ExplicitVRLittleEndian)
    assert b"\xfe\xff\xdd\xe0" in data  # sequence delimiters: the lengths are undefined
    out = _ok(Deidentifier(KEY).deidentify(_read(data)))
    assert find_leaks(_plain(out.payload, out.dataset), case.patient.tokens) == set()
    observer = next(i for i in out.dataset.ContentSequence if i.ValueType == "PNAME")
    assert str(observer.PersonName) == "ANONYMOUS"


def _un(tag: int, value: bytes) -> RawDataElement:
    # Raw: pydicom would otherwise give a known tag its dictionary VR before writing.
    return RawDataElement(BaseTag(tag), "UN", len(value), value, 0, False, True)


def test_public_elements_sent_as_un_are_handled_by_their_own_vr() -> None:
    case = adversarial_corpus(patients=1)[0]
    family = case.patient.family
    ds = _read(_encoded(case.dataset, ExplicitVRLittleEndian))
    # As dcmread leaves elements a sender wrote as UN: raw, VR UN.
    ds[0x00104000] = _un(0x00104000, f"call {family} at home ".encode())  # LT
    ds[0x0018700A] = _un(0x0018700A, f"DET-{family}".encode())  # Detector ID, SH, D
    item = Dataset()
    item.PersonName = f"{family}^{case.patient.given}"  # unlisted PN: dummy
    item.TextValue = f"protocol notes for {family}"  # unlisted UT: cleaned
    wrapper = Dataset()
    wrapper.PerformedProtocolCodeSequence = Sequence([item])  # unlisted: walked
    inner = BytesIO()
    wrapper.save_as(inner, implicit_vr=True, little_endian=True)
    # A sequence sent as UN: its value is its items in implicit VR little endian.
    ds[0x00400260] = _un(0x00400260, inner.getvalue()[8:])
    out = _ok(Deidentifier(KEY, load_profile("basic")).deidentify(ds))
    assert find_leaks(_plain(out.payload, out.dataset), case.patient.tokens) == set()
    assert out.dataset[0x0018700A].value == "ANONYMOUS"  # the dummy of its VR, SH
    assert 0x00104000 not in out.dataset
    walked = out.dataset.get_item(0x00400260)
    assert walked.VR == "UN" and b"ANONYMOUS" in walked.value
    assert b"protocol notes for" in walked.value


def test_an_items_own_character_set_decodes_its_text() -> None:
    source = Dataset()
    source.SpecificCharacterSet = "ISO_IR 100"
    source.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    source.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.77"
    source.PatientID = "IDX77123"
    source.PatientName = "Grüber^Änne"
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.ScheduledProcedureStepDescription = "Kontrolle Grüber"
    source.ScheduledProcedureStepSequence = Sequence([item])
    source.file_meta = FileMetaDataset()
    source.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    data = _encoded(source, ExplicitVRLittleEndian)
    assert "Grüber".encode() in data and "Grüber".encode("latin_1") in data
    out = _ok(Deidentifier(KEY, load_profile("dose-monitoring")).deidentify(_read(data)))
    step = out.dataset.ScheduledProcedureStepSequence[0]
    assert step.ScheduledProcedureStepDescription == "Kontrolle"
    assert b"ber" not in out.payload.lower().replace(b"number", b"")


@pytest.mark.parametrize("syntax", SYNTAXES[:3])
def test_identifying_values_are_the_same_from_memory_and_from_a_file(syntax: str) -> None:
    for case in adversarial_corpus(patients=2):
        expected = identifying_values(case.dataset)
        assert identifying_values(_read(_encoded(case.dataset, syntax))) == expected
        assert case.patient.family.upper() in {v.upper() for v in expected}


def test_encapsulated_pixel_data_passes_through_with_its_undefined_length() -> None:
    ds = adversarial_corpus(patients=1)[0].dataset.copy()
    ds.PixelData = encapsulate([b"\xff\xd8fake jpeg frame\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    data = _encoded(ds, JPEGBaseline8Bit)
    out = _ok(Deidentifier(KEY).deidentify(_read(data)))
    reread = _read(out.payload)
    assert reread.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert reread["PixelData"].value == ds.PixelData
    assert out.payload.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")


def test_truncated_or_malformed_raw_values_are_withheld() -> None:
    ds = _read(_encoded(adversarial_corpus(patients=1)[1].dataset, ExplicitVRLittleEndian))
    raw = ds.get_item(0x0040A730)  # Content Sequence, raw
    ds[0x0040A730] = raw._replace(value=raw.value[:-7], length=raw.length - 7)
    result = Deidentifier(KEY).deidentify(ds)
    assert isinstance(result, Withheld) and result.reason.startswith("could not de-identify")


def test_in_place_makes_the_input_the_output() -> None:
    ds = _read(_encoded(adversarial_corpus(patients=1)[0].dataset, ExplicitVRLittleEndian))
    out = _ok(Deidentifier(KEY).deidentify(ds, in_place=True))
    assert out.dataset is ds
    assert ds.PatientID == out.pseudonym
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert _read(buffer.getvalue()).PatientID == out.pseudonym


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_file_bytes_give_the_same_output_as_the_dataset_dcmread_gives(syntax: str) -> None:
    deid = Deidentifier(KEY, load_profile("dose-monitoring", {"pixel_rules": [RULE]}))
    for case in adversarial_corpus(patients=2):
        data = _encoded(case.dataset, syntax)
        from_bytes = deid.deidentify_bytes(data)
        from_dataset = deid.deidentify(_read(data))
        if isinstance(from_dataset, Withheld):
            assert isinstance(from_bytes, Withheld) and from_bytes.reason == from_dataset.reason
            continue
        assert _ok(from_bytes).payload == from_dataset.payload, case.name
        assert from_bytes.dataset.PatientID == from_bytes.pseudonym


def test_file_bytes_the_parser_does_not_take_go_through_dcmread() -> None:
    deid = Deidentifier(KEY)
    case = adversarial_corpus(patients=1)[0]
    data = _encoded(case.dataset, ExplicitVRLittleEndian)
    without_preamble = data[132:]  # no preamble nor prefix: pydicom still reads it
    out = _ok(deid.deidentify_bytes(without_preamble))
    assert out.payload == _ok(deid.deidentify_bytes(data)).payload
    assert isinstance(deid.deidentify_bytes(b"not a dicom file at all"), Withheld)
    truncated = deid.deidentify_bytes(data[: len(data) // 2])
    assert (
        isinstance(truncated, Withheld)
        or find_leaks(_plain(truncated.payload, truncated.dataset), case.patient.tokens) == set()
    )
