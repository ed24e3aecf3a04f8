"""``/api/v1/store``: the authorization matrix of every endpoint, and the flows end to end
over HTTP (vendor → platform approval → publish → search → trial → edge metering)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.api.store import router
from medcoop.hub.app import create_app
from medcoop.hub.db.models import Role
from medcoop.hub.services.accounts import ROLE_PERMISSIONS
from medcoop.hub.services.store.policy import Action, permission_for
from medcoop.hub.settings import HubSettings
from medcoop.store.manifest import manifest_json_schema
from tests.hub.conftest import Tenant, auth, make_tenant
from tests.hub.store_world import app_manifest

ANY_ID = "01900000-0000-7000-8000-000000000000"

#: Every endpoint of the store router, with the action it takes (None: public).
MATRIX: list[tuple[str, str, Action | tuple[Action, ...] | None]] = [
    ("GET", "/api/v1/store/manifest.schema.json", None),
    ("GET", "/api/v1/store/search", Action.SEARCH),
    ("GET", "/api/v1/store/listings/{key}", Action.VIEW_LISTING),
    ("POST", "/api/v1/store/listings/{key}/trials", Action.REQUEST_TRIAL),
    ("POST", "/api/v1/store/trials/{trial_id}/cancel", Action.CANCEL_TRIAL),
    ("POST", "/api/v1/store/listings/{key}/quotes", Action.REQUEST_QUOTE),
    ("POST", "/api/v1/store/quotes/{quote_id}/accept", Action.RESPOND_TO_QUOTE),
    ("POST", "/api/v1/store/quotes/{quote_id}/decline", Action.RESPOND_TO_QUOTE),
    ("POST", "/api/v1/store/listings/{key}/orders", Action.PLACE_ORDER),
    ("POST", "/api/v1/store/orders/{order_id}/cancel", Action.CANCEL_ORDER),
    ("POST", "/api/v1/store/listings/{key}/reviews", Action.REVIEW),
    ("POST", "/api/v1/store/listings/{key}/service-requests", Action.REQUEST_SERVICE),
    (
        "POST",
        "/api/v1/store/service-requests/{request_id}/advance",
        Action.ADVANCE_SERVICE_AS_CUSTOMER,
    ),
    ("GET", "/api/v1/store/trials", Action.READ_OWN_COMMERCE),
    ("GET", "/api/v1/store/quotes", Action.READ_OWN_COMMERCE),
    ("GET", "/api/v1/store/orders", Action.READ_OWN_COMMERCE),
    ("GET", "/api/v1/store/entitlements", Action.READ_OWN_COMMERCE),
    ("GET", "/api/v1/store/service-requests", Action.READ_OWN_COMMERCE),
    # either party's trail: either side's reading permission
    (
        "GET",
        "/api/v1/store/events/{subject_id}",
        (Action.READ_OWN_COMMERCE, Action.READ_VENDOR_COMMERCE),
    ),
    ("GET", "/api/v1/store/usage.csv", Action.READ_OWN_COMMERCE),
    ("POST", "/api/v1/store/vendor", Action.REGISTER_VENDOR),
    ("GET", "/api/v1/store/vendor", Action.MANAGE_LISTINGS),
    ("POST", "/api/v1/store/vendor/listings", Action.PUBLISH_LISTING),
    ("POST", "/api/v1/store/vendor/services", Action.PUBLISH_LISTING),
    ("GET", "/api/v1/store/vendor/listings", Action.MANAGE_LISTINGS),
    ("POST", "/api/v1/store/vendor/listings/{listing_id}/withdraw", Action.MANAGE_LISTINGS),
    ("GET", "/api/v1/store/vendor/trials", Action.READ_VENDOR_COMMERCE),
    ("POST", "/api/v1/store/vendor/trials/{trial_id}/approve", Action.DECIDE_TRIAL),
    ("POST", "/api/v1/store/vendor/trials/{trial_id}/decline", Action.DECIDE_TRIAL),
    ("GET", "/api/v1/store/vendor/quotes", Action.READ_VENDOR_COMMERCE),
    ("POST", "/api/v1/store/vendor/quotes/{quote_id}/answer", Action.ANSWER_QUOTE),
    ("POST", "/api/v1/store/vendor/quotes/{quote_id}/refuse", Action.ANSWER_QUOTE),
    ("GET", "/api/v1/store/vendor/orders", Action.READ_VENDOR_COMMERCE),
    ("GET", "/api/v1/store/vendor/service-requests", Action.READ_VENDOR_COMMERCE),
    (
        "POST",
        "/api/v1/store/vendor/service-requests/{request_id}/advance",
        Action.ADVANCE_SERVICE_AS_VENDOR,
    ),
    ("GET", "/api/v1/store/vendor/usage.csv", Action.READ_VENDOR_COMMERCE),
    ("GET", "/api/v1/store/vendors", Action.APPROVE_VENDOR),
    ("POST", "/api/v1/store/vendors/{org_id}/approve", Action.APPROVE_VENDOR),
    ("POST", "/api/v1/store/entitlements/check", Action.CHECK_ENTITLEMENT),
    ("POST", "/api/v1/store/usage", Action.RECORD_USAGE),
]
_SITE_ACTIONS = {Action.CHECK_ENTITLEMENT, Action.RECORD_USAGE}
#: Edges' endpoints read their body before the token (as ingest does): a valid one.
_BODIES = {
    "/api/v1/store/entitlements/check": {"app_id": "nobody.nothing"},
    "/api/v1/store/usage": {"app_id": "nobody.nothing", "run_key": "r"},
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    path = Path(tmp_path_factory.mktemp("store-api")) / "hub.db"
    application = create_app(HubSettings(database_url=f"sqlite:///{path}"))
    yield application
    application.state.engine.dispose()


@pytest.fixture(scope="module")
def client(hub: FastAPI) -> Iterator[TestClient]:
    with TestClient(hub) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def tenant(hub: FastAPI) -> Tenant:
    return make_tenant(hub, "Matrix")


def test_the_matrix_names_every_store_endpoint() -> None:
    routes = {
        (method, route.path)  # type: ignore[attr-defined]
        for route in router.routes
        for method in route.methods  # type: ignore[attr-defined]
    }
    assert routes == {(m, p) for m, p, _ in MATRIX}


def _path(template: str) -> str:
    return template.format(
        key="nobody.nothing",
        trial_id=ANY_ID,
        quote_id=ANY_ID,
        order_id=ANY_ID,
        request_id=ANY_ID,
        subject_id=ANY_ID,
        listing_id=ANY_ID,
        org_id=ANY_ID,
    )


@pytest.mark.parametrize(("method", "template", "action"), MATRIX)
def test_authorization_matrix(
    client: TestClient,
    tenant: Tenant,
    method: str,
    template: str,
    action: Action | tuple[Action, ...] | None,
) -> None:
    path = _path(template)
    body = _BODIES.get(template, {})
    unauthenticated = client.request(method, path, json=body)
    if action is None:
        assert unauthenticated.status_code == 200
        return
    assert unauthenticated.status_code == 401
    site = client.request(method, path, json=body, headers=auth(tenant.site_token))
    for role in Role:
        response = client.request(method, path, json=body, headers=auth(tenant.tokens[role]))
        if action in _SITE_ACTIONS:
            # edges only: a person's token is not a site token
            assert response.status_code == 401, (role, response.text)
            continue
        actions = action if isinstance(action, tuple) else (action,)
        allowed = any(permission_for(a) in ROLE_PERMISSIONS[role] for a in actions)
        # a role's refusal names the permission; others (not an approved vendor) do not
        refused = response.status_code == 403 and "permission" in response.json()["detail"]
        assert refused is not allowed, (role, response.status_code, response.text)
        assert response.status_code != 500
    if action in _SITE_ACTIONS:
        assert site.status_code not in (401, 403)
    else:
        assert site.status_code == 401


def test_manifest_schema_is_served_without_a_token(client: TestClient) -> None:
    response = client.get("/api/v1/store/manifest.schema.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    assert response.json() == manifest_json_schema()


def test_vendor_to_hospital_over_http(hub: FastAPI, client: TestClient) -> None:
    tag = uuid.uuid4().hex[:6]
    vendor, hospital, third = (make_tenant(hub, f"{n} {tag}") for n in ("V", "H", "T"))
    publisher = auth(vendor.tokens[Role.VENDOR_PUBLISHER])
    slug = f"v{tag}"
    assert (
        client.post("/api/v1/store/vendor", json={"slug": slug}, headers=publisher).status_code
        == 201
    )
    manifest = app_manifest(slug, "triage")
    manifest["offers"]["trial"]["approval"] = "vendor"
    # not approved yet
    assert (
        client.post("/api/v1/store/vendor/listings", json=manifest, headers=publisher).status_code
        == 403
    )
    platform = auth(third.tokens[Role.PLATFORM_ADMIN])
    pending = client.get("/api/v1/store/vendors", headers=platform).json()
    assert any(v["slug"] == slug and v["status"] == "pending" for v in pending)
    approved = client.post(f"/api/v1/store/vendors/{vendor.org_id}/approve", headers=platform)
    assert approved.json()["status"] == "approved"
    bad = copy.deepcopy(manifest)
    bad.update(version="one", resources={"gpu": "required"})
    refused = client.post("/api/v1/store/vendor/listings", json=bad, headers=publisher)
    assert refused.status_code == 422
    assert {p["location"] for p in refused.json()["detail"]} == {"version", "resources.gpu"}
    assert (
        client.post("/api/v1/store/vendor/listings", json=manifest, headers=publisher).status_code
        == 201
    )
    buyer = auth(hospital.tokens[Role.RADIOLOGY_MANAGER])
    found = client.get(
        "/api/v1/store/search",
        params={"q": "triage", "modality": "DX", "has_trial": "yes"},
        headers=buyer,
    ).json()
    assert f"{slug}.triage" in [i["listing_key"] for i in found["items"]]
    assert {"value": "DX", "count": found["facets"]["modality"][0]["count"]} in found["facets"][
        "modality"
    ]
    detail = client.get(f"/api/v1/store/listings/{slug}.triage", headers=buyer).json()
    assert detail["versions"][0]["version"] == "1.2.0"
    trial = client.post(
        f"/api/v1/store/listings/{slug}.triage/trials", json={}, headers=buyer
    ).json()
    assert trial["state"] == "requested"
    # the edge may not run it yet
    check = {"app_id": f"{slug}.triage"}
    site = auth(hospital.site_token)
    assert (
        client.post("/api/v1/store/entitlements/check", json=check, headers=site).json()["allowed"]
        is False
    )
    # a third organisation sees nothing of it; the hospital cannot approve its own
    assert (
        client.post(
            f"/api/v1/store/vendor/trials/{trial['id']}/approve",
            headers=auth(third.tokens[Role.VENDOR_PUBLISHER]),
        ).status_code
        == 404
    )
    assert client.get("/api/v1/store/trials", headers=auth(third.tokens[Role.VIEWER])).json() == []
    assert [
        t["id"] for t in client.get("/api/v1/store/vendor/trials", headers=publisher).json()
    ] == [trial["id"]]
    approved_trial = client.post(
        f"/api/v1/store/vendor/trials/{trial['id']}/approve", headers=publisher
    ).json()
    assert approved_trial["state"] == "approved"
    decision = client.post("/api/v1/store/entitlements/check", json=check, headers=site).json()
    assert decision["allowed"] and decision["studies_left"] == 100
    metered = client.post(
        "/api/v1/store/usage", json={**check, "run_key": "run-1", "studies": 100}, headers=site
    )
    assert metered.status_code == 200
    over = client.post("/api/v1/store/usage", json={**check, "run_key": "run-2"}, headers=site)
    assert over.status_code == 409
    assert "expired" in over.json()["detail"]
    trail = client.get(f"/api/v1/store/events/{trial['id']}", headers=publisher).json()
    assert [e["to_state"] for e in trail] == ["requested", "approved", "expired"]
    csv_text = client.get("/api/v1/store/vendor/usage.csv", headers=publisher).text
    assert f"{slug}.triage" in csv_text and ",100,1" in csv_text
    assert (
        client.get("/api/v1/store/usage.csv", headers=auth(third.tokens[Role.VIEWER])).text.count(
            "\n"
        )
        == 1
    )  # the header only


def test_cli_search_prints_hits_and_facets(hub: FastAPI, client: TestClient) -> None:
    import io

    from rich.console import Console

    from medcoop.output import OutputFormat
    from medcoop.store.cli import show_search

    tag = uuid.uuid4().hex[:6]
    vendor = make_tenant(hub, f"CLI {tag}")
    publisher = auth(vendor.tokens[Role.VENDOR_PUBLISHER])
    client.post("/api/v1/store/vendor", json={"slug": f"c{tag}"}, headers=publisher)
    client.post(
        f"/api/v1/store/vendors/{vendor.org_id}/approve",
        headers=auth(vendor.tokens[Role.PLATFORM_ADMIN]),
    )
    client.post(
        "/api/v1/store/vendor/listings", json=app_manifest(f"c{tag}", "cli-app"), headers=publisher
    )
    client.headers.update(auth(vendor.tokens[Role.VIEWER]))
    out = io.StringIO()
    show_search(
        client, Console(file=out, width=200), OutputFormat.CSV, "triage", [f"vendor=CLI {tag}"]
    )
    client.headers.pop("Authorization")
    text = out.getvalue()
    assert f"c{tag}.cli-app" in text
    assert f"vendor,CLI {tag},1" in text
    with pytest.raises(Exception, match="NAME=VALUE"):
        show_search(client, Console(file=out), OutputFormat.CSV, "", ["modality"])
