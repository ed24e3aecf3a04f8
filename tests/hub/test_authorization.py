"""The authorization matrix: every endpoint × every role × own or other tenant's object.

Allowed calls succeed; a role without the permission gets 403 whatever the object; a
role with it gets 404 for another tenant's object, exactly as for an id that does not
exist, so existence never leaks. Lists never show another tenant's rows.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from medcoop.hub.db.models import Device, Role, Study, Token, TokenKind
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import ROLE_PERMISSIONS, Permission
from tests.hub.conftest import Tenant, auth, make_tenant
from tests.hub.factories import batch_json, record


@dataclass(frozen=True)
class World:
    """Two tenants with data, and ids of their objects."""

    app: FastAPI
    tenants: dict[str, Tenant]
    device: dict[str, uuid.UUID]
    study: dict[str, uuid.UUID]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: how to call it for a role against an owner's object."""

    name: str
    method: str
    path: Callable[[World, str, Role], str]
    permission: Permission | None  # None: any authenticated person
    body: Callable[[Role, str], dict[str, Any]] | None = None
    has_object: bool = True
    ok: int = 200


def _spare_user(world: World, owner: str, role: Role) -> uuid.UUID:
    with world.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        user = accounts.create_user(session, f"spare-{uuid.uuid4().hex}@x.example")
        accounts.add_membership(session, world.tenants[owner].org_id, user.id, Role.VIEWER)
        session.commit()
        return user.id


def _own_token(world: World, owner: str, role: Role) -> uuid.UUID:
    tenant = world.tenants[owner]
    with world.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        user_id = session.scalar(
            select(Token.user_id).where(Token.org_id == tenant.org_id, Token.name == role.value)
        )
        token, _secret = accounts.issue_token(
            session, TokenKind.PERSONAL, tenant.org_id, user_id=user_id, ttl_s=60
        )
        session.commit()
        return token.id


ENDPOINTS = (
    Endpoint("me", "GET", lambda w, o, r: "/api/v1/me", None, has_object=False),
    Endpoint(
        "list orgs",
        "GET",
        lambda w, o, r: "/api/v1/organisations",
        Permission.READ_DIRECTORY,
        has_object=False,
    ),
    Endpoint(
        "get org",
        "GET",
        lambda w, o, r: f"/api/v1/organisations/{w.tenants[o].org_id}",
        Permission.READ_DIRECTORY,
    ),
    Endpoint(
        "create org",
        "POST",
        lambda w, o, r: "/api/v1/organisations",
        Permission.MANAGE_ORGANISATIONS,
        body=lambda r, o: {"name": f"New {r.value} {o}"},
        has_object=False,
        ok=201,
    ),
    Endpoint(
        "list sites",
        "GET",
        lambda w, o, r: "/api/v1/sites",
        Permission.READ_DIRECTORY,
        has_object=False,
    ),
    Endpoint(
        "get site",
        "GET",
        lambda w, o, r: f"/api/v1/sites/{w.tenants[o].site_id}",
        Permission.READ_DIRECTORY,
    ),
    Endpoint(
        "create site",
        "POST",
        lambda w, o, r: "/api/v1/sites",
        Permission.MANAGE_SITES,
        body=lambda r, o: {"name": f"Site {r.value} {o}"},
        has_object=False,
        ok=201,
    ),
    Endpoint(
        "enrollment code",
        "POST",
        lambda w, o, r: f"/api/v1/sites/{w.tenants[o].site_id}/enrollment-codes",
        Permission.MANAGE_SITES,
        ok=201,
    ),
    Endpoint(
        "list devices",
        "GET",
        lambda w, o, r: "/api/v1/devices",
        Permission.READ_DIRECTORY,
        has_object=False,
    ),
    Endpoint(
        "get device",
        "GET",
        lambda w, o, r: f"/api/v1/devices/{w.device[o]}",
        Permission.READ_DIRECTORY,
    ),
    Endpoint(
        "patch device",
        "PATCH",
        lambda w, o, r: f"/api/v1/devices/{w.device[o]}",
        Permission.MANAGE_DEVICES,
        body=lambda r, o: {"device_class": "CT-DE"},
    ),
    Endpoint(
        "list users",
        "GET",
        lambda w, o, r: "/api/v1/users",
        Permission.READ_DIRECTORY,
        has_object=False,
    ),
    Endpoint(
        "get user",
        "GET",
        lambda w, o, r: f"/api/v1/users/{_spare_user(w, o, r)}",
        Permission.READ_DIRECTORY,
    ),
    Endpoint(
        "create user",
        "POST",
        lambda w, o, r: "/api/v1/users",
        Permission.MANAGE_USERS,
        body=lambda r, o: {"email": f"made-by-{r.value}-{o}@x.example", "role": "viewer"},
        has_object=False,
        ok=201,
    ),
    Endpoint(
        "remove user",
        "DELETE",
        lambda w, o, r: f"/api/v1/users/{_spare_user(w, o, r)}",
        Permission.MANAGE_USERS,
        ok=204,
    ),
    Endpoint(
        "invite",
        "POST",
        lambda w, o, r: "/api/v1/invitations",
        Permission.MANAGE_USERS,
        body=lambda r, o: {"email": f"invitee-{r.value}@x.example", "role": "viewer"},
        has_object=False,
        ok=201,
    ),
    Endpoint(
        "list studies",
        "GET",
        lambda w, o, r: "/api/v1/studies",
        Permission.READ_STUDIES,
        has_object=False,
    ),
    Endpoint(
        "get study", "GET", lambda w, o, r: f"/api/v1/studies/{w.study[o]}", Permission.READ_STUDIES
    ),
    Endpoint("list tokens", "GET", lambda w, o, r: "/api/v1/tokens", None, has_object=False),
    Endpoint(
        "revoke token",
        "DELETE",
        lambda w, o, r: f"/api/v1/tokens/{_own_token(w, o, r)}",
        None,
        ok=204,
    ),
)


