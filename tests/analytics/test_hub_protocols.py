"""Protocol sharing through the hub: summarise, publish (opt-in), browse, export, compare."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.db.models import Role
from medcoop.records import RecordBatch, UsageFacts
from tests.hub.conftest import Tenant, auth, make_tenant

from .factories import ct_event, record

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PHYSICIST = Role.MEDICAL_PHYSICIST


def _ingest(client: TestClient, tenant: Tenant, tag: str, ctdivol: float, n: int) -> None:
    studies = tuple(
        record(
            f"{tag}.{i}",
            patient=f"{tag}{i}",
            description="CT Chest",
            study_at=T0 + timedelta(hours=i),
            events=(
                ct_event(f"{tag}.{i}.1", ctdivol, ctdivol * 30, kvp=100.0, target_region="Chest"),
            ),
            usage=UsageFacts(performed_protocol="Chest low dose"),
        )
        for i in range(n)
    )
    batch = RecordBatch(sent_at=T0, records=studies)
    answer = client.post(
        "/api/v1/ingest",
        content=batch.model_dump_json(),
        headers={**auth(tenant.site_token), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


def test_publish_browse_export_and_compare(app: FastAPI, client: TestClient) -> None:
    publisher, adopter = make_tenant(app, "Publisher"), make_tenant(app, "Adopter")
    _ingest(client, publisher, "60", 4.0, 12)
    _ingest(client, adopter, "61", 8.0, 3)
    mine = auth(publisher.tokens[PHYSICIST])
    (summary,) = client.get("/api/v1/analytics/protocols/own", headers=mine).json()
    assert summary["name"] == "Chest low dose" and summary["n_studies"] == 12
    assert summary["quantities"]["ctdivol_mgy"]["median"] == 4.0
    body = {"name": "Chest low dose", "description": "100 kV, iterative", "publisher": "Pub GH"}
    viewer = auth(publisher.tokens[Role.VIEWER])
    assert client.post("/api/v1/analytics/protocols", json=body, headers=viewer).status_code == 403
    created = client.post("/api/v1/analytics/protocols", json=body, headers=mine)
    assert created.status_code == 201, created.text
    protocol_id = created.json()["id"]

    theirs = auth(adopter.tokens[PHYSICIST])
    # the adopter has only 3 studies: publishing is refused with the reason
    refused = client.post("/api/v1/analytics/protocols", json=body, headers=theirs)
    assert refused.status_code == 400 and "3 studies" in refused.json()["detail"]
    (entry,) = client.get("/api/v1/analytics/protocols", headers=theirs).json()
    assert entry["publisher"] == "Pub GH" and "org_id" not in entry
    exported = client.get(f"/api/v1/analytics/protocols/{protocol_id}", headers=theirs)
    assert json.loads(exported.text)["summary"]["n_studies"] == 12
    sheet = client.get(f"/api/v1/analytics/protocols/{protocol_id}/sheet", headers=theirs)
    assert sheet.headers["content-type"].startswith("text/html") and "Pub GH" in sheet.text
    compared = client.get(
        f"/api/v1/analytics/protocols/{protocol_id}/compare",
        params={"own": "Chest low dose"},
        headers=theirs,
    ).json()
    rows = {r["quantity"]: r for r in compared["rows"]}
    assert rows["ctdivol_mgy"]["ratio"] == 2.0 and rows["kvp"]["own_median"] == 100.0
    missing = client.get(
        f"/api/v1/analytics/protocols/{protocol_id}/compare", params={"own": "Nope"}, headers=theirs
    )
    assert missing.status_code == 404
