"""The pipeline on synthetic studies: records, grouping, late objects, consent, residuals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medcoop.edge.config import EdgeSettings, StorageSettings
from medcoop.edge.node import open_pipeline
from medcoop.edge.pipeline import MPPS_SETTLE_S, Pipeline
from medcoop.edge.status import read_status
from medcoop.edge.store import EdgeStore
from medcoop.records import StudyRecord

from .conftest import encode, feed_study, fleet_studies, make_settings


@pytest.fixture
def pipeline(edge_settings: EdgeSettings) -> Pipeline:
    store, pipe = open_pipeline(edge_settings)
    yield pipe
    store.close()


def queued_records(pipeline: Pipeline) -> list[StudyRecord]:
    return [StudyRecord.model_validate_json(p.body) for p in pipeline.outbox.pending(10_000)]


def test_complete_studies_are_queued_at_mpps_end_with_their_dose(pipeline: Pipeline) -> None:
    studies = [s for s in fleet_studies(12) if s.truth.rdsr_sop_instance_uid]
    for study in studies:
        outcomes = feed_study(pipeline, study)
        assert {o.status for o in outcomes} == {"stored"}
    completed = [s for s in studies if s.truth.mpps_status in ("COMPLETED", "DISCONTINUED")]
    records = {r.study_uid: r for r in queued_records(pipeline)}
    assert len(records) == len(completed)
    for study in completed:
        record = records[pipeline.key.remap_uid(study.truth.study_instance_uid)]
        assert len(record.events) == study.truth.event_count
        assert record.usage.mpps_status == study.truth.mpps_status
        for name in ("total_dlp_mgycm", "total_dap_gycm2"):
            expected = getattr(study.truth.totals, name)
            got = getattr(record.totals, name)
            assert (got is None) == (expected is None)
            if expected is not None:
                assert got == pytest.approx(expected, rel=1e-3)
        assert record.patient.pseudonym == pipeline.key.patient_pseudonym(
            study.truth.patient.patient_id, study.truth.patient.issuer_of_patient_id
        )
        assert record.study_at is not None and record.study_at.tzinfo is not None


def test_idle_studies_are_queued_after_the_timeout(pipeline: Pipeline) -> None:
    study = fleet_studies(1, seed=5)[0]
    for ds in study.datasets:  # no MPPS at all: only the idle timeout completes it
        assert pipeline.process_bytes(encode(ds), "test").status == "stored"
    assert pipeline.emit_due() == 0
    assert pipeline.emit_due(now=2e10) == 1
    assert len(queued_records(pipeline)) == 1
    assert pipeline.emit_due(now=2e10) == 0  # emitted once, not again


def test_resent_objects_change_nothing_and_late_ones_make_a_new_record(
    pipeline: Pipeline,
) -> None:
    study = next(
        s
        for s in fleet_studies(10)
        if s.truth.image_count
        and s.truth.rdsr_sop_instance_uid
        and s.truth.mpps_status == "COMPLETED"
    )
    images = [ds for ds in study.datasets if ds.SOPInstanceUID != study.truth.rdsr_sop_instance_uid]
    rdsr = next(
        ds for ds in study.datasets if ds.SOPInstanceUID == study.truth.rdsr_sop_instance_uid
    )
    uid = study.truth.mpps_sop_instance_uid
    pipeline.process_mpps(study.mpps_create, uid, "t")
    pipeline.process_bytes(encode(rdsr), "t")
    pipeline.process_mpps(study.mpps_set, uid, "t")
    first = queued_records(pipeline)
    assert len(first) == 1
    pipeline.process_bytes(encode(rdsr), "t")  # re-sent
    assert pipeline.emit_due(now=2e10) == 1
    assert len(queued_records(pipeline)) == 1  # same content, same key: nothing new
    for ds in images:  # late images
        pipeline.process_bytes(encode(ds), "t")
    pipeline.emit_due(now=2e10)
    records = queued_records(pipeline)
    assert len(records) == 2
    assert records[0].record_key != records[1].record_key
    assert records[1].usage.image_count >= len(images)
    assert {e.event_uid for e in first[0].events} <= {e.event_uid for e in records[1].events}


def test_opted_out_patients_are_not_pooled(pipeline: Pipeline) -> None:
    studies = fleet_studies(4)
    out = studies[0].truth.patient
    pseudonym = pipeline.consent.opt_out(out.patient_id, out.issuer_of_patient_id)
    assert out.patient_id not in pseudonym
    for study in studies:
        feed_study(pipeline, study)
    pipeline.emit_due(now=2e10)
    pseudonyms = {r.patient.pseudonym for r in queued_records(pipeline)}
    assert pseudonym not in pseudonyms
    assert pipeline.store.counters()["consent_withheld"] >= 1
    with pipeline.store.reading() as conn:
        rows = conn.execute("SELECT pseudonym FROM consent").fetchall()
    assert rows == [(pseudonym,)]


def test_identifier_in_a_kept_field_quarantines_the_object(pipeline: Pipeline) -> None:
    study = next(s for s in fleet_studies(6) if s.truth.rdsr_sop_instance_uid)
    rdsr = next(
        ds for ds in study.datasets if ds.SOPInstanceUID == study.truth.rdsr_sop_instance_uid
    )
    rdsr.StationName = study.truth.patient.patient_id  # a misconfigured device leaks the ID
    outcome = pipeline.process_bytes(encode(rdsr), "t")
    assert outcome.status == "quarantined"
    assert "residual" in (outcome.reason or "")
    assert study.truth.patient.patient_id not in (outcome.reason or "")
    with pipeline.store.reading() as conn:
        assert conn.execute("SELECT count(*) FROM studies").fetchone()[0] == 0


def test_state_holds_no_identifying_values(edge_settings: EdgeSettings) -> None:
    store, pipeline = open_pipeline(edge_settings)
    studies = fleet_studies(8)
    for study in studies:
        feed_study(pipeline, study)
    pipeline.emit_due(now=2e10)
    store.close()
    raw = b"".join(p.read_bytes() for p in edge_settings.storage.data_dir.glob("edge.sqlite3*"))
    text = raw.decode("latin-1").upper()
    for study in studies:
        truth = study.truth
        for value in (truth.patient.patient_id, truth.accession_number):
            assert value.upper() not in text


def test_garbage_is_quarantined_and_counted(pipeline: Pipeline) -> None:
    outcome = pipeline.process_bytes(b"this is not DICOM at all" * 10, "t")
    assert outcome.status == "quarantined"
    assert pipeline.store.counters()["received"] == 1
    assert pipeline.quarantine.count() == 1


def test_state_survives_reopening(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    study = next(s for s in fleet_studies(6) if s.truth.rdsr_sop_instance_uid)
    store, pipeline = open_pipeline(settings)
    uid = study.truth.mpps_sop_instance_uid
    pipeline.process_mpps(study.mpps_create, uid, "t")
    for ds in study.datasets:
        pipeline.process_bytes(encode(ds), "t")
    store.close()
    store, pipeline = open_pipeline(settings)  # a restart between objects and MPPS end
    pipeline.process_mpps(study.mpps_set, uid, "t")
    records = queued_records(pipeline)
    assert len(records) == 1 and len(records[0].events) == study.truth.event_count
    assert json.loads(pipeline.outbox.pending(1)[0].body)["record_key"] == records[0].record_key
    assert isinstance(store, EdgeStore)
    store.close()


def test_retention_prunes_sent_state_and_retained_copies(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        storage=StorageSettings(
            data_dir=tmp_path / "state", min_free_bytes=0, retain_received=True, retention_days=1
        ),
    )
    store, pipeline = open_pipeline(settings)
    study = fleet_studies(1)[0]
    feed_study(pipeline, study)
    retained = list(settings.received_dir.rglob("*.dcm"))
    assert len(retained) == len(study.datasets)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in retained)
    assert pipeline.prune() == 0  # nothing is old yet
    pipeline.emit_due(now=2e10)
    assert pipeline.prune(now=2e10) == 1 + len(retained)
    assert list(settings.received_dir.rglob("*.dcm")) == []
    store.close()


def test_queued_records_carry_their_content_key(pipeline: Pipeline) -> None:
    from medcoop.records import record_key_for

    # The residual scan reads an unkeyed draft; what is queued must have the real key.
    for study in [s for s in fleet_studies(6) if s.truth.rdsr_sop_instance_uid]:
        feed_study(pipeline, study)
    pipeline.emit_due(now=2e10)
    records = queued_records(pipeline)
    assert records
    for record in records:
        content = record.model_dump(mode="json", exclude={"record_key"})
        assert record.record_key == record_key_for(content)


def test_residual_prefilter_matches_case_insensitively_beyond_ascii() -> None:
    from medcoop.edge.privacy import _could_contain

    values = frozenset({"STRASSE^HANS", "12345678"})
    assert _could_contain(values, '{"protocol":"Thorax Strasse"}')
    assert _could_contain(values, '{"station":"straße"}')  # only its upper case is STRASSE
    assert _could_contain(values, '{"id":"x12345678"}')
    assert not _could_contain(values, '{"protocol":"Thorax Strand 1234567"}')


def test_status_says_when_each_open_study_will_be_sent(tmp_path: Path) -> None:
    """Without MPPS: the idle timeout after the last object; MPPS completed without a dose
    report: 30 s after; and the closer sends each at the time status announced."""
    store, pipeline = open_pipeline(make_settings(tmp_path, study_completion_timeout_s=300))
    try:
        check_send_times(pipeline)
    finally:
        store.close()


def check_send_times(pipeline: Pipeline) -> None:

    studies = [s for s in fleet_studies(12) if s.mpps_set is not None]
    idle, mpps_only = studies[0], studies[1]
    for ds in idle.datasets:
        pipeline.process_bytes(encode(ds), "test")
    uid = mpps_only.truth.mpps_sop_instance_uid
    pipeline.process_mpps(mpps_only.mpps_create, uid, "test")
    images = [ds for ds in mpps_only.datasets if ds.Modality != "SR"] or mpps_only.datasets[:1]
    for ds in images:
        pipeline.process_bytes(encode(ds), "test")
    done = mpps_only.mpps_set.copy()
    done.PerformedProcedureStepStatus = "COMPLETED"
    pipeline.process_mpps(done, uid, "test")
    pending = {p.study_uid: p for p in read_status(pipeline).pending}
    timeout = pipeline.settings.study_completion_timeout_s
    first = pending[pipeline.key.remap_uid(idle.truth.study_instance_uid)]
    assert first.why == "idle timeout"
    assert (first.send_at - first.last_object_at).total_seconds() == pytest.approx(timeout)
    second = pending[pipeline.key.remap_uid(mpps_only.truth.study_instance_uid)]
    if not second.why.startswith("MPPS completed, dose"):
        assert second.why == "MPPS completed"
        expected = min(MPPS_SETTLE_S, timeout)
        assert (second.send_at - second.last_object_at).total_seconds() == pytest.approx(expected)
    # the closer follows the announcement: nothing before the earliest time, both after
    earliest = min(p.send_at.timestamp() for p in pending.values())
    assert pipeline.emit_due(now=earliest - 0.5) == 0
    latest = max(p.send_at.timestamp() for p in pending.values())
    assert pipeline.emit_due(now=latest + 0.5) == 2
    assert read_status(pipeline).pending == []
