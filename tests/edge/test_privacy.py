"""The edge's residual check: only the record's text fields, whole words, kinds not values.

Scenarios from the field: patients named like words the record holds by design (JONES^MARY
beside ``primary_angle_deg``, LANE^PETER beside ``plane``, LIMA beside ``collimation``),
departments named after the modality, radiographs on the patient's birthday, devices that
share a word with a patient. Measured over every file of ../shared/corpus and a simulated
fleet with names drawn from ten countries' name lists: none may be quarantined without a
true identifier, and no planted identifier may reach a queued record.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from pydicom import dcmread

from medcoop.edge.config import EdgeSettings
from medcoop.edge.node import open_pipeline
from medcoop.edge.pipeline import Pipeline
from medcoop.edge.privacy import Finding, residual_findings, residual_hits
from tests.common.names import draw_names
from tests.common.privacy import leaked_values

from .conftest import encode, feed_study, fleet_studies

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
_RECORD = {
    "schema_version": "1.0",
    "kind": "fluoroscopy",
    "modality": "RF",
    "study_description": "Bilateral screening",
    "study_at": "1961-04-12T10:00:00+00:00",
    "device": {"manufacturer": "Siemens", "model": "Mary 3000", "station_name": "LANE-RF1"},
    "events": [
        {"primary_angle_deg": 12.5, "plane": "single", "collimation": "lima", "protocol": "Thorax"}
    ],
}


def _values(name: str, birth: str = "19610412", pid: str = "4471902") -> frozenset[str]:
    family, given = name.split("^")
    return frozenset({name, family, given, f"{given} {family}", birth, pid})


@pytest.mark.parametrize("name", ["JONES^MARY", "KIND^ANNA", "LANE^PETER", "LIMA^ANA", "HEAD^TOM"])
def test_names_that_are_words_of_the_schema_or_the_device_are_not_findings(name: str) -> None:
    values = _values(name) | {"Mammography", "Fluoroscopy"}  # the department's name
    assert residual_findings(values, json.dumps(_RECORD)) == []


def test_a_study_on_the_birthday_is_not_a_finding() -> None:
    record = dict(_RECORD, study_at="1961-04-12T10:00:00+00:00")
    assert residual_findings(_values("SMITH^JOHN", birth="19610412"), json.dumps(record)) == []


def test_findings_name_the_field_and_the_kind_never_the_value() -> None:
    record = json.loads(json.dumps(_RECORD))
    record["study_description"] = "CT chest for mary jones"
    record["events"][0]["protocol"] = "Thorax 4471902"
    record["device"]["station_name"] = "JONES MARY"  # a whole name where the device's goes
    findings = residual_findings(_values("JONES^MARY"), json.dumps(record))
    assert set(findings) == {
        Finding("study_description", "name"),
        Finding("events[0].protocol", "identifier"),
        Finding("device.station_name", "name"),
    }
    assert residual_hits(_values("JONES^MARY"), json.dumps(record)) == 3
    assert not any("JONES" in f.field.upper() or "4471902" in f.field for f in findings)


def test_a_word_a_device_shares_with_a_patient_is_not_a_finding() -> None:
    record = json.loads(json.dumps(_RECORD))
    record["device"]["model"] = "Jones Imager"
    assert residual_findings(_values("JONES^MARY"), json.dumps(record)) == []
    record["device"]["serial_number"] = "4471902"  # an ID there is one
    assert residual_findings(_values("JONES^MARY"), json.dumps(record)) == [
        Finding("device.serial_number", "identifier")
    ]


@pytest.fixture
def pipeline(edge_settings: EdgeSettings) -> Pipeline:
    store, pipe = open_pipeline(edge_settings)
    yield pipe
    store.close()


def _planted(ds: object, name: str, department: str) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"  # type: ignore[attr-defined]  # Itō, Åsa...
    ds.PatientName = name  # type: ignore[attr-defined]
    ds.InstitutionalDepartmentName = department  # type: ignore[attr-defined]
    study_date = getattr(ds, "StudyDate", "") or "20200101"
    ds.PatientBirthDate = study_date  # type: ignore[attr-defined]  # born that day


def _residual_quarantines(pipeline: Pipeline) -> int:
    with pipeline.store.reading() as conn:
        try:
            rows = conn.execute("SELECT reason FROM quarantine").fetchall()
        except sqlite3.OperationalError:
            return 0
    return sum(1 for (reason,) in rows if "residual" in (reason or ""))


def _stored_bytes(pipeline: Pipeline) -> bytes:
    with pipeline.store.reading() as conn:
        state = b"".join(row[0].encode() for row in conn.execute("SELECT state FROM studies"))
    bodies = (p.body if isinstance(p.body, bytes) else p.body.encode() for p in
              pipeline.outbox.pending(100_000))
    return state + b"".join(bodies)


def test_no_corpus_or_fleet_object_is_quarantined_for_an_ordinary_name(
    pipeline: Pipeline,
) -> None:
    files = sorted(CORPUS.rglob("*.dcm"))
    assert len(files) >= 60
    studies = fleet_studies(30, seed=11)
    names = draw_names(len(files) + len(studies), seed=4)
    departments = ["Mammography", "Fluoroscopy", "CT", "Radiology", "Interventional"]
    outcomes = []
    planted: set[str] = set()
    for index, path in enumerate(files):
        ds = dcmread(path)
        _planted(ds, names[index], departments[index % len(departments)])
        planted.add(names[index])
        outcomes.append(pipeline.process_bytes(encode(ds), "corpus"))
    for offset, study in enumerate(studies):
        name = names[len(files) + offset]
        planted.add(name)
        for ds in study.datasets:
            _planted(ds, name, departments[offset % len(departments)])
        outcomes += feed_study(pipeline, study)
    pipeline.emit_due(now=2e10)
    residual = [o for o in outcomes if "residual" in (o.reason or "")]
    assert residual == [], [o.reason for o in residual]
    assert _residual_quarantines(pipeline) == 0
    # Leaks stay at zero: no whole name reaches the stored state or a queued record.
    whole = {n.replace("^", " ") for n in planted} | planted
    assert leaked_values(whole, _stored_bytes(pipeline)) == []


def test_no_planted_identifier_of_the_adversarial_corpus_reaches_a_record(
    pipeline: Pipeline,
) -> None:
    from tests.common.adversarial import adversarial_corpus

    cases = adversarial_corpus(patients=16)
    tokens: set[str] = set()
    for case in cases:
        tokens |= {t for t in case.patient.tokens if len(t) >= 4 and not t.isdigit()}
        tokens |= {t for t in case.patient.tokens if t.isdigit() and len(t) >= 6}
        pipeline.process_bytes(encode(case.dataset), "adversarial")
    pipeline.emit_due(now=2e10)
    stored = _stored_bytes(pipeline)
    assert pipeline.outbox.pending(100_000), "the corpus's dose reports make records"
    assert leaked_values(tokens, stored) == []
