"""Part 10 files: they parse, round-trip, are byte-identical for a seed, and travel by DIMSE."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from typer.testing import CliRunner

from medcoop.cli import app
from medcoop.sim import Fleet
from medcoop.sim.files import study_dir

KNOWN_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.67",
    "1.2.840.10008.5.1.4.1.1.88.68",
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2",
    "1.2.840.10008.5.1.4.1.1.128",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return Fleet(seed=21).write(tmp_path_factory.mktemp("fleet"), n=60)


def test_files_are_part10_explicit_little_endian(written: list[Path]) -> None:
    assert len(written) > 60
    for path in written:
        raw = path.read_bytes()
        assert raw[128:132] == b"DICM"
        ds = dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID in KNOWN_SOP_CLASSES


def test_files_round_trip_the_in_memory_datasets(tmp_path: Path) -> None:
    fleet = Fleet(seed=21)
    studies = list(fleet.studies(25))
    paths = Fleet(seed=21).write(tmp_path, n=25)
    originals = [ds for study in studies for ds in study.datasets]
    assert len(paths) == len(originals)
    for path, original in zip(paths, originals, strict=True):
        read = dcmread(path)
        assert read.SOPInstanceUID == original.SOPInstanceUID
        assert read.PatientName == original.PatientName
        assert read.PatientID == original.PatientID
        # the whole content survives a write/read cycle, item for item
        assert list(read) == list(original)


def test_names_survive_their_character_set(tmp_path: Path) -> None:
    fleet = Fleet(seed=4)
    fleet.write(tmp_path, n=80)
    non_ascii = [s for s in fleet.studies(80) if not s.truth.patient.name.isascii()]
    assert len(non_ascii) > 5, "the fleet should plant non-ASCII names"
    charsets = set()
    for study in non_ascii:
        paths = sorted(study_dir(tmp_path, study.truth.index).glob("*.dcm"))
        assert len(paths) == len(study.datasets)
        for path in paths:
            ds = dcmread(path)
            charsets.add(ds.SpecificCharacterSet)
            assert str(ds.PatientName) == study.truth.patient.name
            assert ds.PatientAddress == study.truth.patient.address
    assert charsets == {"ISO_IR 100", "ISO_IR 192"}


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    first = Fleet(seed=8).write(tmp_path / "a", n=15)
    second = Fleet(seed=8).write(tmp_path / "b", n=15)
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_cli_generates_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["sim", "generate", str(tmp_path / "out"), "--studies", "6", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out").rglob("*.dcm"))
    expected = sum(len(s.datasets) for s in Fleet(seed=3).studies(6))
    assert len(files) == expected
    assert {dcmread(f).StudyInstanceUID for f in files} == {
        s.truth.study_instance_uid for s in Fleet(seed=3).studies(6)
    }


def test_cli_takes_the_count_then_the_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "generate", "4", str(tmp_path / "out"), "-s", "3"])
    assert result.exit_code == 0, result.output
    studies = {dcmread(f).StudyInstanceUID for f in (tmp_path / "out").rglob("*.dcm")}
    assert studies == {s.truth.study_instance_uid for s in Fleet(seed=3).studies(4)}
    refused = CliRunner().invoke(app, ["sim", "generate", "many", str(tmp_path / "x")])
    assert refused.exit_code != 0 and "not a number of studies" in refused.output


def test_cli_adversarial_plants_hard_identifiers(tmp_path: Path) -> None:
    args = ["sim", "generate", str(tmp_path), "-n", "3", "--seed", "5", "--adversarial"]
    args += ["--split-reports", "0.5"]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--site", "Lakeside"])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.rglob("*.dcm"))
    assert files
    for path in files:
        ds = dcmread(path)
        assert ds.InstitutionName == "Lakeside"
        assert "OtherPatientIDsSequence" in ds
        assert any(element.tag.is_private for element in ds)


def test_cli_rejects_a_file_as_output_folder(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    result = CliRunner().invoke(app, ["sim", "generate", str(target), "--studies", "1"])
    assert result.exit_code != 0
    assert target.read_text() == "not a folder"


@pytest.fixture
def storage_scp() -> Iterator[tuple[int, list[Dataset]]]:
    """A real pynetdicom Storage SCP on a free port that keeps what it receives."""
    received: list[Dataset] = []

    def on_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="SIMSTORE")
    ae.supported_contexts = AllStoragePresentationContexts
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


def test_dcmtk_storescu_sends_every_file(
    written: list[Path], storage_scp: tuple[int, list[Dataset]]
) -> None:
    if shutil.which("storescu") is None:
        if os.environ.get("CI"):
            pytest.fail("dcmtk storescu is required in CI")
        pytest.skip("dcmtk storescu is not installed")
    port, received = storage_scp
    subset = written[:30]
    result = subprocess.run(
        ["storescu", "-aec", "SIMSTORE", "127.0.0.1", str(port), *map(str, subset)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(ds.SOPInstanceUID for ds in received) == sorted(
        dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in subset
    )


def test_pynetdicom_sends_the_in_memory_datasets(storage_scp: tuple[int, list[Dataset]]) -> None:
    port, received = storage_scp
    datasets = [ds for s in Fleet(seed=13).studies(8) for ds in s.datasets]
    ae = AE(ae_title="SIMMOD")
    for sop_class in sorted({ds.SOPClassUID for ds in datasets}):
        ae.add_requested_context(sop_class, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="SIMSTORE")
    assert assoc.is_established
    try:
        statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()
    assert statuses == [0x0000] * len(datasets)
    assert [ds.SOPInstanceUID for ds in received] == [ds.SOPInstanceUID for ds in datasets]


def test_parallel_writing_gives_the_same_files(tmp_path: Path) -> None:
    one = Fleet(seed=19).write(tmp_path / "one", n=24, workers=1)
    fleet = Fleet(seed=19)
    two = fleet.write(tmp_path / "two", n=24, workers=2)
    assert [p.relative_to(tmp_path / "one") for p in one] == [
        p.relative_to(tmp_path / "two") for p in two
    ]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two, strict=True))
    planted = {v for s in Fleet(seed=19).studies(24) for v in s.truth.identifying_values()}
    assert planted <= fleet.identifying_values()
    with pytest.raises(ValueError, match="workers"):
        fleet.write(tmp_path / "none", n=1, workers=0)
