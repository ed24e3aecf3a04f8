"""The whole-file fast path (no ``dcmread``) gives exactly pydicom's dataset and extraction."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medcoop.dicom import Extraction, Skipped, extract_bytes, extract_dataset, rawsr
from medcoop.dicom.part10 import read_part10
from medcoop.dicom.values import dataset_encoding
from medcoop.sim import Fleet
from medcoop.sim.encode import encode_part10

from .test_rawsr import shape, slow_tree

#: pydicom's own slow paths take ~15 s on the largest corpus files: kept out for CI time.
_BIG = 1_000_000


def _pydicom_extract(data: bytes) -> Extraction | Skipped:
    return extract_dataset(pydicom.dcmread(io.BytesIO(data), force=True))


def _plain(value: Any) -> Any:
    """Return a converted pydicom value as comparable Python values."""
    if isinstance(value, Sequence | list) and all(isinstance(v, Dataset) for v in value):
        return [{int(e.tag): (e.VR, _plain(e.value)) for e in item} for item in value]
    if isinstance(value, pydicom.multival.MultiValue):
        return [str(v) for v in value]
    return value


@pytest.fixture(scope="module")
def fleet_files() -> list[bytes]:
    """Every object of a small simulated fleet (RDSRs, image headers), identifiers planted."""
    fleet = Fleet(seed=7, start=date(2026, 2, 2), adversarial=True, split_reports=0.5)
    return [encode_part10(ds) for study in fleet.studies(60) for ds in study.datasets]


def _recode(data: bytes, syntax: str, undefined: bool) -> bytes:
    """Return ``data`` written again by pydicom in ``syntax``, sequences of undefined length."""
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    if undefined:
        for elem in ds.iterall():
            if elem.VR == "SQ":
                elem.is_undefined_length = True
                for item in elem.value:
                    item.is_undefined_length_sequence_item = True
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    pydicom.dcmwrite(
        out,
        ds,
        implicit_vr=syntax == ImplicitVRLittleEndian,
        little_endian=syntax != ExplicitVRBigEndian,
        force_encoding=True,  # the syntax given, not the dataset's original one
    )
    return out.getvalue()


@pytest.mark.corpus
def test_read_part10_holds_dcmreads_elements(corpus_dir: Path) -> None:
    read = 0
    for path in sorted(corpus_dir.glob("*.dcm")):
        data = path.read_bytes()
        ours = read_part10(data)
        if ours is None:
            continue  # dcmread reads it (an undefined-length UN sequence)
        theirs = pydicom.dcmread(io.BytesIO(data), force=True)
        for pixels in (0x7FE00008, 0x7FE00009, 0x7FE00010):  # left out, not copied
            theirs._dict.pop(pixels, None)  # type: ignore[call-overload]
        assert list(ours._dict) == list(theirs._dict), path.name
        encoded = dict(ours._dict)  # before converting values converts some others
        for tag, elem in theirs._dict.items():
            mine = encoded[tag]
            assert isinstance(mine, RawDataElement), path.name
            if isinstance(elem, RawDataElement):
                assert mine == elem, (path.name, tag)
            elif elem.VR != "SQ" or len(data) < _BIG:
                # converted by dcmread: the character set, and undefined-length sequences
                assert mine.length == (0xFFFFFFFF if elem.VR == "SQ" else len(mine.value))
                assert _plain(ours[tag].value) == _plain(elem.value), (path.name, tag)
        read += 1
    assert read >= 60  # of 65: one has an undefined-length UN sequence


@pytest.mark.corpus
def test_extract_bytes_matches_pydicom_on_every_corpus_file(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.glob("*.dcm")):
        data = path.read_bytes()
        theirs = pydicom.dcmread(io.BytesIO(data), force=True)
        content = theirs._dict.get(0x0040A730)
        if len(data) > _BIG and content is not None and not isinstance(content.value, bytes):
            continue  # pydicom's own tree walk of a dcmread-parsed 3 MB report: ~15 s
        assert extract_bytes(data) == extract_dataset(theirs), path.name


@pytest.mark.corpus
def test_fast_tree_of_read_part10_matches_pydicom(corpus_dir: Path) -> None:
    """Including the reports whose content dcmread parses at once (undefined length)."""
    compared = 0
    for path in sorted(corpus_dir.glob("*.dcm")):
        data = path.read_bytes()
        ds = read_part10(data)
        if ds is None or 0x0040A730 not in ds._dict or len(data) > _BIG:
            continue
        fast = rawsr.read_tree_raw(ds)
        if fast is None:
            assert dataset_encoding(ds) is None, path.name  # ISO 2022 escapes
            continue
        assert shape(fast) == shape(slow_tree(pydicom.dcmread(path, force=True))), path.name
        compared += 1
    assert compared >= 38  # of the 39 SR documents


def test_extract_bytes_matches_pydicom_on_the_fleet(fleet_files: list[bytes]) -> None:
    kinds = set()
    for data in fleet_files:
        ours = extract_bytes(data)
        assert ours == _pydicom_extract(data)
        if isinstance(ours, Extraction):
            kinds.add(ours.source.value)
    assert {"rdsr", "rrdsr", "image_header"} <= kinds


def test_fast_tree_matches_pydicom_on_the_fleet(fleet_files: list[bytes]) -> None:
    trees = 0
    for data in fleet_files:
        ds = read_part10(data)
        assert ds is not None
        if 0x0040A730 in ds._dict:
            fast = rawsr.read_tree_raw(ds)
            assert fast is not None
            assert shape(fast) == shape(slow_tree(pydicom.dcmread(io.BytesIO(data))))
            trees += 1
    assert trees >= 20


@pytest.mark.parametrize(
    ("syntax", "undefined"),
    [
        (ImplicitVRLittleEndian, False),
        (ImplicitVRLittleEndian, True),
        (ExplicitVRBigEndian, False),
        (ExplicitVRLittleEndian, True),
    ],
)
def test_other_encodings_match_pydicom(
    fleet_files: list[bytes], syntax: str, undefined: bool
) -> None:
    """The generic readers (implicit VR, big endian, undefined lengths) on fleet reports."""
    reports = [d for d in fleet_files if b"1.2.840.10008.5.1.4.1.1.88.6" in d[:2048]][:8]
    assert reports
    for original in reports:
        data = _recode(original, syntax, undefined)
        ds = read_part10(data)
        assert ds is not None
        fast = rawsr.read_tree_raw(ds)
        assert fast is not None
        assert shape(fast) == shape(slow_tree(pydicom.dcmread(io.BytesIO(data))))
        assert extract_bytes(data) == _pydicom_extract(data)
        assert extract_bytes(data) == extract_bytes(original)


def test_warm_caches_give_what_cold_ones_give(fleet_files: list[bytes]) -> None:
    rawsr.clear_caches()
    cold = [extract_bytes(data) for data in fleet_files]
    warm = [extract_bytes(data) for data in fleet_files]
    assert cold == warm


def test_what_read_part10_declines_is_read_by_pydicom(fleet_files: list[bytes]) -> None:
    data = next(d for d in fleet_files if b"1.2.840.10008.5.1.4.1.1.88.67" in d[:2048])
    ds = pydicom.dcmread(io.BytesIO(data))
    meta_length = int(ds.file_meta.FileMetaInformationGroupLength)
    bare = data[128 + 4 + 12 + meta_length :]  # no preamble, no File Meta
    deflated = io.BytesIO()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(deflated, enforce_file_format=True)
    expected = extract_bytes(data)
    assert isinstance(expected, Extraction)
    for other in (bare, deflated.getvalue()):
        assert read_part10(other) is None
        assert extract_bytes(other) == expected
    assert read_part10(data[: len(data) // 2]) is None  # truncated: dcmread decides
    assert isinstance(extract_bytes(b"not DICOM at all"), Skipped)
