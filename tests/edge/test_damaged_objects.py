"""A dose report cut short, sent over C-STORE (pynetdicom) and STOW-RS (httpx), is
quarantined with the reason and never half-counted (issue 15).

Half of a Siemens CT RDSR used to be stored as 2 of its 4 events beside the report's
724.52 mGy·cm total. Extraction now calls it damaged (:class:`medcoop.dicom.Damaged`)
and the pipeline quarantines it as truncated, answering the sender with a failure
(C-STORE 0xA900, STOW-RS FailureReason 0xA900): no study state, no record for the hub.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from medcoop.edge.node import EdgeNode

from .conftest import make_settings

pytestmark = pytest.mark.corpus

_SIEMENS = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[EdgeNode]:
    running = EdgeNode(make_settings(tmp_path))
    running.start()
    yield running
    running.stop()


def _study_rows(node: EdgeNode) -> int:
    with node.pipeline.store.reading() as conn:  # type: ignore[union-attr]
        return int(conn.execute("SELECT count(*) FROM studies").fetchone()[0])


def _reasons(node: EdgeNode) -> list[str]:
    return [entry.reason for entry in node.status().quarantine]


def test_half_a_report_over_c_store_is_quarantined_not_half_counted(
    node: EdgeNode, corpus_dir: Path
) -> None:
    half = (corpus_dir / _SIEMENS).read_bytes()
    half = half[: len(half) // 2]
    ae = AE(ae_title="CT1")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.88.67", ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
    assert assoc.is_established
    try:
        # the cut file's dataset as pydicom read it: its elements re-encoded as read
        status = assoc.send_c_store(pydicom.dcmread(io.BytesIO(half), force=True))
    finally:
        assoc.release()
    assert int(status.Status) == 0xA900  # a failure: the sender keeps it and sends it again
    reasons = _reasons(node)
    assert len(reasons) == 1 and reasons[0].startswith("truncated: ")
    assert "truncated file" in reasons[0] or "damaged dose report" in reasons[0]
    assert [q.reason_code.value for q in node.status().quarantine] == ["truncated"]
    assert _study_rows(node) == 0
    assert node.pipeline.outbox.pending(10) == []  # type: ignore[union-attr]


def test_half_a_report_over_stow_rs_is_quarantined_not_half_counted(
    node: EdgeNode, corpus_dir: Path
) -> None:
    half = (corpus_dir / _SIEMENS).read_bytes()
    half = half[: len(half) // 2]
    boundary = "medcoopboundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + half
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    token = getattr(node.settings.stow, "token", None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(
        f"http://127.0.0.1:{node.stow_port}/studies", content=body, headers=headers
    )
    assert response.status_code == 409  # none stored
    (failed,) = response.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]
    reasons = _reasons(node)
    # the part's bytes end inside its Content Sequence: read_dataset says so
    assert reasons == ["truncated: TruncatedFileError"]
    assert _study_rows(node) == 0


def test_a_report_whose_events_fall_short_of_its_totals_is_flagged_on_the_record(
    node: EdgeNode, corpus_dir: Path
) -> None:
    from medcoop.records import StudyRecord

    # whole in structure (four acquisitions as stated), but the 708 mGy·cm spiral's DLP
    # is gone: the record is sent, and says its DLP total disagrees with its events
    ds = pydicom.dcmread(corpus_dir / _SIEMENS)
    spirals = [
        item for item in ds.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "113819"
    ]  # fmt: skip
    dose = next(
        child for child in spirals[-1].ContentSequence
        if child.ConceptNameCodeSequence[0].CodeValue == "113829"
    )  # fmt: skip
    dose.ContentSequence = pydicom.sequence.Sequence(
        [c for c in dose.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue != "113838"]
    )
    buffer = io.BytesIO()
    ds.save_as(buffer)
    pipeline = node.pipeline
    assert pipeline is not None
    assert pipeline.process_bytes(buffer.getvalue(), "test").status == "stored"
    assert pipeline.emit_due(now=2e10) == 1
    (pending,) = pipeline.outbox.pending(10)
    record = StudyRecord.model_validate_json(pending.body)
    assert len(record.events) == 4 and record.totals.total_dlp_mgycm == pytest.approx(724.52)
    assert record.totals_disagree == ("total_dlp_mgycm",)
