"""The runner: a working app's outputs are checked and kept; hostile apps are stopped and
recorded with their reason while a real edge keeps receiving C-STOREs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE

from medcoop.apps.runner import FailureReason, Limits, Runner, SandboxMode, detect_sandbox
from medcoop.apps.sr import validate_sr
from medcoop.edge.config import StowSettings
from medcoop.edge.node import EdgeNode
from tests.apps.conftest import ct_study, sample_install, write_study
from tests.edge.conftest import fleet_studies, make_settings

HAS_BWRAP = detect_sandbox()[0] is SandboxMode.BUBBLEWRAP
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason=detect_sandbox()[1])
# Generous wall clock (a loaded machine is slow), tight everything else; the sleeper has
# its own short wall clock.
TIGHT = Limits(cpu_s=10, memory_mb=700, wall_s=60, max_output_bytes=1_000_000, max_processes=16)
SCHEMA = {"type": "object", "properties": {"score": {"type": "number"}}}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], str, str]:
    objects = ct_study()
    paths = write_study(tmp_path_factory.mktemp("study"), objects)
    return paths, str(objects[0].StudyInstanceUID), str(objects[0].SeriesInstanceUID)


@pytest.mark.parametrize("mode", [pytest.param(SandboxMode.BUBBLEWRAP, marks=needs_bwrap),
                                  SandboxMode.RLIMITS])
def test_a_working_app_returns_a_valid_sr_of_the_same_study(
    mode: SandboxMode, study: tuple[list[Path], str, str], tmp_path: Path
) -> None:
    paths, study_uid, series_uid = study
    runner = Runner(Limits(wall_s=120), mode=mode)
    app = sample_install("trivial_app:trivial", parameters=[
        {"name": "diameter_mm", "type": "number", "default": 250.0}])
    outcome = runner.run(app, paths, tmp_path / "out",
                         study_instance_uid=study_uid, original_series=[series_uid],
                         parameters={"diameter_mm": 312.0})
    assert outcome.succeeded, outcome.detail
    assert outcome.mode is mode
    assert outcome.result is not None and outcome.result.findings == {"images": 1, "study": "seen"}
    assert outcome.result.measurements[0].value == 312.0
    [sr_path] = outcome.dicom_files
    sr = pydicom.dcmread(sr_path)
    assert sr.StudyInstanceUID == study_uid
    assert validate_sr(sr, study_instance_uid=study_uid, original_series=[series_uid]) == []
    assert "RLIMITS ONLY" in runner.describe() if mode is SandboxMode.RLIMITS else True


@pytest.fixture
def receiving_edge(tmp_path: Path) -> Iterator[tuple[EdgeNode, list[int], threading.Event]]:
    """An edge receiving C-STOREs from a pynetdicom SCU in a thread, all through the test."""
    node = EdgeNode(make_settings(tmp_path / "edge", stow=StowSettings(enabled=False)))
    node.start()
    statuses: list[int] = []
    stop = threading.Event()
    objects = [ds for s in fleet_studies(6, seed=11) for ds in s.datasets]

    def send() -> None:
        ae = AE(ae_title="CT1")
        for ds in objects:
            ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        index = 0
        while not stop.is_set():
            assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
            assert assoc.is_established
            for _ in range(5):
                status = assoc.send_c_store(objects[index % len(objects)])
                statuses.append(int(status.Status) if "Status" in status else -1)
                index += 1
            assoc.release()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    yield node, statuses, stop
    stop.set()
    sender.join(timeout=30)
    node.stop()


def _attacks(tmp_path: Path, node: EdgeNode) -> list[tuple[str, str, set[FailureReason]]]:
    settings = node.settings
    other_study = tmp_path / "other-study.dcm"
    ct_study(seed=4)[0].save_as(other_study, enforce_file_format=True)
    crashed = {FailureReason.CRASHED}
    return [
        ("socket", str(node.dicom_port), crashed),
        ("read", str(settings.deid.key_file), crashed),
        ("read", str(settings.db_path), crashed),
        ("read", str(other_study), crashed),
        ("write", str(tmp_path / "escaped.txt"), crashed),
        ("fork", "", {FailureReason.CRASHED, FailureReason.CPU_LIMIT}),
        ("memory", "", {FailureReason.MEMORY_LIMIT}),
        ("spin", "", {FailureReason.CPU_LIMIT}),  # 1 s of CPU within 60 s of wall clock
        ("sleep", "", {FailureReason.TIMEOUT}),
        ("big", "5000000", {FailureReason.OUTPUT_TOO_LARGE}),
        ("invalid", "", {FailureReason.INVALID_OUTPUT}),
        ("crash", "", crashed),
    ]


@pytest.mark.parametrize(("mode", "guard"), [
    pytest.param(SandboxMode.BUBBLEWRAP, False, marks=needs_bwrap, id="bubblewrap-alone"),
    pytest.param(SandboxMode.RLIMITS, True, id="rlimits-and-guard"),
])
def test_hostile_apps_are_stopped_and_recorded_while_the_edge_receives(
    mode: SandboxMode, guard: bool, study: tuple[list[Path], str, str], tmp_path: Path,
    receiving_edge: tuple[EdgeNode, list[int], threading.Event],
) -> None:
    node, statuses, _ = receiving_edge
    paths, study_uid, series_uid = study
    runner = Runner(TIGHT, mode=mode, guard=guard)
    special = {
        "spin": Runner(Limits(cpu_s=1, wall_s=60, memory_mb=700), mode=mode, guard=guard),
        "sleep": Runner(Limits(cpu_s=10, wall_s=3, memory_mb=700), mode=mode, guard=guard),
    }
    app = sample_install("hostile_app:hostile", output_schema=SCHEMA, parameters=[
        {"name": "attack", "type": "string"}, {"name": "target", "type": "string"}])
    secret = node.settings.deid.key_file.read_bytes()
    attacks = _attacks(tmp_path, node)
    if mode is SandboxMode.RLIMITS:  # limits and output checks are the same in both modes
        key = str(node.settings.deid.key_file)
        attacks = [a for a in attacks if a[0] in ("socket", "write", "fork") or a[1] == key]
    before = len(statuses)
    for attack, target, expected in attacks:
        outcome = special.get(attack, runner).run(
            app, paths, tmp_path / f"run-{attack}", study_instance_uid=study_uid,
            original_series=[series_uid], parameters={"attack": attack, "target": target},
        )
        assert not outcome.succeeded, (attack, target)
        assert outcome.reason in expected, (attack, target, outcome.reason, outcome.detail)
        assert secret.hex()[:32] not in outcome.detail
        assert "corrupt" not in outcome.detail  # the app's own words stay in its log
    refused = runner.run(app, paths, tmp_path / "run-params", parameters={"attack": 1})
    assert refused.reason is FailureReason.INVALID_PARAMETERS  # checked before any process
    assert not (tmp_path / "escaped.txt").exists()
    if mode is SandboxMode.BUBBLEWRAP:
        assert "the model file is corrupt" in (tmp_path / "run-crash" / "app.log").read_text()
    assert len(statuses) > before  # the edge kept receiving while the apps misbehaved
    assert statuses and set(statuses) == {0x0000}  # and answered every C-STORE with success
