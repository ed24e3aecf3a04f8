"""Tenant isolation in the data layer: every ORM statement is scoped, or refused."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, insert, select, update

from medcoop.hub.db.models import Site
from medcoop.hub.db.tenancy import ALL_TENANTS, TenantScopeError, scope_session
from medcoop.hub.services import accounts


def _two_tenants(app: FastAPI) -> tuple[accounts.ProvisionedSite, accounts.ProvisionedSite]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        alpha = accounts.provision_site(session, "Alpha", "Alpha General")
        beta = accounts.provision_site(session, "Beta", "Beta General")
        session.commit()
    return alpha, beta


def test_scoped_reads_see_only_their_tenant(app: FastAPI) -> None:
    alpha, beta = _two_tenants(app)
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        assert session.scalars(select(Site.name)).all() == ["Alpha General"]
        assert session.scalar(select(Site).where(Site.id == beta.site_id)) is None
        assert session.scalar(select(func.count()).select_from(Site)) == 1


def test_scoped_updates_and_deletes_cannot_reach_other_tenants(app: FastAPI) -> None:
    alpha, beta = _two_tenants(app)
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        session.execute(update(Site).values(site_type="renamed"))
        session.execute(delete(Site).where(Site.id == beta.site_id))
        session.commit()
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        types = dict(session.execute(select(Site.name, Site.site_type)).all())
    assert types == {"Alpha General": "renamed", "Beta General": None}


def test_writes_for_another_tenant_are_refused(app: FastAPI) -> None:
    alpha, beta = _two_tenants(app)
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        session.add(Site(org_id=beta.org_id, name="Smuggled"))
        with pytest.raises(TenantScopeError):
            session.flush()
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        with pytest.raises(TenantScopeError):
            session.execute(insert(Site), [{"org_id": beta.org_id, "name": "Bulk smuggled"}])


def test_unscoped_session_is_refused(app: FastAPI) -> None:
    _two_tenants(app)
    with app.state.session_factory() as session, pytest.raises(TenantScopeError):
        session.scalars(select(Site)).all()


def test_scope_must_be_an_org_id(app: FastAPI) -> None:
    with app.state.session_factory() as session, pytest.raises(TypeError):
        scope_session(session, "alpha")  # type: ignore[arg-type]


def test_bulk_ingest_writer_refuses_other_tenants_rows(app: FastAPI) -> None:
    from medcoop.hub.db.bulk import bulk_insert as _bulk_insert
    from medcoop.hub.db.models import Patient

    alpha, beta = _two_tenants(app)
    row = {"org_id": beta.org_id, "id": uuid.uuid4(), "site_id": beta.site_id, "pseudonym": "ab"}
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        with pytest.raises(TenantScopeError):
            _bulk_insert(session, Patient.__table__, [row])
