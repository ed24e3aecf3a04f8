"""Malformed objects from a fuzzer: the service keeps running and quarantines, never drops."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import pydicom
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from medcoop.edge.config import StowSettings
from medcoop.edge.node import EdgeNode, open_pipeline

from .conftest import encode, fleet_studies, make_settings


def mutate(data: bytes, rng: random.Random, start: int) -> bytes:
    """Flip, drop or duplicate a few bytes after ``start`` (the file meta stays readable)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        pos = rng.randrange(start, len(buf))
        action = rng.random()
        if action < 0.6:
            buf[pos] = rng.randrange(256)
        elif action < 0.8:
            del buf[pos : pos + rng.randint(1, 16)]
        else:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(buf)


def meta_end(data: bytes) -> int:
    with pydicom.filereader.DicomBytesIO(data) as fp:
        pydicom.filereader.read_preamble(fp, False)
        pydicom.filereader._read_file_meta_info(fp)
        return fp.tell()


def test_fuzzed_objects_over_dimse_keep_the_service_up(tmp_path: Path) -> None:
    node = EdgeNode(make_settings(tmp_path, stow=StowSettings(enabled=False)))
    node.start()
    rng = random.Random(20261123)
    originals = [encode(ds) for s in fleet_studies(6) for ds in s.datasets]
    paths = []
    for i in range(60):
        data = originals[i % len(originals)]
        path = tmp_path / f"fuzz-{i}.dcm"
        path.write_bytes(mutate(data, rng, meta_end(data)))
        paths.append(path)
    try:
        ae = AE(ae_title="FUZZER")
        ae.add_requested_context(Verification)
        for sop_class in {
            pydicom.dcmread(
                p, stop_before_pixels=True, force=True
            ).file_meta.MediaStorageSOPClassUID
            for p in paths
        }:
            ae.add_requested_context(sop_class)
        statuses = []
        for path in paths:  # one association per object: a broken one must not end the run
            assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
            assert assoc.is_established
            try:
                status = assoc.send_c_store(path)  # raw file bytes, not re-encoded
            except Exception:
                assoc.abort()  # pynetdicom itself refused to send it: never reached the edge
                continue
            statuses.append(int(status.Status) if "Status" in status else None)
            assoc.release()
        assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        assert assoc.send_c_echo().Status == 0x0000  # still serving
        assoc.release()
        status = node.status()
        counters = status.counters
        answered_ok = sum(1 for s in statuses if s == 0x0000)
        failed = [s for s in statuses if s != 0x0000]
        # An unusable object is answered with a failure (never 0x0000), and kept.
        assert set(failed) <= {0xC000, 0xA900}
        sightings = {q.quarantine_id: q.seen_count for q in status.quarantine}
        held = sum(n for q, n in sightings.items())
        failed_held = sum(q.seen_count for q in status.quarantine if q.reason_code.sender_fault)
        assert failed_held == len(failed) >= 1
        # Every object that reached the edge is accounted for: facts, skip or quarantine.
        assert counters["received"] == answered_ok + len(failed)
        assert counters["processed"] + counters["skipped"] + held == counters["received"]
        assert counters["quarantined"] == len(status.quarantine)
        assert len(statuses) >= 30  # most mutated files did reach the edge
        for item in status.quarantine:
            assert item.file_path is not None
            assert stat.S_IMODE(item.file_path.stat().st_mode) == 0o600
    finally:
        node.stop()


