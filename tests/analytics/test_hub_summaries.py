"""Dose summaries kept by ingest: equal to recomputing from the rows, through updates,
re-sends, concurrent workers and a rebuild, on both back ends."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from typer.testing import CliRunner

from medcoop.analytics.alerts import study_metric
from medcoop.analytics.exam_types import classify_record
from medcoop.analytics.sketches import DoseSketch
from medcoop.cli import app as cli
from medcoop.hub.db.analytics_models import DoseSummary
from medcoop.hub.db.models import Device, Role
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services.analytics import load_records, summaries
from medcoop.hub.services.ingest import ingest_batch
from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    IrradiationEvent,
    PatientFacts,
    RecordBatch,
    StudyRecord,
    record_key_for,
)
from medcoop.sim import Fleet
from tests.hub.conftest import auth, make_tenant

from .factories import KEY, ct_event, ingest_via_api, record

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
Cells = dict[tuple[str, str, str, str, int], DoseSketch]


def _cells(app: FastAPI) -> Cells:
    """The stored summaries, keyed by (site, device key, exam type, metric, month)."""
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        keys = dict(session.execute(select(Device.id, Device.device_key)).all())
        rows = session.execute(select(DoseSummary)).scalars().all()
        found = {}
        for row in rows:
            sketch = DoseSketch.from_bytes(row.sketch)
            assert row.n_studies == sketch.count
            if not sketch.count:  # emptied cells stay (for the pooled blocks), empty
                continue
            key = (str(row.site_id), keys[row.device_id], row.exam_type, row.metric, row.month)
            found[key] = sketch
        return found


def _from_rows(app: FastAPI) -> Cells:
    """The summaries recomputed the way the hub reads studies everywhere else."""
    values: dict[tuple[str, str, str, str, int], list[float]] = defaultdict(list)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for site, loaded in load_records(session):
            # one event order for everyone: exam types may read several events' text
            ordered = loaded.model_copy(
                update={"events": tuple(sorted(loaded.events, key=lambda e: e.event_uid))}
            )
            exam = classify_record(ordered)
            if exam is None:
                continue
            for metric in summaries.METRICS:
                value = study_metric(ordered, metric)
                if value is not None:
                    month = summaries.month_of(ordered.study_at)
                    key = (str(site), ordered.device.device_key, exam.key, metric, month)
                    values[key].append(value)
    found = {}
    for key, got in values.items():
        found[key] = DoseSketch()
        found[key].add_many(got)
    return found


def _assert_same(stored: Cells, expected: Cells) -> None:
    assert set(stored) == set(expected)
    for key, sketch in expected.items():
        assert stored[key].same_counts(sketch), key
        assert stored[key].sum == pytest.approx(sketch.sum, rel=1e-9, abs=1e-9), key


def _rebuild(app: FastAPI) -> summaries.RebuildResult:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return summaries.rebuild(session)


# -- the synthetic fleet -----------------------------------------------------------------


def _fleet_records(fleet: Fleet, n: int) -> dict[str, list[list[StudyRecord]]]:
    """Site name → each study's records in sending order (split dose reports give two)."""
    by_site: dict[str, list[list[StudyRecord]]] = defaultdict(list)
    for study in fleet.studies(n):
        truth = study.truth
        zone = timezone(timedelta(minutes=truth.utc_offset_min))
        parts = []
        for part in truth.report_parts():
            events = tuple(
                IrradiationEvent(
                    **{
                        **event.record_fields(),
                        "started_at": event.started_at.replace(tzinfo=zone),
                    }
                )
                for event in part.events
            )
            content = {
                "study_uid": KEY.remap_uid(truth.study_instance_uid),
                "modality": truth.modality,
                "study_at": truth.started_at.replace(tzinfo=zone),
                "utc_offset_min": truth.utc_offset_min,
                "study_description": truth.study_description,
                "procedure_code": truth.procedure_code,
                "device": DeviceInfo(
                    device_key=KEY.pseudonym("device", truth.device_key_hint)[:32],
                    modality=truth.modality,
                ),
                "patient": PatientFacts(
                    pseudonym=KEY.patient_pseudonym(truth.patient.patient_id),
                    age_years=truth.age_years,
                ),
                "events": events,
                "totals": part.totals,
            }
            probe = StudyRecord.model_construct(record_key="0" * 64, **content)
            key = record_key_for(probe.model_dump(mode="json"))
            parts.append(StudyRecord(record_key=key, **content))
        by_site[truth.site].append(parts)
    return by_site


