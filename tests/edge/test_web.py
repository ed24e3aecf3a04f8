"""The edge's local status page: the counters and reasons, no identifying value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from medcoop.edge.config import DicomSettings
from medcoop.edge.node import EdgeNode
from tests.common.privacy import leaked_values

from .conftest import STOW_TOKEN, encode, fleet_studies, make_settings
from .test_stow import post_parts


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EdgeNode]:
    running = EdgeNode(make_settings(tmp_path, dicom=DicomSettings(enabled=False)))
    running.start()
    yield running
    running.stop()


def test_status_page_shows_counters_and_reasons_without_identifiers(node: EdgeNode) -> None:
    studies = fleet_studies(3)
    study = studies[1]
    client = DICOMwebClient(
        url=f"http://127.0.0.1:{node.stow_port}", headers={"Authorization": f"Bearer {STOW_TOKEN}"}
    )
    client.store_instances(study.datasets)
    post_parts(node.stow_port, [encode(studies[0].datasets[0]), b"\x00garbage" * 50])
    answer = httpx.get(f"http://127.0.0.1:{node.stow_port}/status")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    counters = node.status().counters
    assert f"<td class='num'>{counters['received']}</td>" in page
    assert counters["received"] == len(study.datasets) + 2
    assert "withheld: quarantined</th><td class='num'>1</td>" in page
    reason = node.status().quarantine[0].reason_code.value
    assert reason in page
    assert str(node.status().quarantine[0].file_path) not in page
    identifying = set()
    for sim in studies:
        identifying |= sim.truth.patient.identifying_values()
        identifying.add(sim.truth.accession_number)
    assert leaked_values(identifying, page.encode()) == []
