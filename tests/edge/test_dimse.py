"""The DIMSE receiver with peers no one here wrote: dcmtk echoscu/storescu, pynetdicom MPPS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityPerformedProcedureStep,
    Verification,
)

from medcoop.edge.config import DicomSettings, EdgeSettings, StorageSettings, StowSettings
from medcoop.edge.dimse import QuickAckSocket, _ReactorGate, _WakingQueue
from medcoop.edge.node import EdgeNode
from medcoop.records import StudyRecord
from medcoop.sim import Fleet

from .conftest import fleet_studies, make_settings

needs_dcmtk = pytest.mark.skipif(
    shutil.which("storescu") is None, reason="dcmtk is not installed (apt-get install dcmtk)"
)


def start_node(settings: EdgeSettings) -> EdgeNode:
    node = EdgeNode(settings)
    node.start()
    return node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EdgeNode]:
    settings = make_settings(tmp_path, stow=StowSettings(enabled=False))
    running = start_node(settings)
    yield running
    running.stop()


def scu(ae_title: str = "SCANNER") -> AE:
    ae = AE(ae_title=ae_title)
    ae.add_requested_context(Verification)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    return ae


@needs_dcmtk
def test_echoscu_is_answered(node: EdgeNode) -> None:
    done = subprocess.run(
        ["echoscu", "-aec", "MEDCOOP", "127.0.0.1", str(node.dicom_port)],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


@needs_dcmtk
def test_storescu_sends_a_fleet_and_every_object_is_accounted_for(
    node: EdgeNode, tmp_path: Path
) -> None:
    files = Fleet(seed=11, sites=("County General",), start=date(2026, 2, 2)).write(
        tmp_path / "fleet", n=90
    )
    assert len(files) >= 180
    done = subprocess.run(
        [
            "storescu",
            "-aec",
            "MEDCOOP",
            "-R",  # propose the files' own classes: RRDSR is not in dcmtk's default list
            "+sd",
            "+r",
            "127.0.0.1",
            str(node.dicom_port),
            str(tmp_path / "fleet"),
        ],
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counters = node.status().counters
    assert counters["received"] == len(files)
    assert counters["processed"] + counters["skipped"] + counters["quarantined"] == len(files)
    assert counters["quarantined"] == 0
    assert node.flush_due() >= 0
    node.pipeline.emit_due(now=2e10)  # type: ignore[union-attr]
    records = [StudyRecord.model_validate_json(p.body) for p in node.pipeline.outbox.pending(1000)]  # type: ignore[union-attr]
    assert len({r.study_uid for r in records}) == 90


def test_accepted_sockets_have_nodelay_and_quickack_rearmed(node: EdgeNode) -> None:
    assoc = scu().associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
    assert assoc.is_established
    try:
        server = node.dicom._server  # type: ignore[union-attr]
        accepted = server.active_associations[0].dul.socket  # type: ignore[union-attr]
        assert isinstance(accepted, QuickAckSocket)
        raw = accepted.socket
        assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        before = accepted.quickack_rearms
        for _ in range(5):
            assert assoc.send_c_echo().Status == 0x0000
        assert accepted.quickack_rearms >= before + 5  # re-armed after every receive
    finally:
        assoc.release()


def test_idle_associations_wait_instead_of_polling(node: EdgeNode) -> None:
    """pynetdicom's threads loop every millisecond; ours wait for work (internals pinned)."""
    assoc = scu().associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
    assert assoc.is_established
    try:
        server = node.dicom._server  # type: ignore[union-attr]
        accepted = server.active_associations[0]  # type: ignore[union-attr]
        gate, sock = accepted._reactor_checkpoint, accepted.dul.socket
        assert isinstance(gate, _ReactorGate) and isinstance(sock, QuickAckSocket)
        assert isinstance(accepted.dul.to_provider_queue, _WakingQueue)
        assert isinstance(accepted.dul.to_user_queue, _WakingQueue)
        assert isinstance(accepted.dimse.msg_queue, _WakingQueue)
        # Shared, not deep-copied, presentation contexts.
        assert accepted.acceptor.supported_contexts[0] is server.contexts[0]
        assert assoc.send_c_echo().Status == 0x0000
        loops, reads = gate.waits, sock.ready_calls
        time.sleep(0.5)  # idle: polling would loop ~500 times in each thread
        assert gate.waits - loops < 60
        assert sock.ready_calls - reads < 60
        for _ in range(3):  # and work still wakes them at once
            assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
    deadline = time.monotonic() + 10
    while accepted.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not accepted.is_alive() and not accepted.dul.is_alive()
    assert sock.wakeup is not None and sock.wakeup.closed  # its pipe went with the association


