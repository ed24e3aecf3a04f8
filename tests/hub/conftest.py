"""Hub test fixtures: a real database per back end (SQLite file, PostgreSQL), a real app.

``db_url`` is parametrized over SQLite and PostgreSQL; each test session creates its own
``medcoop_test_<random>`` PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from medcoop.hub.app import create_app
from medcoop.hub.db.models import Role, TokenKind
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.security import hash_password
from medcoop.hub.services import accounts
from medcoop.hub.settings import HubSettings

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"medcoop_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_pg(url: str) -> None:
    dsn = url.replace("postgresql://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty hub database, on each back end in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url = request.getfixturevalue("pg_server_url")
    _reset_pg(url)
    return url


@pytest.fixture
def settings(db_url: str) -> HubSettings:
    """Hub settings on the test database."""
    return HubSettings(database_url=db_url)


@pytest.fixture
def app(settings: HubSettings) -> Iterator[FastAPI]:
    """A migrated hub application."""
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client talking to the app in process (real ASGI, real database)."""
    with TestClient(app) as test_client:
        yield test_client


@dataclass(frozen=True)
class Tenant:
    """An organisation with a site, an enrolled edge and one user per role."""

    org_id: uuid.UUID
    site_id: uuid.UUID
    site_token: str
    tokens: dict[Role, str]  # personal access token per role
    emails: dict[Role, str]


PASSWORD = "correct horse battery staple"


def make_tenant(app: FastAPI, name: str, *, passwords: bool = False) -> Tenant:
    """Create an organisation with a site (enrolled), users for every role and their tokens.

    Users get :data:`PASSWORD` only when ``passwords`` is set (argon2 is slow on purpose).
    """
    settings: HubSettings = app.state.settings
    with app.state.session_factory() as session:
        session: Session
        scope_session(session, ALL_TENANTS)
        provisioned = accounts.provision_site(session, name, f"{name} General", country="GB")
        enrollment = accounts.enroll_edge(
            session, provisioned.enrollment_code, f"edge-{name}", token_ttl_s=3600
        )
        scope_session(session, ALL_TENANTS)
        password_hash = hash_password(PASSWORD) if passwords else None
        tokens: dict[Role, str] = {}
        emails: dict[Role, str] = {}
        for role in Role:
            email = f"{role.value}@{name.lower().replace(' ', '-')}.example"
            user = accounts.create_user(session, email)
            user.password_hash = password_hash
            accounts.add_membership(session, provisioned.org_id, user.id, role)
            _token, secret = accounts.issue_token(
                session, TokenKind.PERSONAL, provisioned.org_id, user_id=user.id, ttl_s=3600
            )
            tokens[role] = secret
            emails[role] = email
        session.commit()
    assert settings is not None
    return Tenant(provisioned.org_id, provisioned.site_id, enrollment.site_token, tokens, emails)


def auth(token: str) -> dict[str, str]:
    """Return the Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}