def test_fleet_summaries_equal_the_rows_and_a_rebuild(app: FastAPI, client: TestClient) -> None:
    fleet = Fleet(seed=3, sites=("Fleet Alpha", "Fleet Beta"), split_reports=0.5)
    by_site = _fleet_records(fleet, 300)
    tenants = {name: make_tenant(app, name) for name in by_site}
    split = 0
    for name, studies in by_site.items():
        firsts = [parts[0] for parts in studies]
        laters = [p for parts in studies for p in parts[1:]]
        split += len(laters)
        # later reports: half in the first batch (merged within it), half afterwards
        ingest_via_api(client, tenants[name], firsts + laters[::2])
        ingest_via_api(client, tenants[name], laters[1::2])
    assert split > 10
    stored = _cells(app)
    assert {key[2][:2] for key in stored} >= {"ct", "dx"}
    assert {key[3] for key in stored} == {"ctdivol", "dlp", "dap"}
    _assert_same(stored, _from_rows(app))
    # re-sending everything changes nothing
    for name, studies in by_site.items():
        answer = ingest_via_api(client, tenants[name], [p for parts in studies for p in parts])
        assert answer["new"] == []
    again = _cells(app)
    assert {k: v.to_bytes() for k, v in again.items()} == {
        k: v.to_bytes() for k, v in stored.items()
    }
    # a rebuild from the rows finds what ingest kept
    result = _rebuild(app)
    assert result.sites == 2 and result.cells == len(stored)
    _assert_same(_cells(app), stored)


# -- later records of a study ------------------------------------------------------------


def _cell(cells: Cells, device: str, exam: str, metric: str, month: int) -> DoseSketch | None:
    found = [
        s for (_, d, e, m, mo), s in cells.items() if (d, e, m, mo) == (device, exam, metric, month)
    ]
    return found[0] if found else None


