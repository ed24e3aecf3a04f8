"""Authentication: passwords, cookie sessions with CSRF, personal tokens, invitations."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from medcoop.hub.app import create_app
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Role, Token, User
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services.accounts import Permission
from medcoop.hub.settings import HubSettings
from tests.hub.conftest import PASSWORD, auth, make_tenant


def test_login_cookie_session_and_csrf(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha", passwords=True)
    email = tenant.emails[Role.ORG_ADMIN]
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    assert client.cookies.get("medcoop_session", "").startswith("mcw_")
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["roles"] == ["org_admin"]
    site = {"name": "Annex", "country": "GB"}
    assert client.post("/api/v1/sites", json=site).status_code == 403  # no CSRF header
    foreign = client.post(
        "/api/v1/sites",
        json=site,
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    created = client.post("/api/v1/sites", json=site, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    logout = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert logout.status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_password_and_login_rate_limit(settings: HubSettings) -> None:
    # a refill of one attempt per 100 minutes: slow password hashing on a loaded machine must
    # not let a token refill between the 10th and the 11th attempt
    app = create_app(settings.model_copy(update={"login_rate_per_min": 0.01}))
    with TestClient(app) as client:
        _ten_wrong_passwords_then_refused(app, client)
    app.state.engine.dispose()


def _ten_wrong_passwords_then_refused(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha", passwords=True)
    body = {"email": tenant.emails[Role.VIEWER], "password": "wrong password"}
    codes = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    unknown = client.post("/api/v1/auth/login", json={"email": "x@y.example", "password": "p"})
    assert unknown.status_code == 401


def test_personal_tokens_create_list_revoke_expire(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    admin = auth(tenant.tokens[Role.ORG_ADMIN])
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("mcp_")
    listed = client.get("/api/v1/tokens", headers=auth(secret)).json()
    assert {t["name"] for t in listed} >= {"ci"}
    assert all(t["token"] is None for t in listed)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        stored = session.scalars(select(Token.token_hash)).all()
    assert secret not in stored  # only hashes are stored
    revoked = client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 401
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    expired = client.get("/api/v1/me", headers=admin)
    assert expired.status_code == 401
    assert expired.json()["detail"] == "token expired"


def test_scoped_token_narrows_permissions(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    admin = auth(tenant.tokens[Role.ORG_ADMIN])
    scoped = client.post(
        "/api/v1/tokens",
        json={"name": "read only", "scopes": [Permission.READ_STUDIES.value]},
        headers=admin,
    ).json()["token"]
    assert client.get("/api/v1/studies", headers=auth(scoped)).status_code == 200
    assert client.get("/api/v1/sites", headers=auth(scoped)).status_code == 403
    viewer = auth(tenant.tokens[Role.VIEWER])
    widened = client.post(
        "/api/v1/tokens",
        json={"name": "more", "scopes": [Permission.MANAGE_USERS.value]},
        headers=viewer,
    )
    assert widened.status_code == 403


def test_password_login_for_cli_and_invitation_flow(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha", passwords=True)
    admin = auth(tenant.tokens[Role.ORG_ADMIN])
    invited = client.post(
        "/api/v1/invitations",
        json={"email": "New.Person@Alpha.example", "role": "medical_physicist"},
        headers=admin,
    )
    assert invited.status_code == 201
    token = invited.json()["token"]
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "a long password"}
    )
    assert accepted.status_code == 200
    assert accepted.json()["email"] == "new.person@alpha.example"
    reused = client.post(
        "/api/v1/invitations/accept", json={"token": token, "password": "a long password"}
    )
    assert reused.status_code == 410
    login = client.post(
        "/api/v1/auth/token",
        json={"email": "new.person@alpha.example", "password": "a long password"},
    )
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers=auth(login.json()["token"])).json()
    assert me["roles"] == ["medical_physicist"]
    assert me["organisation_id"] == str(tenant.org_id)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        stored = session.scalars(select(User.password_hash).where(User.email.like("new%"))).one()
    assert stored.startswith("$argon2id$")
