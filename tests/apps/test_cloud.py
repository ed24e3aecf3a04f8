"""Cloud runs on pooled data: the one door, the ledger's access entry, consent withdrawals,
local worker processes, and Dramatiq on the real RabbitMQ with two worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from medcoop.apps import cloud
from medcoop.hub.app import create_app
from medcoop.hub.db.apps_models import AppCloudRun
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.settings import HubSettings
from medcoop.ledger.entries import (
    AccessEntry,
    ConsentEntry,
    Decision,
    Period,
    canonical_json,
    parse_entry,
)
from medcoop.records import DoseTotals, StudyRecord
from tests.analytics.factories import KEY, ct_event, ingest_via_api, record
from tests.hub.conftest import Tenant, auth, make_tenant

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "tests.apps.cloud_app:run"
RABBIT = "amqp://guest:guest@127.0.0.1:5672"


@dataclass(frozen=True)
class Pool:
    settings: HubSettings
    a: Tenant
    b: Tenant
    withdrawn: str  # the pseudonym of the patient who withdrew


def _studies(tag: str, n: int) -> list[StudyRecord]:
    return [
        record(
            f"{tag}-{i}",
            patient=f"{tag}-P{i}",
            events=(ct_event(f"{tag}-{i}-e", 10.0, 100.0 * (i + 1)),),
            totals=DoseTotals(total_dlp_mgycm=100.0 * (i + 1)),
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """Two organisations' studies at one hub; one of A's patients withdrew consent."""
    home = tmp_path_factory.mktemp("cloud")
    settings = HubSettings(
        database_url=f"sqlite:///{home / 'hub.db'}",
        notifier_enabled=False,
        ledger_key_path=str(home / "ledger.key"),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        a = make_tenant(app, "Alpha")
        b = make_tenant(app, "Beta")
        ingest_via_api(client, a, _studies("a", 3))
        ingest_via_api(client, b, _studies("b", 2))
        # the patient withdraws at the edge; the edge sends the decision to the ledger,
        # and the hub removes the patient's studies (as in production)
        withdrawn = KEY.patient_pseudonym("a-P1")
        decision = ConsentEntry(
            site=str(a.site_id), pseudonym=withdrawn, pooling=Decision.DENY,
            research=Decision.DENY, purpose="pooling", period=Period(start="2026-01-01"),
            recorded_by="edge", recorded_at=int(time.time()),
        )
        sent = client.post(
            "/api/v1/ledger/entries",
            json={"entries": [canonical_json(decision).decode()]},
            headers=auth(a.site_token),
        )
        assert sent.status_code == 200, sent.text
    app.state.engine.dispose()
    yield Pool(settings, a, b, withdrawn)


def _job(pool: Pool, **parameters: object) -> cloud.CloudJob:
    return cloud.CloudJob(
        app_id="medcoop.dose-census", app_version="1.0.0", entry_point=ENTRY,
        org_id=str(pool.a.org_id), modalities=("CT",), parameters=parameters,
    )


def _access_entries(runner: cloud.CloudRunner) -> list[AccessEntry]:
    entries = [parse_entry(runner.ledger.entry(i)) for i in range(runner.ledger.size())]
    return [e for e in entries if isinstance(e, AccessEntry)]


def test_a_run_reads_through_the_door_leaves_withdrawn_patients_out_and_is_ledgered(
    pool: Pool,
) -> None:
    runner = cloud.CloudRunner(pool.settings)
    job = _job(pool)
    outcome = runner.run(job)
    assert outcome.status == "succeeded", outcome.error
    # both organisations' studies are pooled, less the withdrawn patient's one
    assert outcome.records == 4
    assert outcome.findings is not None
    assert pool.withdrawn not in outcome.findings["pseudonyms"]
    # the hub's access log wrote the read before the app ran: who, for whom, why, whom
    (access,) = [
        e for e in _access_entries(runner)
        if e.who == "app:medcoop.dose-census@1.0.0" and e.purpose == "cloud-app-run"
    ]
    assert access.organisation == str(pool.a.org_id)
    assert set(access.pseudonyms) == set(outcome.findings["pseudonyms"])
    assert "studies" in access.scope and "patients" in access.scope
    assert access.aggregate is not None
    assert (access.aggregate.records, access.aggregate.sites) == (4, 2)
    # the same job again is not run again; a failing app is recorded as failed
    assert runner.run(job).status == "already_run"
    failed = runner.run(_job(pool, fail=True))
    assert failed.status == "failed" and "on purpose" in (failed.error or "")
    runner.close()


def test_local_worker_processes_run_each_job_once(pool: Pool, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    jobs = [_job(pool, log=str(log)) for _ in range(3)]
    with cloud.LocalCloudQueue(pool.settings, workers=2) as queue:
        futures = [queue.submit(j) for j in (*jobs, jobs[0])]
        outcomes = [f.result(timeout=120) for f in futures]
    statuses = sorted(o.status for o in outcomes)
    assert statuses == ["already_run", "succeeded", "succeeded", "succeeded"]
    assert sorted(line.split()[0] for line in log.read_text().splitlines()) == sorted(
        j.job_id for j in jobs
    )


def _rabbit_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


def _start_worker(pool: Pool, queue: str, name: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        cloud.BROKER_ENV: RABBIT,
        "MEDCOOP_CLOUD_QUEUE": queue,
        "MEDCOOP_HUB_SETTINGS": pool.settings.model_dump_json(),
        "dramatiq_queue_prefetch": "1",  # one message at a time: both workers get some
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "medcoop.apps.cloud_worker",
         "--processes", "1", "--threads", "1", "--queues", queue],
        cwd=ROOT, env=env, stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
    )


def test_dramatiq_on_rabbitmq_with_two_workers_runs_each_job_once(
    pool: Pool, tmp_path: Path
) -> None:
    if not _rabbit_up():
        if os.environ.get("CI"):
            pytest.fail("RabbitMQ is not answering on 127.0.0.1:5672 in CI")
        pytest.skip("RabbitMQ is not answering on 127.0.0.1:5672")
    queue = f"medcoop-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "calls.log"
    workers = [_start_worker(pool, queue, f"w{i}", tmp_path) for i in range(2)]
    broker = cloud.make_broker(RABBIT)
    try:
        jobs = [_job(pool, log=str(log), sleep_s=0.5) for _ in range(8)]
        for job in (*jobs, jobs[0], jobs[1]):  # two redeliveries
            cloud.enqueue(broker, job, queue_name=queue)
        ids = {uuid.UUID(j.job_id) for j in jobs}
        deadline = time.monotonic() + 120
        from medcoop.hub.db.engine import make_engine, make_session_factory

        engine = make_engine(pool.settings)
        sessions = make_session_factory(engine)
        while True:
            with sessions() as session:
                scope_session(session, ALL_TENANTS)
                rows = [r for r in session.scalars(select(AppCloudRun)) if r.job_id in ids]
            done = [r for r in rows if r.status != "running"]
            if len(done) == len(ids) and len(log.read_text().splitlines()) >= len(ids):
                break
            assert all(w.poll() is None for w in workers), "a worker died"
            assert time.monotonic() < deadline, f"{len(done)} of {len(ids)} jobs done"
            time.sleep(0.3)
        time.sleep(1.0)  # let the redeliveries be consumed: they must not run the app
        calls = [line.split() for line in log.read_text().splitlines()]
        assert sorted(c[0] for c in calls) == sorted(j.job_id for j in jobs)  # once each
        assert {r.status for r in done} == {"succeeded"}
        assert len({r.worker for r in done}) == 2  # both workers took jobs
        engine.dispose()
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
        broker.close()