def test_later_records_move_values_between_cells(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Updates")
    e1 = ct_event("7.1.1", 40.0, 600.0, ctdi_phantom="head16")
    e2 = ct_event("7.1.2", 20.0, 300.0)
    e3 = ct_event("7.1.3", 10.0, 100.0)
    other = record("7.2", patient="q", description="CT Head", study_at=T0, events=(e2,))
    first = record(
        "7.1",
        patient="p",
        device_key="device-a1",
        description="CT Head",
        study_at=T0,
        events=(e1,),
        totals=DoseTotals(total_dlp_mgycm=600.0),
    )
    ingest_via_api(client, tenant, [first, other])
    cells = _cells(app)
    assert _cell(cells, "device-a1", "ct_head", "dlp", 202603).count == 2
    _assert_same(cells, _from_rows(app))

    # a cumulative report: superset of events, a corrected description, device and date
    corrected = e1.model_copy(update={"ctdivol_mgy": 45.0})
    superset = record(
        "7.1",
        patient="p",
        device_key="device-b2",
        description="CT Chest",
        study_at=T0 + timedelta(days=30),
        events=(corrected, e2.model_copy(update={"event_uid": KEY.remap_uid("7.1.2b")})),
        totals=DoseTotals(total_dlp_mgycm=900.0),
    )
    ingest_via_api(client, tenant, [superset])
    cells = _cells(app)
    assert _cell(cells, "device-a1", "ct_head", "dlp", 202603).count == 1  # only "other"
    moved = _cell(cells, "device-b2", "ct_chest", "dlp", 202604)
    assert moved.count == 1 and moved.quantile(0.5) == pytest.approx(900.0, rel=0.01)
    assert _cell(cells, "device-b2", "ct_chest", "ctdivol", 202604).max == 45.0
    _assert_same(cells, _from_rows(app))

    # disjoint events: added, the total grows by their dose only
    adds = record(
        "7.1", patient="p", device_key="device-b2", study_at=T0 + timedelta(days=30), events=(e3,)
    )
    ingest_via_api(client, tenant, [adds])
    cells = _cells(app)
    grown = _cell(cells, "device-b2", "ct_chest", "dlp", 202604)
    assert grown.count == 1 and grown.quantile(0.5) == pytest.approx(1000.0, rel=0.01)
    _assert_same(cells, _from_rows(app))

    # an old partial report arriving late: its event is updated in place, totals stay
    stale = record("7.1", patient="p", device_key="device-a1", study_at=T0, events=(e1,))
    ingest_via_api(client, tenant, [stale])
    cells = _cells(app)
    assert _cell(cells, "device-b2", "ct_chest", "ctdivol", 202604).quantile(0.5) == pytest.approx(
        40.0, rel=0.01
    )
    _assert_same(cells, _from_rows(app))
    _rebuild(app)
    _assert_same(_cells(app), cells)


def test_month_ranges_are_whole_utc_months() -> None:
    at = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert summaries.month_of(at) == 202603 and summaries.month_of(None) == 0
    # 00:30 on 1 March at UTC+1 is still February in UTC
    east = timezone(timedelta(hours=1))
    assert summaries.month_of(datetime(2026, 3, 1, 0, 30, tzinfo=east)) == 202602
    assert summaries.month_range(None, None) is None
    assert summaries.month_range(at, at + timedelta(days=1)) == (202603, 202603)
    # an exclusive end at the start of a month does not reach into it
    assert summaries.month_range(at, datetime(2026, 5, 1, tzinfo=UTC)) == (202603, 202604)
    assert summaries.month_range(None, datetime(2026, 1, 1, tzinfo=UTC)) == (1, 202512)
    assert summaries.month_range(at, None) == (202603, 999_999)


def test_benchmark_period_reads_whole_months(app: FastAPI, client: TestClient) -> None:
    tenants = [make_tenant(app, f"Period{i}") for i in range(6)]
    for i, tenant in enumerate(tenants):
        studies = [
            record(
                f"8.{i}.{n}",
                patient=f"p{n}",
                device_key=f"device-{i}-ct",
                description="CT Head",
                study_at=T0 + timedelta(days=n * 3),  # 2 March .. 5 April
                events=(ct_event(f"8.{i}.{n}.1", 50.0, 700.0 + 10 * i),),
            )
            for n in range(12)
        ]
        ingest_via_api(client, tenant, studies)
    a = tenants[0]
    params = {"site_id": str(a.site_id), "exam_type": "ct_head", "metric": "dlp"}
    headers = auth(a.tokens[Role.MEDICAL_PHYSICIST])
    whole = client.get("/api/v1/analytics/benchmark", params=params, headers=headers).json()
    assert whole["own_n_studies"] == 12 and whole["peers"]["n_studies"] == 60
    # 10 March to 11 March: widened to all of March (studies 0..9 are in March)
    march = client.get(
        "/api/v1/analytics/benchmark",
        params={
            **params,
            "study_from_at": "2026-03-10T00:00:00Z",
            "study_to_at": "2026-03-11T00:00:00Z",
        },
        headers=headers,
    ).json()
    assert march["own_n_studies"] == 10 and march["peers"]["n_studies"] == 50
    april = client.get(
        "/api/v1/analytics/benchmark",
        params={**params, "study_from_at": "2026-04-01T00:00:00Z"},
        headers=headers,
    ).json()
    assert april["own_n_studies"] == 2 and april["peers"]["n_studies"] == 10


# -- concurrency and rebuild -------------------------------------------------------------


def test_concurrent_workers_keep_summaries_exact(app: FastAPI) -> None:
    tenant = make_tenant(app, "Racing")
    studies = [
        record(
            f"9.{n}",
            patient=f"p{n % 7}",
            device_key=f"device-{n % 3}",
            description="CT Head" if n % 2 else "CT Chest",
            study_at=T0 + timedelta(days=(n % 3) * 31),
            events=(ct_event(f"9.{n}.1", 10.0 + n, 200.0 + 3 * n),),
        )
        for n in range(120)
    ]
    later = [  # cumulative reports for every fourth study: superset, bigger dose
        record(
            f"9.{n}",
            patient=f"p{n % 7}",
            device_key=f"device-{n % 3}",
            description="CT Head" if n % 2 else "CT Chest",
            study_at=T0 + timedelta(days=(n % 3) * 31),
            events=(
                ct_event(f"9.{n}.1", 10.0 + n, 200.0 + 3 * n),
                ct_event(f"9.{n}.2", 5.0, 50.0),
            ),
        )
        for n in range(0, 120, 4)
    ]
    # each worker sends every batch (so they race on the same keys and cells)
    batches = [studies[i : i + 20] for i in range(0, 120, 20)] + [later]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(order: list[list[StudyRecord]]) -> None:
        try:
            start.wait()
            for chunk in order:
                with app.state.session_factory() as session:
                    scope_session(session, tenant.org_id)
                    ingest_batch(
                        session, tenant.site_id, RecordBatch(sent_at=T0, records=tuple(chunk))
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(batches,)),
        threading.Thread(target=worker, args=(batches[:-1][::-1] + batches[-1:],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = _cells(app)
    assert sum(s.count for k, s in stored.items() if k[3] == "dlp") == 120
    _assert_same(stored, _from_rows(app))


def test_cli_rebuilds_summaries_from_rows(app: FastAPI, client: TestClient, db_url: str) -> None:
    tenant = make_tenant(app, "Rebuilt")
    ingest_via_api(
        client,
        tenant,
        [
            record(
                f"6.{n}",
                patient=f"p{n}",
                description="CT Head",
                study_at=T0,
                events=(ct_event(f"6.{n}.1", 30.0 + n, 500.0 + n),),
            )
            for n in range(15)
        ],
    )
    kept = _cells(app)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(delete(DoseSummary))  # as after the migration that added the table
        session.commit()
    assert _cells(app) == {}
    result = CliRunner().invoke(cli, ["hub", "rebuild-summaries", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "1 site" in result.output and "15 studies" in result.output
    _assert_same(_cells(app), kept)


def test_removing_values_keeps_counts_exact() -> None:
    sketch, expected = DoseSketch(), DoseSketch()
    sketch.add_many([1.0, 2.0, 2.0, 50.0, 0.0])
    assert sketch.remove_many([2.0, 50.0, 0.0]) == 0
    expected.add_many([1.0, 2.0])
    assert sketch.same_counts(expected) and sketch.count == 2
    assert sketch.max == pytest.approx(2.0, rel=0.01) and sketch.sum == pytest.approx(3.0)
    # a value never added is reported, not turned into a negative count
    assert sketch.remove_many([7.0, 2.0]) == 1
    assert sketch.count == 1 and sketch.quantile(0.5) == pytest.approx(1.0, rel=0.01)
    assert sketch.remove_many([1.0]) == 0
    assert sketch.count == 0 and sketch.min is None and sketch.sum == 0.0
    with pytest.raises(ValueError):
        sketch.remove_many([-1.0])
