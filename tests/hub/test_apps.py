"""App monitoring over the API: edges report runs, people read monitoring and review."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.db.models import Role
from tests.apps.factories import report_runs, run_history, run_report
from tests.hub.conftest import auth, make_tenant


def test_runs_are_counted_once_and_monitored(app: FastAPI, client: TestClient) -> None:
    a = make_tenant(app, "Alpha")
    b = make_tenant(app, "Beta")
    runs = run_history(1)
    assert report_runs(client, a, runs) == {"accepted": 83, "duplicates": 0}
    assert report_runs(client, a, runs[:10]) == {"accepted": 0, "duplicates": 10}

    answer = client.get("/api/v1/apps/monitoring", headers=auth(a.tokens[Role.VIEWER]))
    assert answer.status_code == 200, answer.text
    (qa,) = answer.json()["apps"]
    assert (qa["runs"], qa["failures"]) == (83, 3)
    assert qa["failures_by_reason"] == {"timeout": 2, "memory": 1}
    assert 100 <= qa["latency_ms"]["p50"] <= 109
    assert qa["modality_mix"] == {"DX": 83}
    drift = {d["name"]: d for d in qa["drift"]}
    assert drift["deviation_index"]["alert"]
    assert drift["deviation_index"]["psi"] > 0.25
    assert not drift["device_key"]["alert"]  # one device throughout
    assert qa["drift_alerts"] == ["deviation_index"]

    # another organisation sees none of it
    other = client.get("/api/v1/apps/monitoring", headers=auth(b.tokens[Role.VIEWER]))
    assert other.json()["apps"] == []
    trend = client.get(
        "/api/v1/apps/exposure-qa/trend",
        params={"output": "deviation_index"},
        headers=auth(a.tokens[Role.VIEWER]),
    ).json()
    assert sum(p["n"] for p in trend["devices"]["device-dx1"]) == 80


def test_clinicians_review_results_and_agreement_shows(app: FastAPI, client: TestClient) -> None:
    a = make_tenant(app, "Alpha")
    b = make_tenant(app, "Beta")
    now = datetime.now(UTC)
    report_runs(client, a, [run_report(i, now - timedelta(hours=i)) for i in range(2)])
    listed = client.get("/api/v1/apps/runs", headers=auth(a.tokens[Role.VIEWER])).json()
    run_id = listed[0]["id"]
    path = f"/api/v1/apps/runs/{run_id}/review"
    physicist = client.put(
        path, json={"verdict": "right", "note": "matches"},
        headers=auth(a.tokens[Role.MEDICAL_PHYSICIST]),
    )
    assert physicist.status_code == 200, physicist.text
    manager = client.put(path, json={"verdict": "wrong"},
                         headers=auth(a.tokens[Role.RADIOLOGY_MANAGER]))
    assert manager.status_code == 200
    again = client.put(path, json={"verdict": "right"},
                       headers=auth(a.tokens[Role.RADIOLOGY_MANAGER]))
    assert again.json()["verdict"] == "right"  # one review per person: replaced
    viewer = client.put(path, json={"verdict": "wrong"}, headers=auth(a.tokens[Role.VIEWER]))
    assert viewer.status_code == 403
    stranger = client.put(path, json={"verdict": "wrong"},
                          headers=auth(b.tokens[Role.MEDICAL_PHYSICIST]))
    assert stranger.status_code == 404
    missing = client.put(f"/api/v1/apps/runs/{uuid.uuid4()}/review", json={"verdict": "right"},
                         headers=auth(a.tokens[Role.MEDICAL_PHYSICIST]))
    assert missing.status_code == 404

    (qa,) = client.get("/api/v1/apps/monitoring", headers=auth(a.tokens[Role.VIEWER])).json()[
        "apps"
    ]
    assert (qa["reviews"], qa["agreement"]) == (2, 1.0)
    assert qa["agreement_by_site"] == [{"site": "Alpha General", "reviews": 2, "agreement": 1.0}]


def test_a_person_cannot_report_runs(app: FastAPI, client: TestClient) -> None:
    a = make_tenant(app, "Alpha")
    answer = client.post(
        "/api/v1/apps/runs",
        json={"runs": [run_report(1, datetime.now(UTC))]},
        headers=auth(a.tokens[Role.ORG_ADMIN]),
    )
    assert answer.status_code == 401


def test_the_cli_prints_the_monitoring_view(app: FastAPI, client: TestClient) -> None:
    import io
    import json

    from rich.console import Console

    from medcoop.apps.monitor_cli import show_monitoring
    from medcoop.output import OutputFormat

    a = make_tenant(app, "Alpha")
    report_runs(client, a, run_history(2))
    client.headers.update(auth(a.tokens[Role.VIEWER]))
    out = io.StringIO()
    show_monitoring(client, Console(file=out, width=400), output=OutputFormat.JSON)
    view = json.loads(out.getvalue())  # one view: one object
    (row,) = view["rows"]
    assert (row["app"], row["runs"], row["failures"], row["drift"]) == (
        "exposure-qa", 83, 3, "deviation_index"
    )
    table = io.StringIO()
    show_monitoring(client, Console(file=table, width=200), output=OutputFormat.TABLE)
    assert "timeout 2, memory 1" in table.getvalue()
