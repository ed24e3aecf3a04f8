"""Synthetic app run reports for the monitoring tests and the dashboard's world."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.hub.conftest import Tenant, auth


def run_report(i: int, at: datetime, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "run_key": f"run-{i:06d}",
        "app": "exposure-qa",
        "app_version": "1.0.0",
        "study_uid": f"2.25.{1000 + i}",
        "started_at": at.isoformat(),
        "latency_ms": 100.0 + i % 10,
        "status": "succeeded",
        "modality": "DX",
        "device_key": "device-dx1",
        "protocol": "CHEST PA",
        "outputs": {"deviation_index": 0.0},
    }
    fields.update(extra)
    return fields


def report_runs(client: TestClient, tenant: Tenant, runs: list[dict[str, Any]]) -> dict[str, Any]:
    answer = client.post("/api/v1/apps/runs", json={"runs": runs}, headers=auth(tenant.site_token))
    assert answer.status_code == 200, answer.text
    return answer.json()


def run_history(seed: int) -> list[dict[str, Any]]:
    """40 reference runs near DI 0 (8–30 days ago), 40 current ones near DI +2, 3 failures."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    runs = [
        run_report(i, now - timedelta(days=rng.uniform(8, 30)),
             outputs={"deviation_index": rng.gauss(0.0, 0.5)})
        for i in range(40)
    ]
    runs += [
        run_report(100 + i, now - timedelta(days=rng.uniform(0, 6)),
             outputs={"deviation_index": rng.gauss(2.0, 0.5)})
        for i in range(40)
    ]
    runs += [
        run_report(200 + i, now - timedelta(days=1), status="failed", failure_reason=reason,
             outputs={})
        for i, reason in enumerate(["timeout", "timeout", "memory"])
    ]
    return runs


