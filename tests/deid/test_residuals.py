"""Tests for the residual-identifier scan, identifying_values and clean_text."""

from __future__ import annotations

from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.sequence import Sequence

from medcoop.deid import clean_text, identifying_values, verify_no_residuals
from medcoop.deid.residuals import (
    _build_scanner,
    _leftovers,
    _remove_ascii_forms,
    _remove_folded,
    _text_pattern,
)


def _patient() -> Dataset:
    ds = Dataset()
    ds.PatientName = "OKONKWO^ADAEZE^CHIOMA"
    ds.PatientID = "MRN4471902"
    ds.PatientBirthDate = "19610723"
    ds.AccessionNumber = "ACC99120"
    ds.InstitutionName = "Saint Brigid Infirmary"
    ds.OperatorsName = "PETERSEN^LARS"
    observer = Dataset()
    observer.VerifyingObserverName = "NAKAMURA^HIROSHI"
    ds.VerifyingObserverSequence = Sequence([observer])
    return ds


def test_identifying_values_collects_names_ids_dates_and_nested_people() -> None:
    values = identifying_values(_patient())
    for expected in (
        "OKONKWO^ADAEZE^CHIOMA",
        "OKONKWO",
        "ADAEZE",
        "MRN4471902",
        "19610723",
        "ACC99120",
        "Saint Brigid Infirmary",
        "PETERSEN",
        "NAKAMURA",
    ):
        assert expected in values


def test_identifying_values_can_leave_institution_out() -> None:
    values = identifying_values(_patient(), include_institution=False)
    assert "Saint Brigid Infirmary" not in values
    assert "MRN4471902" in values


@pytest.mark.parametrize(
    "text",
    [
        "Adaeze Okonkwo",
        "okonkwo, adaeze",
        "OKONKWO ADAEZE",
        "seen 1961-07-23",
        "23/07/1961",
        "ref MRN4471902",
        "acc99120 follow-up",
    ],
)
def test_scan_finds_every_form_in_text(text: str) -> None:
    out = Dataset()
    out.StudyDescription = text
    hits = verify_no_residuals(identifying_values(_patient()), out)
    assert [h.path for h in hits] == ["(0008,1030)"]


def test_scan_reports_nested_path_and_kind_but_never_the_value() -> None:
    item = Dataset()
    item.TextValue = "reviewed by Nakamura Hiroshi"
    out = Dataset()
    out.ContentSequence = Sequence([Dataset(), item])
    hits = verify_no_residuals(identifying_values(_patient()), out)
    assert len(hits) == 1
    assert hits[0].path == "(0040,A730)[1]>(0040,A160)"
    assert hits[0].kind == "name"
    assert "NAKAMURA" not in repr(hits[0]).upper()


@pytest.mark.parametrize("codec", ["utf_8", "latin_1", "utf_16_le", "utf_16_be"])
def test_scan_finds_values_in_private_binary_blobs(codec: str) -> None:
    out = Dataset()
    out.add_new(0x00290010, "LO", "ACME BLOB")
    out.add_new(0x00291001, "OB", b"\x00\x01" + "mrn4471902".encode(codec) + b"\x00")
    hits = verify_no_residuals(identifying_values(_patient()), out)
    assert [h.path for h in hits] == ["(0029,1001)"]


def test_scan_finds_non_ascii_names_in_encoded_bytes() -> None:
    source = Dataset()
    source.SpecificCharacterSet = "ISO_IR 192"
    source.PatientName = "Müller^Jürgen"
    out = Dataset()
    out.add_new(0x00410010, "LO", "UNKNOWN VENDOR")
    out.add_new(0x00411001, "UN", "notes: MÜLLER".encode("latin_1"))
    hits = verify_no_residuals(identifying_values(source), out)
    assert [h.path for h in hits] == ["(0041,1001)"]


