"""Every page × every role answers as its API endpoint does; other tenants' objects are 404.

The expected status is not written down a second time: for each page, the test asks the
API endpoint the page mirrors (same person, personal token) and requires the page to
allow exactly when the API allows (200 against 200, a 403 page against 403).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.models import Device, Patient, Role, Study
from medcoop.hub.db.tenancy import scope_session
from tests.hub.conftest import auth
from tests.hub.web.conftest import World, csrf, sign_in

#: page → the API endpoint it shows (GET)
PAGES = {
    "/overview": "/api/v1/analytics/alerts",
    "/dose": "/api/v1/analytics/studies",
    "/dose/charts/distribution.json": "/api/v1/analytics/studies",
    "/dose/charts/trend.json": "/api/v1/analytics/studies",
    "/dose/charts/size.json": "/api/v1/analytics/studies",
    "/dose/export.csv": "/api/v1/analytics/studies?format=csv",
    "/dose/export.xlsx": "/api/v1/analytics/studies?format=csv",
    "/alerts": "/api/v1/analytics/alerts",
    "/alerts/rules": "/api/v1/analytics/alert-settings",
    "/utilization": "/api/v1/analytics/alerts",
    "/benchmarks": "/api/v1/analytics/alerts",
    "/benchmarks/chart.json": "/api/v1/analytics/alerts",
    "/protocols": "/api/v1/analytics/protocols",
    "/admin": "/api/v1/sites",
    "/installs": "/api/v1/store/installs",
    "/store": "/api/v1/store/search",
    "/store/orders": "/api/v1/store/orders",
    "/store/vendor": "/api/v1/store/vendor/trials",
}


def _ids(world: World, org_id: object) -> dict[str, str]:
    with world.app.state.session_factory() as session:
        scope_session(session, org_id)
        study = session.scalar(select(Study).order_by(Study.study_at))
        device = session.scalar(select(Device))
        patient = session.scalar(select(Patient))
        assert study is not None and device is not None and patient is not None
        return {"study": str(study.id), "device": str(device.id), "patient": patient.pseudonym}


@pytest.mark.parametrize("role", list(Role))
def test_each_page_allows_exactly_what_its_api_allows(world: World, role: Role) -> None:
    browser = sign_in(world.app, world.a, role)
    api = TestClient(world.app)
    for page_path, api_path in PAGES.items():
        expected = api.get(api_path, headers=auth(world.a.tokens[role])).status_code
        got = browser.get(page_path)
        assert expected in (200, 403), (api_path, expected)
        assert got.status_code == expected, (role, page_path, got.status_code, got.text[:300])
        if got.status_code == 403:
            assert "text/html" in got.headers["content-type"]
            assert "needs the" in got.text  # the API's own message, on a page
    ids = _ids(world, world.a.org_id)
    detail = {
        f"/dose/studies/{ids['study']}": f"/api/v1/studies/{ids['study']}",
        f"/dose/patients/{ids['patient']}": f"/api/v1/analytics/patients/{ids['patient']}/history",
    }
    for page_path, api_path in detail.items():
        expected = api.get(api_path, headers=auth(world.a.tokens[role])).status_code
        assert browser.get(page_path).status_code == expected


def test_another_tenants_objects_are_a_404_page(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.MEDICAL_PHYSICIST)
    theirs = _ids(world, world.b.org_id)
    with world.app.state.session_factory() as session:
        scope_session(session, world.b.org_id)
        alert_key = session.scalar(select(AlertRow.alert_key))
    assert alert_key is not None
    for path in (
        f"/dose/studies/{theirs['study']}",
        f"/dose/patients/{theirs['patient']}",
        f"/dose?site_id={world.b.site_id}",
        f"/dose?device_id={theirs['device']}",
        f"/dose/export.csv?site_id={world.b.site_id}",
        f"/utilization?site_id={world.b.site_id}",
        f"/benchmarks?site_id={world.b.site_id}",
    ):
        answer = browser.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "Not found" in answer.text and "text/html" in answer.headers["content-type"]
    admin = sign_in(world.app, world.a, Role.ORG_ADMIN)
    for who, path, data in (
        (browser, f"/alerts/{alert_key}/acknowledge", {"note": "not mine"}),
        (browser, f"/admin/devices/{theirs['device']}", {"device_class": "CT-X"}),
        (admin, f"/admin/sites/{world.b.site_id}/enrollment-code", {}),
    ):
        answer = who.post(path, data={**data, "csrf_token": csrf(who)})
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
    with world.app.state.session_factory() as session:
        scope_session(session, world.b.org_id)
        assert session.get(AlertRow, (world.b.org_id, alert_key)).state == "open"


def test_signed_out_pages_redirect_to_sign_in(world: World) -> None:
    anonymous = TestClient(world.app, follow_redirects=False)
    for path in [*PAGES, "/"]:
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert anonymous.get("/login").status_code == 200
