"""Secure defaults, tried as a new site would: `medcoop edge init`, dcmtk's echoscu and
storescu as the modality, files on disk checked for their modes."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medcoop.cli import app
from medcoop.edge.config import DEFAULT_STOW_PORT, DicomSettings, StowSettings, load_settings
from medcoop.edge.node import EdgeNode

from .conftest import encode, fleet_studies, make_settings

runner = CliRunner()
needs_dcmtk = pytest.mark.skipif(
    shutil.which("storescu") is None or shutil.which("echoscu") is None,
    reason="dcmtk is not installed (apt-get install dcmtk)",
)
#: dcmtk's own binaries: pynetdicom installs scripts of the same names in the venv.
ECHOSCU = "/usr/bin/echoscu"
STORESCU = "/usr/bin/storescu"


def test_init_binds_loopback_with_no_callers_and_a_stow_token(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    result = runner.invoke(app, ["edge", "init", str(config)])
    assert result.exit_code == 0, result.output
    assert "no calling AE title is allowed yet" in result.output
    settings = load_settings(config)
    assert settings.dicom.host == "127.0.0.1" and settings.stow.host == "127.0.0.1"
    assert settings.dicom.allowed_calling_aets == () and not settings.dicom.any_caller
    assert settings.dicom.require_called_aet
    assert settings.stow.port == DEFAULT_STOW_PORT != 8042
    assert settings.stow.require_token and len(settings.stow.token or "") > 30
    other = tmp_path / "other.toml"
    runner.invoke(app, ["edge", "init", str(other)])
    assert load_settings(other).stow.token != settings.stow.token  # one token per edge
    chosen = tmp_path / "chosen.toml"
    result = runner.invoke(
        app, ["edge", "init", str(chosen), "--host", "0.0.0.0", "--allow-aet", "CT1"]
    )
    assert result.exit_code == 0, result.output
    assert load_settings(chosen).dicom.allowed_calling_aets == ("CT1",)
    assert load_settings(chosen).dicom.host == "0.0.0.0"


def test_database_key_and_quarantine_are_private(tmp_path: Path) -> None:
    node = EdgeNode(make_settings(tmp_path, dicom=DicomSettings(enabled=False)))
    node.start()
    try:
        node.pipeline.process_bytes(b"not dicom", "test")  # type: ignore[union-attr]
        node.pipeline.process_bytes(  # type: ignore[union-attr]
            encode(fleet_studies(1)[0].datasets[0]), "test"
        )
    finally:
        node.stop()
    state = tmp_path / "state"
    files = [state / "edge.sqlite3", tmp_path / "site.key", *(state / "quarantine").iterdir()]
    assert len(files) == 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (state, state / "quarantine"):
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0, folder


def edge_with(tmp_path: Path, dicom: DicomSettings) -> EdgeNode:
    node = EdgeNode(make_settings(tmp_path, dicom=dicom, stow=StowSettings(enabled=False)))
    node.start()
    return node


def echo(port: int, calling: str, called: str = "MEDCOOP") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ECHOSCU, "-aet", calling, "-aec", called, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_dcmtk
def test_default_allow_list_refuses_callers_clearly(tmp_path: Path) -> None:
    node = edge_with(tmp_path, DicomSettings(host="127.0.0.1", port=0))
    try:
        refused = echo(node.dicom_port, "CT1")
        assert refused.returncode != 0
        assert "Calling AE Title Not Recognized" in refused.stdout + refused.stderr
    finally:
        node.stop()


@needs_dcmtk
def test_allowed_caller_must_address_our_called_ae(tmp_path: Path) -> None:
    dicom = DicomSettings(host="127.0.0.1", port=0, allowed_calling_aets=("CT1",))
    node = edge_with(tmp_path, dicom)
    try:
        assert echo(node.dicom_port, "CT1").returncode == 0
        wrong = echo(node.dicom_port, "CT1", called="ORTHANC")
        assert wrong.returncode != 0
        assert "Called AE Title Not Recognized" in wrong.stdout + wrong.stderr
        stranger = echo(node.dicom_port, "MR9")
        assert "Calling AE Title Not Recognized" in stranger.stdout + stranger.stderr
    finally:
        node.stop()


@needs_dcmtk
def test_senders_get_failure_statuses_for_unusable_objects(tmp_path: Path) -> None:
    """dcmtk's storescu: a good image 0x0000, an RDSR without dose 0xA900 (twice);
    pynetdicom sending a file whose data set ends inside an element: 0xA900. Every one is
    in the edge's hands (stored or quarantined), and re-sending adds no entry."""
    import pydicom
    from pynetdicom import AE

    dicom = DicomSettings(host="127.0.0.1", port=0, allowed_calling_aets=("CT1",))
    node = edge_with(tmp_path, dicom)
    study = next(s for s in fleet_studies(8) if any(d.Modality == "SR" for d in s.datasets))
    rdsr = next(d for d in study.datasets if d.Modality == "SR")
    image = next(d for d in study.datasets if d.Modality != "SR")
    good = tmp_path / "good.dcm"
    good.write_bytes(encode(image))
    empty = tmp_path / "empty.dcm"
    hollow = pydicom.dcmread(pydicom.filebase.DicomBytesIO(encode(rdsr)))
    hollow.ContentSequence = []
    hollow.SOPInstanceUID = hollow.SOPInstanceUID + ".9"
    empty.write_bytes(encode(hollow))
    broken = tmp_path / "broken.dcm"
    data = encode(rdsr)
    with pydicom.filereader.DicomBytesIO(data) as fp:
        pydicom.filereader.read_preamble(fp, False)
        pydicom.filereader._read_file_meta_info(fp)
        meta_end = fp.tell()
    head = pydicom.Dataset()
    head.SOPClassUID, head.SOPInstanceUID = rdsr.SOPClassUID, rdsr.SOPInstanceUID + ".8"
    with pydicom.filebase.DicomBytesIO() as fp:
        fp.is_little_endian, fp.is_implicit_VR = True, False
        pydicom.filewriter.write_dataset(fp, head)
        ids = fp.getvalue()
    # then a Patient's Name claiming 32 KiB where 12 bytes follow: the stream ends inside it
    broken.write_bytes(data[:meta_end] + ids + b"\x10\x00\x10\x00PN\xff\x7f" + b"\xee" * 12)
    try:
        answers = {}
        for path in (good, empty, empty):
            done = subprocess.run(
                [STORESCU, "-v", "-aet", "CT1", "-aec", "MEDCOOP", "127.0.0.1",
                 str(node.dicom_port), str(path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            answers[path.name] = done.stdout + done.stderr
        assert "Received Store Response (Success)" in answers["good.dcm"]
        assert "Error: DataSetDoesNotMatchSOPClass" in answers["empty.dcm"], answers["empty.dcm"]
        ae = AE(ae_title="CT1")
        ae.add_requested_context(rdsr.SOPClassUID)
        assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        assert assoc.is_established
        try:
            status = assoc.send_c_store(broken)  # the file's own bytes, not re-encoded
        finally:
            assoc.release()
        assert int(status.Status) == 0xA900  # its identity reads, its content does not
        status_now = node.status()
        assert status_now.counters["received"] == 4
        assert status_now.counters["quarantined"] == 2  # the empty report once, however often
        assert status_now.quarantine_by_reason == {"unusable_dose_report": 2}
        assert sorted(q.seen_count for q in status_now.quarantine) == [1, 2]
        assert all(q.sender == "CT1" and q.reason_code.sender_fault for q in status_now.quarantine)
    finally:
        node.stop()
