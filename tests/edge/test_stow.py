"""STOW-RS with dicomweb-client (a peer no one here wrote), and bad multipart bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from medcoop.edge.config import DicomSettings, StorageSettings, StowSettings
from medcoop.edge.node import EdgeNode
from medcoop.edge.stow import MultipartError, split_multipart

from .conftest import encode, fleet_studies, make_settings


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EdgeNode]:
    settings = make_settings(tmp_path, dicom=DicomSettings(enabled=False))
    running = EdgeNode(settings)
    running.start()
    yield running
    running.stop()


def test_dicomweb_client_stores_a_study(node: EdgeNode) -> None:
    study = fleet_studies(3)[1]
    client = DICOMwebClient(url=f"http://127.0.0.1:{node.stow_port}")
    response = client.store_instances(study.datasets)
    stored = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert stored == {ds.SOPInstanceUID for ds in study.datasets}
    assert "FailedSOPSequence" not in response
    counters = node.status().counters
    assert counters["received"] == len(study.datasets)
    assert counters["processed"] + counters["skipped"] == len(study.datasets)


def post_parts(port: int, parts: list[bytes]) -> httpx.Response:
    boundary = "medcoopboundary"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
            for part in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return httpx.post(
        f"http://127.0.0.1:{port}/studies", content=body, headers={"Content-Type": content_type}
    )


def test_malformed_parts_are_quarantined_not_lost(node: EdgeNode) -> None:
    good = encode(fleet_studies(1)[0].datasets[0])
    response = post_parts(node.stow_port, [good, b"\x00garbage" * 50])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom+json")
    assert len(response.json()["00081199"]["Value"]) == 2
    assert node.status().counters["quarantined"] == 1


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
        failed = response.json()["00081198"]["Value"]
        assert failed[0]["00081155"]["Value"] == [ds.SOPInstanceUID]
        assert failed[0]["00081197"]["Value"] == [0xA700]
    finally:
        node.stop()


def test_not_multipart_is_415(node: EdgeNode) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{node.stow_port}/studies",
        content=b"{}",
        headers={"Content-Type": "application/json"},
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
