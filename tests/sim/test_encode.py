"""The fast encoder writes exactly the bytes pydicom's dcmwrite writes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from medcoop.sim import Fleet
from medcoop.sim.encode import UnsupportedElementError, encode_part10
from medcoop.sim.files import write_study


def _pydicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("adversarial", [False, True])
def test_bytes_equal_pydicoms_for_every_kind_of_object(adversarial: bool) -> None:
    studies = list(Fleet(seed=41, adversarial=adversarial).studies(120))
    datasets = [ds for study in studies for ds in study.datasets]
    assert {ds.SOPClassUID for ds in datasets} >= {
        "1.2.840.10008.5.1.4.1.1.88.67",
        "1.2.840.10008.5.1.4.1.1.88.68",
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.1.2",
        "1.2.840.10008.5.1.4.1.1.128",
    }
    for ds in datasets:
        assert encode_part10(ds) == _pydicom_bytes(ds), ds.SOPClassUID


def test_refuses_what_it_does_not_know() -> None:
    ds = next(Fleet(seed=41).studies(1)).datasets[0]
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    with pytest.raises(UnsupportedElementError, match="Explicit VR"):
        encode_part10(ds)
    other = next(Fleet(seed=42).studies(1)).datasets[0]
    other.SpecificCharacterSet = "ISO 2022 IR 87"
    with pytest.raises(UnsupportedElementError, match="character set"):
        encode_part10(other)
    odd = next(Fleet(seed=43).studies(1)).datasets[0]
    odd.add_new(0x00091010, "AT", 0x00100010)
    with pytest.raises(UnsupportedElementError, match="VR AT"):
        encode_part10(odd)


def test_writing_falls_back_to_pydicom_for_changed_datasets(tmp_path: Path) -> None:
    study = next(Fleet(seed=44).studies(1))
    study.datasets[0].add_new(0x00091010, "AT", 0x00100010)
    paths = write_study(tmp_path, study)
    assert dcmread(paths[0])[0x00091010].value == 0x00100010
    assert [dcmread(p).SOPInstanceUID for p in paths] == [
        ds.SOPInstanceUID for ds in study.datasets
    ]
