"""STOW-RS with dicomweb-client and httpx (peers no one here wrote): answers per PS3.18,
the bearer token, and a body limit that holds for chunked uploads with memory kept flat."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from medcoop.edge.config import DicomSettings, StorageSettings, StowSettings
from medcoop.edge.node import EdgeNode
from medcoop.edge.stow import MultipartError, split_multipart

from .conftest import STOW_TOKEN, EdgeProcess, encode, fleet_studies, make_settings

AUTH = {"Authorization": f"Bearer {STOW_TOKEN}"}
BOUNDARY = "medcoopboundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EdgeNode]:
    settings = make_settings(tmp_path, dicom=DicomSettings(enabled=False))
    running = EdgeNode(settings)
    running.start()
    yield running
    running.stop()


def multipart(parts: list[bytes]) -> bytes:
    return (
        b"".join(
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        + f"--{BOUNDARY}--\r\n".encode()
    )


def post_parts(
    port: int, parts: list[bytes], *, path: str = "/studies", headers: dict[str, str] = AUTH
) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}{path}",
        content=multipart(parts),
        headers={"Content-Type": CONTENT_TYPE, **headers},
        timeout=60,
    )


def test_dicomweb_client_stores_a_study(node: EdgeNode) -> None:
    study = fleet_studies(3)[1]
    client = DICOMwebClient(url=f"http://127.0.0.1:{node.stow_port}", headers=AUTH)
    response = client.store_instances(study.datasets)
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in study.datasets}
    assert "FailedSOPSequence" not in response
    counters = node.status().counters
    assert counters["received"] == len(study.datasets)
    assert counters["processed"] + counters["skipped"] == len(study.datasets)


def test_requests_without_the_token_are_refused(node: EdgeNode) -> None:
    good = encode(fleet_studies(1)[0].datasets[0])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": STOW_TOKEN}):
        response = post_parts(node.stow_port, [good], headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert node.status().counters["received"] == 0


def test_garbage_gets_a_failed_sop_item_and_one_quarantine_entry(node: EdgeNode) -> None:
    ds = fleet_studies(1)[0].datasets[0]
    garbage = b"\x00garbage" * 50
    response = post_parts(node.stow_port, [encode(ds), garbage])
    assert response.status_code == 202  # some stored, some failed
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    referenced = body["00081199"]["Value"]
    assert [item["00081155"]["Value"] for item in referenced] == [[ds.SOPInstanceUID]]
    failed = body["00081198"]["Value"]
    assert len(failed) == 1 and failed[0]["00081197"]["Value"] == [0xC000]
    # the sender retries the same bytes: still one entry, seen twice, and 409 (none stored)
    again = post_parts(node.stow_port, [garbage])
    assert again.status_code == 409
    assert again.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    status = node.status()
    assert status.counters["quarantined"] == 1
    assert status.quarantine_by_reason == {"malformed": 1}
    (entry,) = status.quarantine
    assert entry.seen_count == 2 and entry.sender == "stow:127.0.0.1"
    assert entry.file_path is not None and entry.file_path.read_bytes() == garbage


def test_instance_of_another_study_fails_and_is_not_kept(node: EdgeNode) -> None:
    ds = fleet_studies(1)[0].datasets[0]
    response = post_parts(node.stow_port, [encode(ds)], path="/studies/1.2.3.4")
    assert response.status_code == 409
    (failed,) = response.json()["00081198"]["Value"]
    assert failed["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert failed["00081197"]["Value"] == [0xA900]
    ok = post_parts(node.stow_port, [encode(ds)], path=f"/studies/{ds.StudyInstanceUID}")
    assert ok.status_code == 200
    assert node.status().counters["quarantined"] == 0


def test_full_storage_answers_409_with_failed_sops(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        dicom=DicomSettings(enabled=False),
        storage=StorageSettings(data_dir=tmp_path / "state", min_free_bytes=2**62),
    )
    node = EdgeNode(settings)
    node.start()
    try:
        ds = fleet_studies(1)[0].datasets[0]
        response = post_parts(node.stow_port, [encode(ds)])
        assert response.status_code == 409
        assert response.headers["retry-after"] == "30"
        failed = response.json()["00081198"]["Value"]
        assert failed[0]["00081155"]["Value"] == [ds.SOPInstanceUID]
        assert failed[0]["00081197"]["Value"] == [0xA700]
    finally:
        node.stop()


def chunks(total: int, size: int = 1 << 20, head: bytes = b"") -> Iterator[bytes]:
    """A body sent with chunked transfer encoding (no Content-Length)."""
    yield head
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"\x00" * n
        sent += n


def test_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    limit = 2 * 1024 * 1024
    settings = make_settings(
        tmp_path,
        dicom=DicomSettings(enabled=False),
        stow=StowSettings(host="127.0.0.1", port=0, token=STOW_TOKEN, max_body_bytes=limit),
    )
    node = EdgeNode(settings)
    node.start()
    try:
        head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        response = httpx.post(
            f"http://127.0.0.1:{node.stow_port}/studies",
            content=chunks(limit + 512 * 1024, head=head),
            headers={"Content-Type": CONTENT_TYPE, **AUTH},
            timeout=60,
        )
        assert response.status_code == 413
        assert "max_body_bytes" in response.json()["detail"]
        assert node.status().counters["received"] == 0
        spool = settings.storage.data_dir / "spool"
        assert spool.is_dir() and not list(spool.iterdir())  # the spooled body is gone
    finally:
        node.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_chunked_uploads_keep_the_edge_memory_flat(tmp_path: Path) -> None:
    """A real ``medcoop edge serve``: 256 MiB chunked over a 32 MiB limit, then 16 MiB of
    instances in one chunked request; the process's peak RSS grows far less than either."""
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(
        f"""
name = "stow-memory"
[dicom]
enabled = false
[stow]
host = "127.0.0.1"
port = {port}
token = "{STOW_TOKEN}"
max_body_bytes = {32 * 1024 * 1024}
[storage]
data_dir = "state"
min_free_bytes = 0
"""
    )
    edge = EdgeProcess(config, port)
    try:
        url = f"http://127.0.0.1:{port}/studies"
        headers = {"Content-Type": CONTENT_TYPE, **AUTH}
        datasets = [encode(ds) for s in fleet_studies(4) for ds in s.datasets]
        warm = httpx.post(url, content=multipart(datasets), headers=headers, timeout=120)
        assert warm.status_code == 200
        baseline = peak_rss_bytes(edge.proc.pid)

        head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        try:
            big = httpx.post(
                url, content=chunks(256 * 1024 * 1024, head=head), headers=headers, timeout=120
            )
            assert big.status_code == 413
        except httpx.TransportError:
            pass  # the edge closed the connection after answering, while we still sent
        assert edge.proc.poll() is None

        repeats = max(1, (16 * 1024 * 1024) // sum(len(d) for d in datasets))

        def many() -> Iterator[bytes]:  # chunked: one part at a time
            for _ in range(repeats):
                for data in datasets:
                    yield (
                        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                        + data
                        + b"\r\n"
                    )
            yield f"--{BOUNDARY}--\r\n".encode()

        stored = httpx.post(url, content=many(), headers=headers, timeout=300)
        assert stored.status_code == 200
        assert len(stored.json()["00081199"]["Value"]) == repeats * len(datasets)
        growth = peak_rss_bytes(edge.proc.pid) - baseline
        assert growth < 24 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        assert edge.terminate() == 0


def test_not_multipart_is_415(node: EdgeNode) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{node.stow_port}/studies",
        content=b"{}",
        headers={"Content-Type": "application/json", **AUTH},
    )
    assert response.status_code == 415


def test_split_multipart_rejects_other_part_types() -> None:
    body = b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
    with pytest.raises(MultipartError):
        split_multipart(body, "multipart/related; boundary=b")
    assert split_multipart(
        b"--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--",
        "multipart/related; boundary=b",
    ) == [b"DICM"]
    assert split_multipart(
        b"preamble\r\n--b\r\n\r\nA\r\n--b\r\nContent-Type: application/dicom\r\n\r\nB\r\n--b--",
        'multipart/related; type="application/dicom"; boundary="b"',
    ) == [b"A", b"B"]


def test_stow_disabled_settings_are_respected(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, stow=StowSettings(enabled=False), dicom=DicomSettings(enabled=False)
    )
    node = EdgeNode(settings)
    node.start()
    try:
        assert node.stow is None and node.dicom is None
    finally:
        node.stop()
