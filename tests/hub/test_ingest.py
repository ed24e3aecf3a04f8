"""POST /api/v1/ingest: idempotent, atomic, validated, normalised into tables."""

from __future__ import annotations

import random

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medcoop.hub.db.models import (
    Device,
    IrradiationEventRow,
    Patient,
    RecordReceipt,
    Study,
    UsageFact,
)
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from tests.hub.conftest import auth, make_tenant
from tests.hub.factories import batch_json, record


def _counts(app: FastAPI) -> dict[str, int]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Study, IrradiationEventRow, UsageFact, Device, Patient, RecordReceipt)
        }


def test_batch_lands_in_tables_and_replay_changes_nothing(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(1)
    records = [record(rng, device_key=f"device-key-{i % 3:04d}") for i in range(20)]
    body = batch_json(records)
    first = client.post("/api/v1/ingest", content=body, headers=auth(tenant.site_token))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["received"] == 20
    assert answer["new"] == [r.record_key for r in records]
    assert answer["duplicate"] == []
    counts = _counts(app)
    assert counts["studies"] == 20
    assert counts["irradiation_events"] == sum(len(r.events) for r in records)
    assert counts["devices"] == 3
    assert counts["patients"] == 20
    again = client.post("/api/v1/ingest", content=body, headers=auth(tenant.site_token))
    assert again.status_code == 200
    assert again.json()["new"] == []
    assert again.json()["duplicate"] == [r.record_key for r in records]
    assert _counts(app) == counts
