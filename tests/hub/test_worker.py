"""Background work has a home: `medcoop hub worker`, and rate limits shared through Redis."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from medcoop.cli import app as cli
from medcoop.hub.app import create_app
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.ratelimit import MemoryRateLimiter, RedisRateLimiter, limiter_for
from medcoop.hub.settings import HubSettings
from medcoop.records import DoseTotals
from tests.analytics.factories import ct_event, ingest_via_api, record
from tests.hub.conftest import make_tenant

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_available(), reason="Redis is not on 127.0.0.1:6379")


@needs_redis
def test_two_instances_share_one_redis_bucket() -> None:
    prefix = f"medcoop-test:{secrets.token_hex(6)}:"
    first, second = RedisRateLimiter(REDIS_URL, prefix=prefix), RedisRateLimiter(
        REDIS_URL, prefix=prefix
    )
    waits = [
        limiter.acquire("login:1.2.3.4:a@b.example", rate_per_s=0.01, burst=3)
        for limiter in (first, second, first, second)
    ]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 90 < waits[3] <= 100  # one token in 100 s, almost none refilled yet
    # another key has its own bucket; the keys expire once the bucket would be full
    assert second.acquire("login:5.6.7.8:a@b.example", rate_per_s=0.01, burst=3) == 0.0
    ttl_ms = redis.Redis.from_url(REDIS_URL).pttl(prefix + "login:1.2.3.4:a@b.example")
    assert 0 < ttl_ms <= 301_000


def test_redis_down_falls_back_to_this_processes_buckets() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", timeout_s=0.2)
    waits = [limiter.acquire("enroll:x", rate_per_s=0.01, burst=2) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0


@needs_redis
def test_settings_pick_the_limiter(tmp_path) -> None:
    assert isinstance(limiter_for(HubSettings()), MemoryRateLimiter)
    settings = HubSettings(
        database_url=f"sqlite:///{tmp_path / 'hub.db'}", rate_limit_redis_url=REDIS_URL
    )
    app = create_app(settings)
    try:
        assert isinstance(app.state.limiter, RedisRateLimiter)
    finally:
        app.state.engine.dispose()


def _backdate_cells(app: FastAPI, by: timedelta) -> None:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(update(DoseSummary).values(updated_at=datetime.now(UTC) - by))
        session.commit()


def _blocks(app: FastAPI) -> int:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return session.scalar(select(func.count()).select_from(DoseBlock)) or 0


def test_worker_compacts_quiet_months_outside_the_web_app(settings: HubSettings) -> None:
    # the web app leaves background work to the worker
    app = create_app(settings.model_copy(update={"worker_in_process": False}))
    try:
        with TestClient(app) as client:
            tenant = make_tenant(app, "Alpha")
            start = datetime(2026, 1, 5, 9, tzinfo=UTC)
            studies = [
                record(
                    f"7.{n}",
                    patient=f"p{n}",
                    description="CT Head",
                    study_at=start + timedelta(days=20 * n),
                    events=(ct_event(f"7.{n}.1", 40.0, 800.0 + n, ctdi_phantom="head16"),),
                    totals=DoseTotals(total_dlp_mgycm=800.0 + n),
                )
                for n in range(4)
            ]
            ingest_via_api(client, tenant, studies)
        assert app.state.worker.job("compactor") is not None
        assert _blocks(app) == 0
        db = ["--db", settings.resolved_database_url]
        runner = CliRunner()
        # just written: inside the margin, nothing to compact yet
        quiet = runner.invoke(cli, ["hub", "worker", "--once", *db])
        assert quiet.exit_code == 0, quiet.output
        assert "compactor: 0" in quiet.output and _blocks(app) == 0
        _backdate_cells(app, timedelta(minutes=10))
        done = runner.invoke(cli, ["hub", "worker", "--once", *db])
        assert done.exit_code == 0, done.output
        assert "notifier: 0" in done.output
        built = int(done.output.split("compactor: ")[1].split()[0].strip(","))
        assert built >= 3 and _blocks(app) == built  # one per exam type x metric x month
        again = runner.invoke(cli, ["hub", "worker", "--once", *db])
        assert "compactor: 0" in again.output  # the blocks are now newer than their cells
    finally:
        app.state.engine.dispose()