def _world(app: FastAPI, client: TestClient) -> World:
    tenants = {"own": make_tenant(app, "Own"), "other": make_tenant(app, "Other")}
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for tenant in tenants.values():  # label each role's token so tests can find it
            for role, secret in tenant.tokens.items():
                token = session.scalar(select(Token).where(Token.token_hash == _hash(secret)))
                assert token is not None
                token.name = role.value
        session.commit()
    rng = random.Random(11)
    for tenant in tenants.values():
        sent = client.post(
            "/api/v1/ingest",
            content=batch_json([record(rng) for _ in range(3)]),
            headers=auth(tenant.site_token),
        )
        assert sent.status_code == 200
    device: dict[str, uuid.UUID] = {}
    study: dict[str, uuid.UUID] = {}
    with app.state.session_factory() as session:
        for owner, tenant in tenants.items():
            scope_session(session, tenant.org_id)
            device[owner] = session.scalars(select(Device.id)).first()
            study[owner] = session.scalars(select(Study.id)).first()
    return World(app, tenants, device, study)


def _hash(secret: str) -> str:
    from medcoop.hub.security import hash_secret

    return hash_secret(secret)


def _expected(endpoint: Endpoint, role: Role, owner: str) -> int:
    permissions = ROLE_PERMISSIONS[role]
    if endpoint.permission is not None and endpoint.permission not in permissions:
        return 403
    if owner == "other" and endpoint.has_object:
        if endpoint.name == "get org" and Permission.MANAGE_ORGANISATIONS in permissions:
            return 200  # the platform operator sees every tenant
        return 404
    return endpoint.ok


def test_every_endpoint_role_and_tenant(app: FastAPI, client: TestClient) -> None:
    world = _world(app, client)
    own = world.tenants["own"]
    mismatches = []
    calls = 0
    for endpoint in ENDPOINTS:
        for role in Role:
            for owner in ("own", "other") if endpoint.has_object else ("own",):
                body = endpoint.body(role, owner) if endpoint.body else None
                response = client.request(
                    endpoint.method,
                    endpoint.path(world, owner, role),
                    json=body,
                    headers=auth(own.tokens[role]),
                )
                calls += 1
                expected = _expected(endpoint, role, owner)
                if response.status_code != expected:
                    mismatches.append(
                        f"{endpoint.name} as {role.value} on {owner}: "
                        f"{response.status_code} != {expected} {response.text[:120]}"
                    )
    assert not mismatches, "\n".join(mismatches)
    assert calls == sum(len(Role) * (2 if e.has_object else 1) for e in ENDPOINTS)


def test_other_tenants_objects_look_like_missing_ones(app: FastAPI, client: TestClient) -> None:
    world = _world(app, client)
    viewer = auth(world.tenants["own"].tokens[Role.VIEWER])
    for kind, ids in (("studies", world.study), ("devices", world.device)):
        other = client.get(f"/api/v1/{kind}/{ids['other']}", headers=viewer)
        missing = client.get(f"/api/v1/{kind}/{uuid.uuid4()}", headers=viewer)
        assert other.status_code == missing.status_code == 404
        assert other.json().keys() == missing.json().keys()


def test_lists_never_show_another_tenant(app: FastAPI, client: TestClient) -> None:
    world = _world(app, client)
    admin = auth(world.tenants["own"].tokens[Role.ORG_ADMIN])
    other = world.tenants["other"]
    seen = " ".join(
        client.get(path, headers=admin).text
        for path in (
            "/api/v1/sites",
            "/api/v1/devices",
            "/api/v1/users",
            "/api/v1/studies",
            "/api/v1/organisations",
            "/api/v1/tokens",
        )
    )
    for foreign in (other.org_id, other.site_id, world.device["other"], world.study["other"]):
        assert str(foreign) not in seen
    assert "@other.example" not in seen
    assert str(world.study["own"]) in seen


def test_site_tokens_only_ingest(app: FastAPI, client: TestClient) -> None:
    world = _world(app, client)
    site = auth(world.tenants["own"].site_token)
    for path in ("/api/v1/me", "/api/v1/studies", "/api/v1/sites"):
        assert client.get(path, headers=site).status_code == 401
    assert client.get("/api/v1/studies").status_code == 401
