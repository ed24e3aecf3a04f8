"""Objects cut short or damaged are told apart from whole ones, and never half-counted.

Issue 15: half of a Siemens CT RDSR was stored as 2 of its 4 events (one with blank
CTDIvol and DLP) beside the report's 724.52 mGy·cm total. A file cut short is found by
its bytes (an element, item or sequence runs past the end); a report that a sender read
as far as it could and re-encoded whole is found by its content (fewer events than its
accumulated dose data states).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from medcoop.dicom import Damaged, Extraction, extract_bytes, extract_dataset
from medcoop.dicom.part10 import TruncatedFileError, find_truncation, read_dataset

pytestmark = pytest.mark.corpus

_SIEMENS = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


def test_no_whole_corpus_file_is_called_truncated(corpus_dir: Path) -> None:
    files = sorted(corpus_dir.glob("*.dcm"))
    assert len(files) >= 60
    for path in files:
        assert find_truncation(path.read_bytes()) is None, path.name
        assert not isinstance(extract_bytes(path.read_bytes()), Damaged), path.name


def test_every_cut_of_every_dose_report_is_found(corpus_dir: Path) -> None:
    checked = 0
    for path in sorted(corpus_dir.glob("*RDSR*.dcm")):
        data = path.read_bytes()
        whole = extract_bytes(data)
        if not isinstance(whole, Extraction):
            continue
        for fraction in (0.2, 0.4, 0.5, 0.6, 0.8, 0.95, 0.999):
            cut = data[: int(len(data) * fraction)]
            assert find_truncation(cut) is not None, (path.name, fraction)
            result = extract_bytes(cut)
            assert isinstance(result, Damaged), (path.name, fraction)
            assert result.reason.startswith("truncated file")
            with pytest.raises(TruncatedFileError):
                read_dataset(cut)
        checked += 1
    assert checked >= 30


def test_half_a_siemens_ct_report_is_damaged_not_two_events(corpus_dir: Path) -> None:
    data = (corpus_dir / _SIEMENS).read_bytes()
    whole = extract_bytes(data)
    assert isinstance(whole, Extraction) and len(whole.events) == 4
    assert whole.totals.total_dlp_mgycm == pytest.approx(724.52)
    half = data[: len(data) // 2]
    result = extract_bytes(half)
    assert isinstance(result, Damaged)
    # the Content Sequence declares more bytes than the file holds
    assert result.reason.startswith("truncated file: (0040,A730) at offset")


def test_a_report_with_fewer_events_than_it_states_is_damaged_by_its_content(
    corpus_dir: Path,
) -> None:
    # a sender that read what it could of a cut file and sent it as a well-formed
    # dataset: the bytes then say nothing, the content does (its last two acquisitions
    # gone, its accumulated dose data still stating four)
    ds = pydicom.dcmread(corpus_dir / _SIEMENS)
    acquisitions = [
        i for i, item in enumerate(ds.ContentSequence)
        if item.ConceptNameCodeSequence[0].CodeValue == "113819"
    ]  # fmt: skip
    assert len(acquisitions) == 4
    for index in reversed(acquisitions[2:]):
        del ds.ContentSequence[index]
    buffer = io.BytesIO()
    ds.save_as(buffer)
    re_encoded = buffer.getvalue()
    assert find_truncation(re_encoded) is None
    for result in (extract_dataset(ds), extract_bytes(re_encoded)):
        assert isinstance(result, Damaged)
        assert result.reason == "damaged dose report: states 4 irradiation events, holds 2"
        assert result.sop_instance_uid == ds.SOPInstanceUID
