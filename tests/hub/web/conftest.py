"""A dashboard world: two organisations with studies, alerts and one user per role.

Module-scoped on one SQLite file (argon2 makes people slow to create on purpose); tests
that change data (acknowledge, tokens) use their own objects or say what they expect.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.app import create_app
from medcoop.hub.db.models import Role
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.settings import HubSettings
from medcoop.records import DoseTotals, EventKind, IrradiationEvent, StudyRecord, UsageFacts
from tests.analytics.factories import ct_event, ingest_via_api, record
from tests.apps.factories import report_runs, run_history
from tests.hub.conftest import PASSWORD, Tenant, auth, make_tenant

RULES = {
    "rules": [
        {"rule_id": "dlp-600", "type": "ct_threshold", "metric": "dlp", "threshold": 600},
        {"rule_id": "fluoro", "type": "fluoro_cumulative", "dap_gycm2": 50, "rp_dose_mgy": None},
    ]
}


@dataclass(frozen=True)
class World:
    """The app and its two tenants, both with alerts."""

    app: FastAPI
    a: Tenant
    b: Tenant


def _studies(tag: str, n: int, seed: int) -> list[StudyRecord]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(n):
        head = i % 2 == 0
        at = now - timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 12))
        ctdi = rng.uniform(30, 70) if head else rng.uniform(5, 15)
        dlp = ctdi * rng.uniform(12, 40)
        event = ct_event(
            f"{tag}-{i}-e1",
            round(ctdi, 2),
            round(dlp, 1),
            ctdi_phantom="head16" if head else "body32",
            protocol="HEAD ROUTINE" if head else "CHEST",
        )
        out.append(
            record(
                f"{tag}-{i}",
                patient=f"{tag}-P{i % 7}",
                device_key=f"{tag}-device-ct1",
                events=(event,),
                totals=DoseTotals(total_dlp_mgycm=round(dlp, 1), number_of_events=1),
                usage=UsageFacts(
                    first_acquisition_at=at, last_acquisition_at=at + timedelta(minutes=6)
                ),
                study_at=at,
                description="CT Head" if head else "CT Chest",
                age_years=rng.randint(20, 90),
                effective_diameter_cm=None if head else round(rng.uniform(22, 38), 1),
            )
        )
    # one patient's fluoroscopy, crossing the cumulative DAP rule on the third study
    for i in range(3):
        at = now - timedelta(days=10 - 3 * i)
        event = IrradiationEvent(
            event_uid=f"2.25.{seed}{i}99",
            kind=EventKind.FLUOROSCOPY,
            dap_gycm2=20.0,
            fluoro_time_s=120.0,
        )
        out.append(
            record(
                f"{tag}-rf-{i}",
                modality="RF",
                patient=f"{tag}-FLUORO",
                device_key=f"{tag}-device-rf1",
                events=(event,),
                totals=DoseTotals(total_dap_gycm2=20.0, total_fluoro_time_s=120.0),
                study_at=at,
                description="Barium swallow",
            )
        )
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Two organisations with data, alert rules and open alerts."""
    db = Path(tmp_path_factory.mktemp("web")) / "hub.db"
    app = create_app(
        # many sign-ins of one person per module; the login limit is tested in test_auth.py
        HubSettings(database_url=f"sqlite:///{db}", notifier_enabled=False, login_burst=10_000)
    )
    with TestClient(app) as client:
        a = make_tenant(app, "Alpha", passwords=True)
        b = make_tenant(app, "Beta", passwords=True)
        for tenant in (a, b):
            headers = auth(tenant.tokens[Role.MEDICAL_PHYSICIST])
            saved = client.put(
                "/api/v1/analytics/alert-settings", json={"rules": RULES}, headers=headers
            )
            assert saved.status_code == 200, saved.text
        with app.state.session_factory() as session:  # A has one more member than B
            scope_session(session, ALL_TENANTS)
            extra = accounts.create_user(session, "second.viewer@alpha.example")
            accounts.add_membership(session, a.org_id, extra.id, Role.VIEWER)
            session.commit()
        ingest_via_api(client, a, _studies("a", 40, 1))
        ingest_via_api(client, b, _studies("b", 12, 2))
        report_runs(client, a, run_history(3))  # the apps page's runs, drift and trend
    yield World(app, a, b)
    app.state.engine.dispose()


def sign_in(app: FastAPI, tenant: Tenant, role: Role) -> TestClient:
    """A browser-like client signed in through the sign-in form."""
    client = TestClient(app, base_url="http://hub.test", follow_redirects=False)
    answer = client.post("/login", data={"email": tenant.emails[role], "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


def csrf(client: TestClient) -> str:
    """The CSRF token the signed-in client's pages carry."""
    token = client.cookies.get("medcoop_csrf")
    assert token
    return token
