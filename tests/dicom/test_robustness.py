"""Malformed and unexpected objects never crash extraction: they give Skipped with a reason."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medcoop.dicom import Damaged, Extraction, Skipped, extract_bytes, extract_dataset
from medcoop.dicom.cli import read_and_extract
from medcoop.dicom.part10 import find_truncation

from . import builders as b

_SAMPLES = [
    "CT-RDSR-Siemens_Flash-QA-DS.dcm",
    "RF-RDSR-Siemens-Zee.dcm",
    "MG-RDSR-Hologic_2D.dcm",
    "NM-RRDSR-Siemens.dcm",
    "DX-Im-GE_XR220-1.dcm",
]


def _extract_bytes(data: bytes) -> Extraction | Skipped | None:
    """Extract through pydicom's reader and, apart, the fast one: both must agree."""
    fast = extract_bytes(data)
    assert isinstance(fast, Extraction | Skipped)
    if isinstance(fast, Damaged) and fast.reason.startswith("truncated file"):
        # pydicom keeps a short value or fewer items where the bytes end: the fast path
        # says the file is cut short instead (whatever pydicom's path would have counted)
        assert find_truncation(data) is not None
        return fast
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:
        return None  # the reader refused: the CLI reports that as skipped
    outcome = extract_dataset(ds)
    assert fast == outcome
    return outcome


@pytest.fixture(scope="module")
def fleet_report() -> bytes:
    """A simulated CT report: the fast reader's caches know its layout after one read."""
    from medcoop.sim import Fleet
    from medcoop.sim.encode import encode_part10

    for study in Fleet(seed=11).studies(20):
        for ds in study.datasets:
            if ds.SOPClassUID == b.XRAY_RDSR:
                data = encode_part10(ds)
                extract_bytes(data)
                return data
    raise AssertionError("no dose report in 20 studies")


def _samples(corpus_dir: Path, name: str, fleet_report: bytes) -> bytes:
    return fleet_report if name == "fleet" else (corpus_dir / name).read_bytes()


@pytest.mark.corpus
@pytest.mark.parametrize("name", [*_SAMPLES, "fleet"])
def test_truncated_files_never_raise(corpus_dir: Path, name: str, fleet_report: bytes) -> None:
    data = _samples(corpus_dir, name, fleet_report)
    outcomes = [_extract_bytes(data[:cut]) for cut in range(0, len(data), max(1, len(data) // 30))]
    assert all(o is None or isinstance(o, Extraction | Skipped) for o in outcomes)
    assert any(isinstance(o, Skipped) for o in outcomes)  # short prefixes hold nothing


@pytest.mark.corpus
@pytest.mark.parametrize("name", [*_SAMPLES, "fleet"])
def test_mutated_bytes_never_raise(corpus_dir: Path, name: str, fleet_report: bytes) -> None:
    data = bytearray(_samples(corpus_dir, name, fleet_report))
    rng = random.Random(name)
    for _ in range(20):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            mutated[rng.randrange(132, len(mutated))] = rng.randrange(256)
        outcome = _extract_bytes(bytes(mutated))
        assert outcome is None or isinstance(outcome, Extraction | Skipped)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_junk_files_are_skipped(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("junk") / "junk.dcm"
    path.write_bytes(data)
    result = read_and_extract(path)
    assert isinstance(result, Skipped) and result.reason


_VTS = st.sampled_from(["NUM", "CODE", "TEXT", "CONTAINER", "UIDREF", "DATETIME", "PNAME", "??"])
_CONCEPTS = st.sampled_from(
    [
        ("113819", "DCM"), ("113830", "DCM"), ("113838", "DCM"), ("113706", "DCM"),
        ("122130", "DCM"), ("113769", "DCM"), ("113502", "DCM"), ("113507", "DCM"),
        ("113811", "DCM"), ("113813", "DCM"), ("113702", "DCM"), ("111637", "DCM"),
        ("G-C171", "SRT"), ("113721", "DCM"), ("113831", "DCM"), ("113900", "DCM"),
    ]
)  # fmt: skip
_VALUES = st.one_of(st.text(max_size=20), st.floats(allow_nan=True), st.integers(-(10**12), 10**12))


@st.composite
def _items(draw: st.DrawFn, depth: int = 0) -> Dataset:
    vt = draw(_VTS)
    concept = draw(_CONCEPTS)
    item = Dataset()
    item.ValueType = vt
    if draw(st.booleans()):
        item.ConceptNameCodeSequence = Sequence([b.code(concept[0], concept[1], "x")])
    value = draw(_VALUES)
    if vt == "NUM" and draw(st.booleans()):
        measured = Dataset()
        try:
            measured.NumericValue = str(value)[:16]
        except ValueError:  # pydicom refuses to build some junk; reading junk is tested above
            measured.NumericValue = "-1"
        unit = draw(st.sampled_from(["mGy", "Gy.m2", "dGy.cm2", "s", "", "mGycm", "%%"]))
        measured.MeasurementUnitsCodeSequence = Sequence([b.code(unit, "UCUM", unit)])
        item.MeasuredValueSequence = Sequence([measured])
    elif vt == "CODE":
        item.ConceptCodeSequence = Sequence([b.code(str(value)[:16], "SRT", "y")])
    elif vt in ("TEXT", "UIDREF", "DATETIME"):
        item.TextValue = str(value)[:60]
        item.UID = "1.2.3"
        item.DateTime = str(value)[:26]
    if vt == "CONTAINER" and depth < 3:
        item.ContentSequence = Sequence(
            draw(st.lists(_items(depth + 1), max_size=4))  # type: ignore[call-arg]
        )
    return item


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_items(), max_size=6),
    st.sampled_from([("113701", "DCM"), ("113500", "DCM"), ("18748-4", "LN")]),
)
def test_random_content_trees_never_raise(items: list[Dataset], title: tuple[str, str]) -> None:
    ds = b.rdsr(*items)
    ds.ConceptNameCodeSequence = Sequence([b.code(title[0], title[1], "t")])
    result = extract_dataset(ds)
    assert isinstance(result, Extraction | Skipped)
    if isinstance(result, Extraction):
        assert all(e.event_uid for e in result.events)


def test_hostile_depth_is_refused_not_recursed() -> None:
    leaf = b.text(("121106", "DCM", "Comment"), "deep")
    for _ in range(200):
        leaf = b.container(("113819", "DCM", "CT Acquisition"), leaf)
    result = extract_dataset(b.rdsr(b.CT_PROC, leaf))
    assert isinstance(result, Skipped) and "deeper" in result.reason