def test_retry_after_a_fix_and_purge(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store, pipeline = open_pipeline(settings)
    study = next(s for s in fleet_studies(6) if s.truth.rdsr_sop_instance_uid)
    patient_id = study.truth.patient.patient_id
    rdsr = next(d for d in study.datasets if d.SOPInstanceUID == study.truth.rdsr_sop_instance_uid)
    rdsr.StationName = patient_id  # misconfigured device: the record would leak the ID
    leaky = pipeline.process_bytes(encode(rdsr), "dimse")
    junk = pipeline.process_bytes(b"\x01" * 300, "dimse")
    assert leaky.status == junk.status == "quarantined"
    listed = pipeline.quarantine.list()
    assert [q.quarantine_id for q in listed] == [leaky.quarantine_id, junk.quarantine_id]
    assert all(patient_id not in q.reason for q in listed)
    # Retrying without a fix keeps the object in quarantine.
    assert not pipeline.retry_quarantined(leaky.quarantine_id)  # type: ignore[arg-type]
    assert pipeline.quarantine.count() == 2
    # The fix: the file is corrected by the administrator, then retried.
    fixed_path = listed[0].file_path
    assert fixed_path is not None
    fixed = pydicom.dcmread(fixed_path)
    fixed.StationName = "CT1"
    fixed.save_as(fixed_path)
    assert pipeline.retry_quarantined(leaky.quarantine_id)  # type: ignore[arg-type]
    assert not fixed_path.exists()
    pipeline.quarantine.purge(junk.quarantine_id)  # type: ignore[arg-type]
    assert pipeline.quarantine.count() == 0
    assert pipeline.store.counters()["quarantined"] == 0
    store.close()


def test_quarantine_is_actionable_and_a_config_change_releases(tmp_path: Path) -> None:
    """A department named like the scanner's station: import reports it by reason, a
    re-import adds no entry, each entry names field, kind, sender and file (no value), status
    counts by reason, and after allowing the term `quarantine retry --all` releases it."""
    from typer.testing import CliRunner

    from medcoop.cli import app
    from medcoop.edge.config import load_settings

    runner = CliRunner()
    config = tmp_path / "edge.toml"
    assert runner.invoke(app, ["edge", "init", str(config)]).exit_code == 0
    config.write_text(
        config.read_text().replace("min_free_bytes = 268435456", "min_free_bytes = 0")
    )
    study = fleet_studies(12)[0]
    folder = tmp_path / "archive"
    folder.mkdir()
    station = ""
    for i, ds in enumerate(study.datasets):
        if "StationName" in ds:
            station = str(ds.StationName)
            ds.InstitutionalDepartmentName = station  # an identifying value, also in the record
        (folder / f"{i}.dcm").write_bytes(encode(ds))
    assert station
    first = runner.invoke(app, ["edge", "import", str(folder), "-c", str(config)])
    assert first.exit_code == 0, first.output
    n = len(study.datasets)
    assert f"quarantined {n} by reason: residual_identifier: {n}" in first.output
    assert "objects/s" in first.output
    again = runner.invoke(app, ["edge", "import", str(folder), "-c", str(config)])
    assert again.exit_code == 0, again.output
    settings = load_settings(config)
    store, pipeline = open_pipeline(settings)
    try:
        entries = pipeline.quarantine.list()
        assert len(entries) == n  # re-sent objects update their entry
        for entry in entries:
            assert entry.seen_count == 2 and entry.sender == "import"
            assert entry.reason_code.value == "residual_identifier"
            assert entry.findings and all(len(f) == 2 for f in entry.findings)
            assert station not in entry.reason and station not in str(entry.findings)
            assert entry.file_path is not None and entry.file_path.exists()
        assert pipeline.quarantine.counts_by_reason() == {"residual_identifier": n}
    finally:
        store.close()
    status = runner.invoke(app, ["edge", "status", "-c", str(config)])
    assert "quarantine by reason" in status.output and "residual_identifier" in status.output
    assert station not in status.output
    kept = runner.invoke(app, ["edge", "quarantine", "retry", "--all", "-c", str(config)])
    assert f"0 of {n} released" in kept.output
    allowed = config.read_text().replace("allow_terms = []", f'allow_terms = ["{station}"]')
    config.write_text(allowed)
    released = runner.invoke(
        app, ["edge", "quarantine", "retry", "--reason", "residual_identifier", "-c", str(config)]
    )
    assert released.exit_code == 0, released.output
    assert f"{n} of {n} released" in released.output
    store, pipeline = open_pipeline(load_settings(config))
    try:
        assert pipeline.quarantine.count() == 0
        assert pipeline.store.counters()["quarantined"] == 0
        assert pipeline.store.counters()["processed"] + pipeline.store.counters()["skipped"] >= n
    finally:
        store.close()
