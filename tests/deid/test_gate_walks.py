"""The gate's two walks find the same identifiers: pydicom's dataset and the reader's elements.

The engine's gate reads the bytes it wrote with the one byte reader and decodes only the
elements whose bytes may hold a form (:func:`medcoop.deid.residuals.verify_elements`);
the dataset walk converts every element through pydicom. Run on objects full of
identifiers (the adversarial corpus before de-identification, in its four character sets
and ISO 2022, and pydicom's own files, character-set files included), both must report the
same hits, element by element, and so on every released output.
"""

from __future__ import annotations

from collections import Counter
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medcoop.deid import Deidentified, Deidentifier, SiteKey, identifying_values
from medcoop.deid.residuals import ResidualHit, verify_no_residuals
from tests.common.adversarial import adversarial_corpus

PYDICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "test-SR.dcm",
    "reportsi.dcm",
    "rtplan.dcm",
    "chrArab.dcm",
    "chrFren.dcm",
    "chrFrenMulti.dcm",
    "chrGerm.dcm",
    "chrGreek.dcm",
    "chrH31.dcm",
    "chrH32.dcm",
    "chrHbrw.dcm",
    "chrI2.dcm",
    "chrJapMulti.dcm",
    "chrJapMultiExplicitIR6.dcm",
    "chrKoreanMulti.dcm",
    "chrRuss.dcm",
    "chrSQEncoding.dcm",
    "chrSQEncoding1.dcm",
    "chrX1.dcm",
    "chrX2.dcm",
)


def _part10(ds: pydicom.Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _objects() -> list[tuple[str, bytes]]:
    found = [(case.name, _part10(case.dataset)) for case in adversarial_corpus(patients=8)]
    for name in PYDICOM_FILES:
        path = get_testdata_file(name)
        if path is not None:
            found.append((name, Path(str(path)).read_bytes()))
    return found


OBJECTS = _objects()


def _hits(found: list[ResidualHit]) -> Counter[tuple[str, str]]:
    return Counter((hit.path, hit.kind) for hit in found)


@pytest.mark.parametrize("dates_retained", [False, True])
def test_both_walks_find_the_same_identifiers(dates_retained: bool) -> None:
    compared = with_hits = 0
    for name, data in OBJECTS:
        ds = pydicom.dcmread(BytesIO(data), force=True)
        values = identifying_values(ds)
        by_dataset = verify_no_residuals(values, ds, dates_retained=dates_retained)
        by_elements = verify_no_residuals(values, data, dates_retained=dates_retained)
        assert _hits(by_elements) == _hits(by_dataset), name
        compared += 1
        with_hits += bool(by_dataset)
    assert compared == len(OBJECTS) >= 72
    assert with_hits >= 72  # every corpus object carries its patient's identifiers


def test_both_walks_agree_on_released_outputs() -> None:
    # Without the engine's retained device values, kept device names may count as hits.
    deid = Deidentifier(SiteKey(b"\x05" * 32))
    released = 0
    for name, data in OBJECTS:
        result = deid.deidentify_bytes(data)
        if not isinstance(result, Deidentified):
            continue
        values = identifying_values(pydicom.dcmread(BytesIO(data), force=True))
        output = pydicom.dcmread(BytesIO(result.payload), force=True)
        by_dataset = verify_no_residuals(values, output, dates_retained=True)
        by_elements = verify_no_residuals(values, result.payload, dates_retained=True)
        assert _hits(by_elements) == _hits(by_dataset), name
        released += 1
    assert released >= 25  # the corpus's CT, RDSR and text objects, and pydicom's files


@pytest.mark.parametrize("written", ["MÜLLER", "Müller", "MUELLER", "MULLER"])
def test_a_name_spelled_otherwise_in_a_kept_code_string_is_withheld(written: str) -> None:
    # The substring pass finds no "mueller" in "MÜLLER"; folding does (found this stop:
    # before, such an object was released).
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "MUELLER^JUERGEN"
    ds.BodyPartExamined = written  # kept by the dose-monitoring profile
    result = Deidentifier(SiteKey(b"\x05" * 32)).deidentify_bytes(_part10(ds))
    assert not isinstance(result, Deidentified)
    assert result.reason == "residual identifier: name at (0018,0015)"
