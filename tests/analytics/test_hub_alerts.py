"""Alerts through the hub: rules per organisation, evaluation at ingest and on request,
lifecycle, notices delivered by the background notifier to a real SMTP sink and webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from medcoop.hub.app import create_app
from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Role
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.settings import HubSettings
from medcoop.records import DoseTotals
from tests.hub.conftest import Tenant, auth, make_tenant

from .conftest import _free_port, _Hook, _Sink
from .factories import ct_event, ingest_via_api, record

W = TypeVar("W")


def _wait_for(check: Callable[[], W], timeout_s: float = 30.0) -> W:
    """Poll ``check`` until it returns something true (the notifier works in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the background notifier did not get there"
        time.sleep(0.05)


T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PHYSICIST = Role.MEDICAL_PHYSICIST


def _studies() -> list:
    ct = [
        record(
            f"50.{i}",
            patient=f"ct{i}",
            description="CT Head",
            study_at=T0 + timedelta(hours=i),
            events=(ct_event(f"50.{i}.1", ctdivol, 15 * ctdivol, ctdi_phantom="head16"),),
        )
        for i, ctdivol in enumerate((40.0, 45.0, 90.0))
    ]
    fluoro = [
        record(
            f"51.{i}",
            modality="XA",
            patient="fluoro-patient",
            study_at=T0 + timedelta(days=20 * i),
            totals=DoseTotals(total_dap_gycm2=dap),
        )
        for i, dap in enumerate((120.0, 100.0))
    ]
    return ct + fluoro


RULES = {
    "rules": [
        {"type": "ct_threshold", "rule_id": "ctdi-80", "metric": "ctdivol", "threshold": 80},
        {"type": "fluoro_cumulative", "rule_id": "fluoro-12w"},
    ]
}


def _notify(port: int, url: str | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "email": {
            "host": "127.0.0.1",
            "port": port,
            "sender": "alerts@medcoop.test",
            "recipients": ["physicist@alerting.test"],
        }
    }
    if url is not None:
        settings["webhook"] = {"url": url, "secret": "0123456789abcdef-secret"}
    return settings


def _alerts(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/analytics/alerts", headers=auth(tenant.tokens[PHYSICIST]))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _all_notified(client: TestClient, tenant: Tenant, n: int) -> list[dict[str, Any]]:
    found = _alerts(client, tenant)
    return found if len(found) == n and all(a["notified_at"] for a in found) else []


def test_rules_evaluation_lifecycle_and_notifications(
    app: FastAPI, client: TestClient, smtp_sink: tuple[_Sink, int], webhook: tuple[type[_Hook], str]
) -> None:
    sink, port = smtp_sink
    hook, url = webhook
    tenant, other = make_tenant(app, "Alerting"), make_tenant(app, "Quiet")
    ingest_via_api(client, tenant, _studies())  # before any rule: nothing is raised yet
    assert _alerts(client, tenant) == []
    headers = auth(tenant.tokens[PHYSICIST])
    settings = {"rules": RULES, "notify": _notify(port, url)}
    saved = client.put("/api/v1/analytics/alert-settings", json=settings, headers=headers)
    assert saved.status_code == 200, saved.text
    read = client.get("/api/v1/analytics/alert-settings", headers=headers).json()
    assert read["webhook_secret_set"] is True and "secret" not in json.dumps(read).replace(
        "webhook_secret_set", ""
    )
    # a viewer may read but not change rules
    viewer = auth(tenant.tokens[Role.VIEWER])
    assert (
        client.put("/api/v1/analytics/alert-settings", json=settings, headers=viewer).status_code
        == 403
    )

    # re-evaluation over the stored studies opens them; the notifier sends them
    opened = client.post("/api/v1/analytics/alerts/evaluate", headers=headers)
    assert opened.status_code == 200, opened.text
    alerts = {a["rule_id"]: a for a in opened.json()}
    assert set(alerts) == {"ctdi-80", "fluoro-12w"}
    assert alerts["ctdi-80"]["value"] == 90.0
    assert alerts["fluoro-12w"]["value"] == 220.0 and alerts["fluoro-12w"]["metric"] == "dap"
    delivered = _wait_for(lambda: _all_notified(client, tenant, 2))
    assert all(a["notify_error"] is None for a in delivered)
    assert len(sink.messages) == 2 and len(hook.received) == 2
    subjects = sorted(message_from_bytes(m[2])["Subject"] for m in sink.messages)
    assert "fluoro_cumulative" in subjects[1] and "ct_threshold" in subjects[0]
    # evaluating again opens nothing new and sends nothing
    again = client.post("/api/v1/analytics/alerts/evaluate", headers=headers)
    assert again.json() == []
    assert app.state.notifier.run_once() == 0 and len(sink.messages) == 2

    key = alerts["ctdi-80"]["alert_key"]
    path = f"/api/v1/analytics/alerts/{key}"
    assert client.post(f"{path}/acknowledge", json={}, headers=headers).status_code == 409
    acked = client.post(
        f"{path}/acknowledge", json={"note": "bariatric protocol, justified"}, headers=headers
    )
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    closed = client.post(f"{path}/close", json={}, headers=headers).json()
    assert [h["state"] for h in closed["history"]] == ["open", "acknowledged", "closed"]
    assert client.post(f"{path}/close", json={}, headers=headers).status_code == 409
    open_only = client.get("/api/v1/analytics/alerts", params={"state": "open"}, headers=headers)
    assert [a["rule_id"] for a in open_only.json()] == ["fluoro-12w"]
    # another organisation sees none of it
    theirs = auth(other.tokens[PHYSICIST])
    assert client.get("/api/v1/analytics/alerts", headers=theirs).json() == []
    assert client.post(f"{path}/close", json={"note": "x"}, headers=theirs).status_code == 404


def test_a_failed_notification_is_recorded_retried_and_delivered(
    app: FastAPI, client: TestClient
) -> None:
    tenant = make_tenant(app, "Unreachable")
    ingest_via_api(client, tenant, _studies())
    headers = auth(tenant.tokens[PHYSICIST])
    port = _free_port()  # nothing listens there yet
    settings = {"rules": RULES, "notify": _notify(port)}
    assert (
        client.put("/api/v1/analytics/alert-settings", json=settings, headers=headers).status_code
        == 200
    )
    opened = client.post("/api/v1/analytics/alerts/evaluate", headers=headers).json()
    assert len(opened) == 2

    def failed() -> list[dict[str, Any]]:
        found = _alerts(client, tenant)
        return found if all(a["notify_error"] for a in found) else []

    for alert in _wait_for(failed):
        assert alert["notified_at"] is None and "smtp" in alert["notify_error"]
        assert alert["state"] == "open"
    # the server comes back: the next try (after the backoff) delivers both, once
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.state.notifier.run_once(now=utcnow() + timedelta(hours=2))
        delivered = _wait_for(lambda: _all_notified(client, tenant, 2))
        assert all(a["notify_error"] is None for a in delivered)
        assert len(sink.messages) == 2
    finally:
        controller.stop()


def test_ingest_raises_alerts_that_are_emailed_and_posted(
    app: FastAPI, client: TestClient, smtp_sink: tuple[_Sink, int], webhook: tuple[type[_Hook], str]
) -> None:
    sink, port = smtp_sink
    hook, url = webhook
    tenant = make_tenant(app, "Live")
    headers = auth(tenant.tokens[PHYSICIST])
    settings = {"rules": RULES, "notify": _notify(port, url)}
    assert (
        client.put("/api/v1/analytics/alert-settings", json=settings, headers=headers).status_code
        == 200
    )
    studies = _studies()
    ct, fluoro = studies[:3], studies[3:]
    ingest_via_api(client, tenant, ct + fluoro[:1])  # the CT study above 80 mGy; fluoro 120 Gy·cm²
    ingest_via_api(client, tenant, fluoro[1:])  # 20 days later, +100: this one crosses 200
    delivered = {a["rule_id"]: a for a in _wait_for(lambda: _all_notified(client, tenant, 2))}
    assert delivered["ctdi-80"]["value"] == 90.0
    assert delivered["fluoro-12w"]["value"] == 220.0
    assert delivered["fluoro-12w"]["study_uid"] == fluoro[1].study_uid
    _wait_for(lambda: len(sink.messages) == 2 and len(hook.received) == 2)
    bodies = [json.loads(body) for _headers, body in hook.received]
    assert {b["rule_id"] for b in bodies} == {"ctdi-80", "fluoro-12w"}
    emailed = [message_from_bytes(m[2]) for m in sink.messages]
    assert all(m["To"] == "physicist@alerting.test" for m in emailed)
    # re-sending the batch or re-evaluating raises nothing twice
    ingest_via_api(client, tenant, ct)
    assert client.post("/api/v1/analytics/alerts/evaluate", headers=headers).json() == []
    assert app.state.notifier.run_once() == 0
    assert len(sink.messages) == 2 and len(hook.received) == 2


class _SlowSink(_Sink):
    """An SMTP server that holds every message until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        self.entered.set()
        self.release.wait(60)
        return await super().handle_DATA(server, session, envelope)


def test_a_slow_mail_server_never_holdsingest_via_api(app: FastAPI, client: TestClient) -> None:
    sink, port = _SlowSink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        tenant = make_tenant(app, "Slow")
        headers = auth(tenant.tokens[PHYSICIST])
        settings = {"rules": RULES, "notify": _notify(port)}
        assert (
            client.put(
                "/api/v1/analytics/alert-settings", json=settings, headers=headers
            ).status_code
            == 200
        )
        studies = _studies()
        ingest_via_api(client, tenant, studies[:3])
        assert sink.entered.wait(30)  # the notifier is stuck in the SMTP conversation
        # meanwhile ingest goes on (no database lock is held while sending)
        ingest_via_api(client, tenant, studies[3:])
        found = {a["rule_id"]: a for a in _alerts(client, tenant)}
        assert set(found) == {"ctdi-80", "fluoro-12w"}
        assert all(a["notified_at"] is None for a in found.values())
        sink.release.set()
        _wait_for(lambda: _all_notified(client, tenant, 2))
        assert len(sink.messages) == 2
    finally:
        sink.release.set()
        controller.stop()


def test_a_notice_survives_a_crash(settings: HubSettings, smtp_sink: tuple[_Sink, int]) -> None:
    sink, port = smtp_sink
    # a worker without a notifier opens alerts at ingest, then dies before sending
    first = create_app(settings.model_copy(update={"notifier_enabled": False}))
    tenant = make_tenant(first, "Crashing")
    with TestClient(first) as client:
        headers = auth(tenant.tokens[PHYSICIST])
        saved = client.put(
            "/api/v1/analytics/alert-settings",
            json={"rules": RULES, "notify": _notify(port)},
            headers=headers,
        )
        assert saved.status_code == 200
        ingest_via_api(client, tenant, _studies())
        pending = _alerts(client, tenant)
        assert len(pending) == 2 and all(a["notified_at"] is None for a in pending)
    # one of them was claimed by a notifier that crashed mid-send: its lease must run out
    with first.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        claimed = session.execute(
            select(AlertRow.alert_key, AlertRow.notify_after).where(AlertRow.rule_id == "ctdi-80")
        ).one()
    assert first.state.notifier._claim(tenant.org_id, *claimed, utcnow())
    first.state.engine.dispose()
    assert sink.messages == []
    # the next worker to start delivers what is due, and the claimed one after its lease
    second = create_app(settings)
    try:
        with TestClient(second) as client:

            def delivered(n: int) -> list[dict[str, Any]]:
                found = [a for a in _alerts(client, tenant) if a["notified_at"]]
                return found if len(found) == n else []

            (fluoro,) = _wait_for(lambda: delivered(1))
            assert fluoro["rule_id"] == "fluoro-12w" and len(sink.messages) == 1
            assert second.state.notifier.run_once(now=utcnow() + timedelta(minutes=10)) == 1
            _wait_for(lambda: delivered(2))
        assert len(sink.messages) == 2
    finally:
        second.state.engine.dispose()


def test_cli_alert_view_lists_open_alerts(app: FastAPI, client: TestClient) -> None:
    from rich.console import Console

    from medcoop.hub import views_cli

    tenant = make_tenant(app, "Viewed")
    ingest_via_api(client, tenant, _studies())
    client.headers["Authorization"] = f"Bearer {tenant.tokens[PHYSICIST]}"
    assert client.put("/api/v1/analytics/alert-settings", json={"rules": RULES}).status_code == 200
    assert len(client.post("/api/v1/analytics/alerts/evaluate").json()) == 2
    console = Console(record=True, width=200)
    rows = views_cli.show_alerts(client, console)
    text = console.export_text()
    assert len(rows) == 2 and "ctdi-80" in text and "fluoro-12w" in text
    # one page at a time, newest first, with the whole list's count
    page = client.get("/api/v1/analytics/alerts", params={"limit": 1, "offset": 1})
    assert page.headers["X-Total-Count"] == "2"
    assert [a["alert_key"] for a in page.json()] == [rows[1]["alert_key"]]
    console = Console(record=True, width=200)
    second = views_cli.show_alerts(client, console, limit=1, offset=1)
    assert second == page.json() and "2–2 of 2" in console.export_text()