@pytest.mark.parametrize("codec", ["utf_8", "utf_16_le", "utf_16_be"])
def test_the_byte_prefilter_finds_names_beyond_latin_1_in_utf_16(codec: str) -> None:
    # The gate's substring pass drops NUL bytes: a UTF-16 name must still be found.
    source = Dataset()
    source.SpecificCharacterSet = "ISO_IR 192"
    source.PatientName = "Łukaszewicz^Zoë"
    out = Dataset()
    out.SpecificCharacterSet = "ISO_IR 192"
    out.add_new(0x00410010, "LO", "UNKNOWN VENDOR")
    out.add_new(0x00411001, "OB", b"\x00" + "ŁUKASZEWICZ".encode(codec) + b"\x00\x00")
    buffer = BytesIO()
    out.save_as(buffer, implicit_vr=False, little_endian=True)
    hits = verify_no_residuals(identifying_values(source), buffer.getvalue())
    assert [h.path for h in hits] == ["(0041,1001)"]


def test_scan_of_encoded_bytes_parses_and_walks() -> None:
    out = Dataset()
    out.PatientName = "ANONYMOUS"
    out.ImageComments = "for petersen"
    buffer = BytesIO()
    out.save_as(buffer, implicit_vr=True, little_endian=True)
    hits = verify_no_residuals(identifying_values(_patient()), buffer.getvalue())
    assert [h.path for h in hits] == ["(0020,4000)"]


def test_scan_of_unparseable_bytes_scans_every_byte() -> None:
    hits = verify_no_residuals({"MRN4471902"}, b"garbage MRN4471902 garbage")
    assert len(hits) == 1


def test_clean_output_has_no_hits_and_pixel_data_is_not_scanned() -> None:
    out = Dataset()
    out.PatientName = "ANONYMOUS"
    out.StudyDescription = "CT CHEST"
    out.PixelData = b"MRN4471902" * 4
    assert verify_no_residuals(identifying_values(_patient()), out) == []


def test_short_values_are_not_scanned() -> None:
    out = Dataset()
    out.StudyDescription = "LI XR"
    assert verify_no_residuals({"LI", "XR", "12"}, out) == []


def test_clean_text_removes_identifiers_and_keeps_the_protocol() -> None:
    values = identifying_values(_patient())
    text = "CT ABDOMEN Dr. Smith for Adaeze Okonkwo MRN4471902 23/07/1961 tel +44 20 7946 0958"
    cleaned = clean_text(text, values)
    assert cleaned is not None
    assert cleaned.startswith("CT ABDOMEN")
    for leaked in ("Smith", "Adaeze", "Okonkwo", "4471902", "1961", "7946"):
        assert leaked not in cleaned


def test_clean_text_returns_none_when_nothing_is_left() -> None:
    assert clean_text("OKONKWO, ADAEZE", identifying_values(_patient())) is None
    assert clean_text(" -- ", set()) is None


def test_clean_text_keeps_ordinary_descriptions() -> None:
    assert clean_text("DR CHEST PA 2 views", set()) == "DR CHEST PA 2 views"


_VOCABULARY = ["a", "ab", "b", "ba", "k9", "1", "AB", "B1"]
_FORMS = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=3).map(
    lambda words: " ".join(words).lower()
)
_TEXTS = st.lists(
    st.sampled_from([*_VOCABULARY, " ", "  ", "\t", "\n", "\x1c", ",", "0", "x"]), max_size=16
).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=_TEXTS, needles=st.lists(_FORMS, min_size=1, max_size=4, unique=True))
def test_ascii_removal_is_the_expression_substitution(text: str, needles: list[str]) -> None:
    # clean_text removes forms from ASCII text without compiling an expression: the
    # result must be exactly the expression's on the folded text (flexible whitespace,
    # whole words, first form in order at a position, no overlaps).
    forms = tuple(needles)
    assert _remove_ascii_forms(text, forms) == _remove_folded(text, _text_pattern(forms))


_PHONE = "+44 20 2542 6991"
_PIECES = st.sampled_from(
    [
        "2542",
        "6991",
        "+44 20 2542 6991",
        "20",
        "7",
        " ",
        "x",
        "Łu",
        "2.25.1",
        "88123456",
        "\x00",
    ]
)
_BLOBS = st.lists(
    st.tuples(_PIECES, st.sampled_from(["utf_8", "utf_16_le", "utf_16_be"])), max_size=8
).map(lambda parts: b"".join(text.encode(codec) for text, codec in parts))


