"""Alerts through the hub: rules per organisation, evaluation, lifecycle, real notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes

from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.db.models import Role
from medcoop.records import DoseTotals, RecordBatch
from tests.hub.conftest import Tenant, auth, make_tenant

from .conftest import _free_port, _Hook, _Sink
from .factories import ct_event, record

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PHYSICIST = Role.MEDICAL_PHYSICIST


def _ingest(client: TestClient, tenant: Tenant, studies: list) -> None:
    batch = RecordBatch(sent_at=T0, records=tuple(studies))
    answer = client.post(
        "/api/v1/ingest",
        content=batch.model_dump_json(),
        headers={**auth(tenant.site_token), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


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


def test_rules_evaluation_lifecycle_and_notifications(
    app: FastAPI, client: TestClient, smtp_sink: tuple[_Sink, int], webhook: tuple[type[_Hook], str]
) -> None:
    sink, port = smtp_sink
    hook, url = webhook
    tenant, other = make_tenant(app, "Alerting"), make_tenant(app, "Quiet")
    _ingest(client, tenant, _studies())
    headers = auth(tenant.tokens[PHYSICIST])
    settings = {
        "rules": RULES,
        "notify": {
            "email": {
                "host": "127.0.0.1",
                "port": port,
                "sender": "alerts@medcoop.test",
                "recipients": ["physicist@alerting.test"],
            },
            "webhook": {"url": url, "secret": "0123456789abcdef-secret"},
        },
    }
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

    opened = client.post("/api/v1/analytics/alerts/evaluate", headers=headers)
    assert opened.status_code == 200, opened.text
    alerts = {a["rule_id"]: a for a in opened.json()}
    assert set(alerts) == {"ctdi-80", "fluoro-12w"}
    assert alerts["ctdi-80"]["value"] == 90.0
    assert alerts["fluoro-12w"]["value"] == 220.0 and alerts["fluoro-12w"]["metric"] == "dap"
    assert all(a["notified_at"] and a["notify_error"] is None for a in alerts.values())
    assert len(sink.messages) == 2 and len(hook.received) == 2
    subjects = sorted(message_from_bytes(m[2])["Subject"] for m in sink.messages)
    assert "fluoro_cumulative" in subjects[1] and "ct_threshold" in subjects[0]
    # evaluating again opens nothing new and sends nothing
    again = client.post("/api/v1/analytics/alerts/evaluate", headers=headers)
    assert again.json() == [] and len(sink.messages) == 2

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


def test_a_failed_notification_is_recorded_and_the_alert_kept(
    app: FastAPI, client: TestClient
) -> None:
    tenant = make_tenant(app, "Unreachable")
    _ingest(client, tenant, _studies())
    headers = auth(tenant.tokens[PHYSICIST])
    settings = {
        "rules": RULES,
        "notify": {
            "email": {
                "host": "127.0.0.1",
                "port": _free_port(),
                "sender": "a@b.test",
                "recipients": ["c@d.test"],
            }
        },
    }
    assert (
        client.put("/api/v1/analytics/alert-settings", json=settings, headers=headers).status_code
        == 200
    )
    opened = client.post("/api/v1/analytics/alerts/evaluate", headers=headers).json()
    assert len(opened) == 2
    assert all(a["notified_at"] is None and "smtp" in a["notify_error"] for a in opened)
    assert len(client.get("/api/v1/analytics/alerts", headers=headers).json()) == 2


def test_cli_alert_view_lists_open_alerts(app: FastAPI, client: TestClient) -> None:
    from rich.console import Console

    from medcoop.hub import views_cli

    tenant = make_tenant(app, "Viewed")
    _ingest(client, tenant, _studies())
    client.headers["Authorization"] = f"Bearer {tenant.tokens[PHYSICIST]}"
    assert client.put("/api/v1/analytics/alert-settings", json={"rules": RULES}).status_code == 200
    assert len(client.post("/api/v1/analytics/alerts/evaluate").json()) == 2
    console = Console(record=True, width=200)
    rows = views_cli.show_alerts(client, console)
    text = console.export_text()
    assert len(rows) == 2 and "ctdi-80" in text and "fluoro-12w" in text
