"""The one door to pooled data: purposes, access records, and no way around it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, literal, select

from medcoop.hub.db.access import Access, Purpose, observe
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.bulk import bulk_insert
from medcoop.hub.db.models import Membership, Patient, Role, Site, Study
from medcoop.hub.db.tenancy import (
    TenantScopeError,
    current_purpose,
    pooled,
    pooled_execute,
    scope_session,
)
from medcoop.hub.services.analytics import summaries
from tests.hub.conftest import PASSWORD, auth, make_tenant

SRC = Path(__file__).resolve().parents[2] / "src" / "medcoop" / "hub"


@pytest.fixture
def accesses() -> Iterator[list[Access]]:
    seen: list[Access] = []
    stop = observe(seen.append)
    yield seen
    stop()


def test_each_pooled_read_is_recorded_with_its_purpose(
    app: FastAPI, client: TestClient, accesses: list[Access]
) -> None:
    alpha = make_tenant(app, "Alpha", passwords=True)
    accesses.clear()
    headers = auth(alpha.tokens[Role.VIEWER])
    benchmark = client.get(
        "/api/v1/analytics/benchmark",
        params={"site_id": str(alpha.site_id), "exam_type": "ct_head"},
        headers=headers,
    )
    assert benchmark.status_code == 200, benchmark.text
    library = client.get("/api/v1/analytics/protocols", headers=headers)
    assert library.status_code == 200
    login = client.post(
        "/api/v1/auth/login", json={"email": alpha.emails[Role.VIEWER], "password": PASSWORD}
    )
    assert login.status_code == 200
    purposes = {a.purpose for a in accesses}
    assert {
        Purpose.AUTHENTICATE,
        Purpose.PEER_BENCHMARK,
        Purpose.PROTOCOL_LIBRARY,
        Purpose.LOGIN,
    } <= purposes
    bench = [a for a in accesses if a.purpose is Purpose.PEER_BENCHMARK]
    # on the caller's behalf, and only the summary tables (never a study)
    assert {a.tenant for a in bench} == {alpha.org_id}
    assert {"analytics_dose_summaries", "analytics_dose_blocks"} <= set().union(
        *(a.tables for a in bench)
    )
    assert all("studies" not in a.tables for a in accesses)
    library_reads = [a for a in accesses if a.purpose is Purpose.PROTOCOL_LIBRARY]
    assert {a.tables for a in library_reads if a.action != "concerns"} == {
        frozenset({"analytics_protocols"})
    }
    # and each service says what its read concerned, for the ledger's access entry
    assert any(a.concern is not None for a in library_reads)
    assert any(a.concern is not None for a in bench)


def test_a_purpose_sees_only_its_tables(app: FastAPI) -> None:
    make_tenant(app, "Alpha")
    with app.state.session_factory() as session:
        pooled(session, Purpose.PROTOCOL_LIBRARY)
        assert current_purpose(session) is Purpose.PROTOCOL_LIBRARY
        with pytest.raises(TenantScopeError):
            session.scalars(select(Study)).all()
        with pytest.raises(TenantScopeError):  # no entity, only a FROM: still refused
            session.scalar(select(func.count()).select_from(Study))
        with pytest.raises(TenantScopeError):
            session.scalars(select(Membership)).all()
    with app.state.session_factory() as session:
        pooled(session, Purpose.PEER_BENCHMARK)
        assert session.scalar(select(func.count()).select_from(Site)) == 1
        with pytest.raises(TenantScopeError):
            session.scalar(select(func.count()).select_from(Patient))


def test_a_tenants_session_is_never_widened(app: FastAPI) -> None:
    alpha = make_tenant(app, "Alpha")
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        with pytest.raises(TenantScopeError):
            pooled(session, Purpose.PEER_BENCHMARK)
        # and pooled data is not a tenant's to read
        with pytest.raises(TenantScopeError):
            session.scalars(select(DoseBlock)).all()
        with pytest.raises(TenantScopeError):
            summaries.read_pooled(session, "ct_head", "dlp", None)
        with pytest.raises(TenantScopeError):
            pooled_execute(session, select(DoseSummary.sketch))


def test_core_reads_around_the_session_are_refused(app: FastAPI) -> None:
    alpha = make_tenant(app, "Alpha")
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        assert session.scalar(select(func.count()).select_from(Study)) == 0
        with pytest.raises(TenantScopeError):  # the tenancy filter never sees this one
            session.connection().execute(select(Study.id)).all()
        with pytest.raises(TenantScopeError):
            session.connection().execute(select(DoseBlock.month)).all()
        assert session.connection().execute(select(literal(1))).scalar() == 1


def test_pooled_writes_are_checked_too(app: FastAPI, accesses: list[Access]) -> None:
    alpha = make_tenant(app, "Alpha")
    beta = make_tenant(app, "Beta")
    row = {"org_id": beta.org_id, "id": uuid.uuid4(), "site_id": beta.site_id, "pseudonym": "ab"}
    with app.state.session_factory() as session:
        pooled(session, Purpose.ENROLL)
        with pytest.raises(TenantScopeError):  # enrollment never writes patients
            bulk_insert(session, Patient.__table__, [row])  # type: ignore[arg-type]
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        with pytest.raises(TenantScopeError):
            bulk_insert(session, Patient.__table__, [row])  # type: ignore[arg-type]
    assert not [a for a in accesses if "patients" in a.tables]


def test_services_and_routers_only_reach_pooled_data_through_the_door() -> None:
    """No administration marker and no Core read on a raw connection in the request path:
    a pooled read added there any other way fails this test."""
    offenders = []
    for path in [*(SRC / "services").rglob("*.py"), *(SRC / "api").rglob("*.py")]:
        if path.parent.name == "ledger":
            continue  # the platform-wide log: its own global tables, no tenant's rows
        text = path.read_text()
        for pattern in (r"\bALL_TENANTS\b", r"\.connection\(\)\s*\.execute\(", r"engine\.connect"):
            if re.search(pattern, text) and path.name != "health.py":
                offenders.append(f"{path.relative_to(SRC)}: {pattern}")
    assert offenders == []