def test_unknown_callers_are_rejected_at_association(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        dicom=DicomSettings(host="127.0.0.1", port=0, allowed_calling_aets=("CT1",)),
        stow=StowSettings(enabled=False),
    )
    node = start_node(settings)
    try:
        stranger = scu("INTRUDER").associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        assert stranger.is_rejected
        friend = scu("CT1").associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        assert friend.is_established
        friend.release()
    finally:
        node.stop()


def send_study(port: int, study: object) -> list[int]:
    """MPPS N-CREATE, C-STORE of each object, N-SET, as a modality does (pynetdicom SCU)."""
    ae = scu("CT1")
    for ds in study.datasets:  # type: ignore[attr-defined]
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCOOP")
    assert assoc.is_established
    truth = study.truth  # type: ignore[attr-defined]
    statuses = []
    try:
        status, _ = assoc.send_n_create(
            study.mpps_create,
            ModalityPerformedProcedureStep,
            truth.mpps_sop_instance_uid,  # type: ignore[attr-defined]
        )
        statuses.append(int(status.Status))
        for ds in study.datasets:  # type: ignore[attr-defined]
            statuses.append(int(assoc.send_c_store(ds).Status))
        status, _ = assoc.send_n_set(
            study.mpps_set,
            ModalityPerformedProcedureStep,
            truth.mpps_sop_instance_uid,  # type: ignore[attr-defined]
        )
        statuses.append(int(status.Status))
    finally:
        assoc.release()
    return statuses


def test_mpps_and_rdsr_over_the_network_make_a_record(node: EdgeNode) -> None:
    study = next(
        s
        for s in fleet_studies(8)
        if s.truth.rdsr_sop_instance_uid and s.truth.mpps_status == "COMPLETED"
    )
    assert set(send_study(node.dicom_port, study)) == {0x0000}
    pending = node.pipeline.outbox.pending(10)  # type: ignore[union-attr]
    assert len(pending) == 1  # queued at once: MPPS COMPLETED and the RDSR is in
    record = StudyRecord.model_validate_json(pending[0].body)
    assert record.usage.mpps_status == "COMPLETED"
    assert len(record.events) == study.truth.event_count


def test_storage_floor_refuses_with_out_of_resources(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        stow=StowSettings(enabled=False),
        storage=StorageSettings(data_dir=tmp_path / "state", min_free_bytes=2**62),
    )
    node = start_node(settings)
    try:
        statuses = send_study(node.dicom_port, fleet_studies(1)[0])
        stores = statuses[1:-1]
        assert stores and set(stores) == {0xA700}
        assert node.status().counters["received"] == 0  # nothing half-accepted
    finally:
        node.stop()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_refuses_and_the_edge_keeps_running(
    tmp_path: Path, tiny_disk: Path
) -> None:
    settings = make_settings(
        tmp_path,
        stow=StowSettings(enabled=False),
        storage=StorageSettings(data_dir=tiny_disk / "state", min_free_bytes=0),
    )
    node = start_node(settings)
    try:
        statuses: list[int] = []
        for study in fleet_studies(40, seed=9):
            statuses += send_study(node.dicom_port, study)
            if 0xA700 in statuses:
                break
        assert 0xA700 in statuses  # the disk filled up and the sender was told so
        echo = scu("CT1").associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        assert echo.is_established and echo.send_c_echo().Status == 0
        echo.release()
    finally:
        node.stop()
