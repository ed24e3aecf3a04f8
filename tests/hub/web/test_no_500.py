"""No 500 page is reachable: every page and form, fed junk, answers below 500."""

from __future__ import annotations

import uuid

from medcoop.hub.db.models import Role
from tests.hub.web.conftest import World, csrf, sign_in

JUNK = ["", " ", "x", "-1", "1e309", "nan", "0" * 300, "'; drop table studies; --", "%00", "😀",
        str(uuid.uuid4()), "2026-13-45", "99:99"]
GET_PAGES = {
    "/dose": ["site_id", "device_id", "modality", "exam_type", "protocol", "from_day", "to_day",
              "min_age_years", "max_diameter_cm", "sort", "cursor", "metric"],
    "/dose/charts/distribution.json": ["exam_type", "site_id", "metric"],
    "/dose/charts/size.json": ["min_diameter_cm"],
    "/dose/export.csv": ["sort", "from_day"],
    "/alerts": ["state", "kind", "done"],
    "/utilization": ["site_id", "first_day", "last_day", "opens", "closes"],
    "/benchmarks": ["site_id", "exam_type", "metric", "country", "device_class"],
    "/benchmarks/chart.json": ["exam_type", "site_type"],
    "/protocols": ["published", "own", "modality"],
    "/login": ["next"],
}
POSTS = {
    "/alerts/{junk}/acknowledge": {"note": "n"},
    "/alerts/{junk}/close": {},
    "/alerts/rules": {"rules_json": "{junk}"},
    "/admin/tokens": {"name": "{junk}", "ttl_days": "{junk}"},
    "/admin/tokens/{junk}/revoke": {},
    "/admin/devices/{junk}": {"device_class": "{junk}"},
    "/admin/sites": {"name": "{junk}", "country": "{junk}"},
    "/admin/sites/{junk}/enrollment-code": {},
    "/admin/invitations": {"email": "{junk}", "role": "{junk}"},
    "/protocols": {"name": "{junk}"},
    "/login": {"email": "{junk}", "password": "{junk}"},
}


def test_junk_never_reaches_a_500(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.ORG_ADMIN)
    for path, params in GET_PAGES.items():
        for name in params:
            for junk in JUNK:
                answer = browser.get(path, params={name: junk})
                assert answer.status_code < 500, (path, name, junk, answer.text[-500:])
    for path, form in POSTS.items():
        for junk in JUNK:
            target = path.replace("{junk}", junk.replace("/", "") or "x")
            data = {k: v.replace("{junk}", junk) for k, v in form.items()}
            answer = browser.post(target, data={**data, "csrf_token": csrf(browser)})
            assert answer.status_code < 500, (target, junk, answer.text[-500:])
    # unknown static files and pages
    assert browser.get("/static/../settings.py").status_code == 404
    assert browser.get("/static/nothing.js").status_code == 404
