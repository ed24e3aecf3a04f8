"""The edge reports its finished app runs to the hub's monitoring, durably and once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from medcoop.apps.monitor_report import MonitorReporter, queue_report, run_report
from medcoop.edge.config import load_settings, write_default_config
from medcoop.edge.enrollment import enroll
from medcoop.edge.store import EdgeStore
from medcoop.hub.db.models import Role
from tests.edge.conftest import LiveHub
from tests.hub.conftest import auth


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    live = LiveHub(tmp_path / "hub")
    live.start()
    yield live
    live.stop()


def _queue(store: EdgeStore, run_id: int, *, succeeded: bool) -> None:
    now = time.time()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO app_runs (id, study_key, app_key, state, created_at, last_object_at, "
            "due_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, f"2.25.{900 + run_id}", "medcoop.ct-size@1.0.0",
             "succeeded" if succeeded else "failed", now, now, now, now - 1, now),
        )
        report = run_report(
            edge_name="edge-test", run_id=run_id, study_key=f"2.25.{900 + run_id}",
            app_id="medcoop.ct-size", app_version="1.0.0", outcome=None,
            reason=None if succeeded else "timeout", started_at_s=now - 1, finished_at_s=now,
        )
        if succeeded:  # a finished run's outcome, as the worker hands it over
            report = report.model_copy(update={"status": "succeeded", "failure_reason": None,
                                               "outputs": {"ssde_mgy": 11.44}})
        queue_report(conn, run_id, report, now)


def test_runs_reach_the_hubs_monitoring_once(hub: LiveHub, tmp_path: Path) -> None:
    config = write_default_config(tmp_path / "edge" / "medcoop-edge.toml")
    enroll(config, hub.enrollment_code(), hub.url, edge_name="edge-test")
    settings = load_settings(config)
    store = EdgeStore(tmp_path / "edge" / "edge.db")
    _queue(store, 1, succeeded=True)
    _queue(store, 2, succeeded=False)
    reporter = MonitorReporter(settings, store)
    assert reporter.send_due() == 2
    assert reporter.send_due() == 0  # marked reported: never sent again
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts

    with hub.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        user = accounts.create_user(session, "viewer@test-health.example")
        org_id = hub_org(hub)
        accounts.add_membership(session, org_id, user.id, Role.VIEWER)
        from medcoop.hub.db.models import TokenKind

        _token, secret = accounts.issue_token(session, TokenKind.PERSONAL, org_id,
                                              user_id=user.id, ttl_s=600)
        session.commit()
    from fastapi.testclient import TestClient

    with TestClient(hub.app) as client:
        (row,) = client.get("/api/v1/apps/monitoring", headers=auth(secret)).json()["apps"]
    assert (row["app"], row["runs"], row["failures"]) == ("medcoop.ct-size", 2, 1)
    assert row["failures_by_reason"] == {"timeout": 1}
    assert row["outputs"][0]["name"] == "ssde_mgy"


def hub_org(hub: LiveHub) -> uuid.UUID:
    from sqlalchemy import select

    from medcoop.hub.db.models import Organisation
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session

    with hub.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        found = session.scalar(select(Organisation.id).where(Organisation.name == "Test Health"))
    assert found is not None
    return found


def test_a_hub_away_is_retried_later(tmp_path: Path) -> None:
    settings = load_settings(write_default_config(tmp_path / "edge" / "medcoop-edge.toml"))
    away = settings.hub.model_copy(
        update={"url": "http://127.0.0.1:9", "site_token": "x" * 40, "timeout_s": 2.0}
    )
    settings = settings.model_copy(update={"hub": away})
    store = EdgeStore(tmp_path / "edge" / "edge.db")
    _queue(store, 1, succeeded=True)
    reporter = MonitorReporter(settings, store)
    assert reporter.send_due() == 0
    with store.reading() as conn:
        attempts, next_at, error = conn.execute(
            "SELECT attempts, next_at, last_error FROM app_monitor").fetchone()
    assert attempts == 1 and next_at > time.time() and error
    assert reporter.send_due() == 0  # not due yet: nothing is sent, nothing lost
