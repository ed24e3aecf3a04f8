"""``medcoop hub serve`` for real: uvicorn workers on one database give the same results.

The same batches (each sent twice at once, so workers race on the same record keys) go
to a hub with one worker and to a hub with two; the stored studies must be identical.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import DoseSketch
from medcoop.hub.db.analytics_models import DoseSummary
from medcoop.hub.db.engine import make_engine, make_session_factory
from medcoop.hub.db.models import Device, IrradiationEventRow, Study
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.services.analytics import summaries
from medcoop.hub.settings import HubSettings
from tests.hub.conftest import _reset_pg
from tests.hub.factories import batch_json, ct_event, record

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _hub(db_url: str | None, workers: int, home: Path) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "medcoop", "hub", "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    if db_url:
        command += ["--db", db_url]
    env = {**os.environ, "MEDCOOP_HOME": str(home)}
    env.pop("MEDCOOP_HUB_DB", None)
    log_path = home / f"hub-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"hub exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("hub did not become ready")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _bodies() -> list[bytes]:
    rng = random.Random(42)
    first = [record(rng, device_key=f"device-key-{i % 4:04d}") for i in range(60)]
    later = [  # cumulative RDSRs for a third of the studies: superset of events
        record(
            rng,
            study_uid=r.study_uid,
            events=(*r.events, ct_event(rng)),
            device_key=r.device.device_key,
            pseudonym=r.patient.pseudonym,
        )
        for r in first[::3]
    ]
    return [batch_json(first[i : i + 15]) for i in range(0, 60, 15)] + [batch_json(later)]


def _summaries(session: Session) -> dict[tuple[object, ...], DoseSketch]:
    devices = dict(session.execute(select(Device.id, Device.device_key)).all())
    return {
        (devices[r.device_id], r.exam_type, r.metric, r.month): DoseSketch.from_bytes(r.sketch)
        for r in session.scalars(select(DoseSummary))
    }


def _same_summaries(a: dict[tuple[object, ...], DoseSketch], b: dict) -> bool:
    return set(a) == set(b) and all(a[k].same_counts(b[k]) for k in a)


def _run(base: str, db_url: str) -> tuple[list[tuple[object, ...]], int, dict]:
    settings = HubSettings(database_url=db_url, migrate_on_start=False)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with factory() as session:
        provisioned = accounts.provision_site(
            scope_session(session, ALL_TENANTS), "Scale", "Scale General"
        )
        session.commit()
    token = httpx.post(
        f"{base}/api/v1/enroll", json={"code": provisioned.enrollment_code, "edge_name": "e"}
    ).json()["site_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = _bodies()
    # No keep-alive: a pooled connection the server closes as idle would reset a POST.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        for wave in (bodies[:4], bodies[4:]):  # later records after the first ones
            with ThreadPoolExecutor(max_workers=4) as pool:
                codes = list(pool.map(lambda b: client.post("/api/v1/ingest", content=b), wave * 2))
            assert [c.status_code for c in codes] == [200] * len(codes), [c.text for c in codes]
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        studies = session.execute(
            select(
                Study.study_uid, Study.record_key, Study.total_dlp_mgycm, Study.number_of_events
            ).order_by(Study.study_uid)
        ).all()
        events = session.scalar(select(func.count()).select_from(IrradiationEventRow)) or 0
        kept = _summaries(session)
        session.rollback()
        summaries.rebuild(session)
        assert kept and _same_summaries(kept, _summaries(session))  # as the rows say
    engine.dispose()
    return [tuple(row) for row in studies], events, kept


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_match_one(pg_server_url: str, tmp_path: Path) -> None:
    results = []
    for workers in (1, 2):
        _reset_pg(pg_server_url)
        with _hub(pg_server_url, workers, tmp_path) as base:
            results.append(_run(base, pg_server_url))
    (one, events_one, sums_one), (two, events_two, sums_two) = results
    assert len(one) == 60
    assert events_one == events_two > 0
    assert one == two
    assert _same_summaries(sums_one, sums_two)


@pytest.mark.slow
def test_default_sqlite_home_with_two_workers(tmp_path: Path) -> None:
    with _hub(None, 2, tmp_path) as base:
        studies, events, _kept = _run(base, f"sqlite:///{tmp_path / 'hub' / 'hub.db'}")
    assert (tmp_path / "hub" / "hub.db").is_file()
    assert len(studies) == 60
    assert events == sum(n for *_rest, n in studies)