@settings(max_examples=500, deadline=None)
@given(data=_BLOBS)
def test_the_byte_prefilter_is_a_superset_of_the_expressions(data: bytes) -> None:
    # The gate skips the precise scan when the substring pass finds nothing: that pass
    # must find something wherever the expressions do (digit boundaries, UTF-16, NULs).
    scanner = _build_scanner({_PHONE, "88123456", "ŁUKASZ^ADA"}, ["utf_8"])
    if _leftovers(scanner, data, dates_retained=False):
        assert scanner.maybe_in_bytes(data)


def test_a_number_inside_a_longer_number_does_not_wake_the_scan() -> None:
    scanner = _build_scanner({_PHONE}, ["utf_8"])
    assert not scanner.maybe_in_bytes(b"2.25.1125420001\x00")  # a remapped UID
    assert scanner.maybe_in_bytes(b"call 2542 now")
    assert scanner.maybe_in_bytes("925429".encode("utf_16_le"))  # no boundary in UTF-16


_WORLD_VALUES = {
    "MÜLLER^JÜRGEN", "ITŌ^HANAKO", "NUNEZ DEL RIO^MARIA", "2086828", "19851203",
    "山田^太郎", "WU^LI", "KIM^MINJUN=김^민준",
}


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("seen by Mueller and muller", ["Mueller", "muller"]),  # transliterated, folded
        ("MUELLER called", ["MUELLER"]),
        ("Núñez del Río came; Sra. Núñez", ["Núñez", "Río"]),  # diacritics the header lacks
        ("Itoh and ITOU and Itō", ["Itoh", "ITOU", "Itō"]),
        ("山田太郎様 CT", ["山田", "太郎", "様"]),  # CJK without spaces, with an honorific
        ("김민준 님 검사", ["김민준", "님"]),
        ("Dr Li  Wu said; wu, li called", ["Li", "Wu", "wu", "li"]),  # short names, any case
        ("ID 208-6828 ok", ["208-6828"]),  # a reformatted ID
        ("born 3 Dec 1985, December 3, 1985", ["1985", "Dec"]),
        ("1985년 12월 3일 검사; 1985年12月3日", ["1985"]),
        ("seen by SMITH^ANNA at home", ["SMITH", "ANNA"]),  # a name not in the object
        ("CT chest (dr. yu)", ["yu", "()"]),
        ("Lives at 12 Juniper Crescent; Wolfsgarten Weg 7", ["Juniper", "Wolfsgarten"]),
        ("mail a.b@x.org, call +46 8 123 456 78", ["@", "123"]),
        ("pnr 19851203-1234, hetu 131052-308T, BSN 1505.87.706", ["1234", "308T", "706"]),
        ("mother: Anna Karlsson", ["Karlsson"]),
    ],
)
def test_clean_text_removes_every_class(text: str, gone: list[str]) -> None:
    cleaned = clean_text(text, _WORLD_VALUES) or ""
    for word in gone:
        assert word not in cleaned, (text, cleaned)


@pytest.mark.parametrize(
    "text",
    ["DR CHEST PA", "CHEST 1.25 mm 120 kV 120.5", "Abdomen/Pelvis 3.0 B30f", "Mammo MLO R",
     "dose-monitoring MONOCHROME2", "Dose monitoring ring", "Thorax 5mm"],
)
def test_clean_text_keeps_ordinary_clinical_text(text: str) -> None:
    assert clean_text(text, _WORLD_VALUES | {"ONO^KENJI", "MIN^JI"}) == text


def test_national_ids_are_told_by_their_check_digits() -> None:
    from medcoop.deid.patterns import national_id_kinds

    assert national_id_kinds("19851203-1230") == []  # wrong Luhn digit
    assert national_id_kinds("131052-308T") == ["henkilötunnus"]
    assert national_id_kinds("131052-308A") == []
    assert national_id_kinds("BSN 1505.87.706") == []  # the eleven test fails
    assert "BSN" in national_id_kinds("111222333")
