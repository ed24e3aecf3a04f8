"""POST /api/v1/enroll: one-time codes exchanged for site tokens."""

from __future__ import annotations

import random
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import EnrollmentCode
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from tests.hub.conftest import auth
from tests.hub.factories import batch_json, record


def _provision(app: FastAPI, site: str = "General") -> accounts.ProvisionedSite:
    with app.state.session_factory() as session:
        provisioned = accounts.provision_site(
            scope_session(session, ALL_TENANTS), "Health Group", site, country="NL"
        )
        session.commit()
    return provisioned


def test_code_gives_a_working_site_token_once(app: FastAPI, client: TestClient) -> None:
    provisioned = _provision(app)
    response = client.post(
        "/api/v1/enroll", json={"code": provisioned.enrollment_code, "edge_name": "edge-1"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["site_token"].startswith("mcs_")
    assert answer["site_id"] == str(provisioned.site_id)
    assert answer["organisation"] == "Health Group"
    assert answer["site"] == "General"
    ingest = client.post(
        "/api/v1/ingest",
        content=batch_json([record(random.Random(1))]),
        headers=auth(answer["site_token"]),
    )
    assert ingest.status_code == 200
    again = client.post(
        "/api/v1/enroll", json={"code": provisioned.enrollment_code, "edge_name": "edge-2"}
    )
    assert again.status_code == 410


def test_code_is_forgiving_about_case_and_grouping(app: FastAPI, client: TestClient) -> None:
    code = _provision(app).enrollment_code
    typed = code.replace("-", " ").lower()
    response = client.post("/api/v1/enroll", json={"code": typed, "edge_name": "edge"})
    assert response.status_code == 200


def test_unknown_and_expired_codes_are_refused(app: FastAPI, client: TestClient) -> None:
    unknown = client.post("/api/v1/enroll", json={"code": "AAAAA-BBBBB", "edge_name": "e"})
    assert unknown.status_code == 401
    provisioned = _provision(app)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(update(EnrollmentCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    expired = client.post(
        "/api/v1/enroll", json={"code": provisioned.enrollment_code, "edge_name": "e"}
    )
    assert expired.status_code == 410


def test_enroll_rejects_bad_bodies(client: TestClient) -> None:
    assert client.post("/api/v1/enroll", json={"code": "x"}).status_code == 422
    assert client.post("/api/v1/enroll", content=b"nope").status_code == 422
