"""Forms: alerts move through their lifecycle, bad input changes nothing and says why.

Every refusal is checked twice: the page says what was wrong, and the database still
holds what it held before.
"""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.models import Role, Token
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import analytics
from tests.hub.conftest import PASSWORD, auth
from tests.hub.web.conftest import World, csrf, sign_in


def _alerts(world: World) -> dict[str, AlertRow]:
    with world.app.state.session_factory() as session:
        scope_session(session, world.a.org_id)
        rows = analytics.list_alerts(session)
        for row in rows:
            session.expunge(row)
        return {r.alert_key: r for r in rows}


def _open_alert(world: World) -> str:
    return next(k for k, r in _alerts(world).items() if r.state == "open")


def test_acknowledge_with_a_note_then_close(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.MEDICAL_PHYSICIST)
    key = _open_alert(world)
    answer = browser.post(
        f"/alerts/{key}/acknowledge",
        data={"note": "protocol reviewed", "csrf_token": csrf(browser)},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts?done=acknowledge"
    assert "Alert acknowledged." in browser.get(answer.headers["location"]).text
    row = _alerts(world)[key]
    assert row.state == "acknowledged" and row.history[-1]["note"] == "protocol reviewed"
    # the same form sent again (a double submit) is refused with the reason, and changes nothing
    again = browser.post(
        f"/alerts/{key}/acknowledge", data={"note": "again", "csrf_token": csrf(browser)}
    )
    assert again.status_code == 409 and "Nothing was changed" in again.text
    assert _alerts(world)[key].history == row.history
    closed = browser.post(f"/alerts/{key}/close", data={"csrf_token": csrf(browser)})
    assert closed.status_code == 303
    assert _alerts(world)[key].state == "closed"
    assert "protocol reviewed" in browser.get("/alerts?state=closed").text  # the history


def test_refusals_change_nothing(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.MEDICAL_PHYSICIST)
    key = _open_alert(world)
    before = _alerts(world)[key]
    # an open alert needs a note
    no_note = browser.post(f"/alerts/{key}/acknowledge", data={"csrf_token": csrf(browser)})
    assert no_note.status_code == 409 and "note" in no_note.text
    # a stale or missing CSRF token, and a cross-site form
    stale = browser.post(f"/alerts/{key}/acknowledge", data={"note": "x", "csrf_token": "old"})
    assert stale.status_code == 403 and "reload the page" in stale.text
    missing = browser.post(f"/alerts/{key}/acknowledge", data={"note": "x"})
    assert missing.status_code == 403
    cross = browser.post(
        f"/alerts/{key}/acknowledge",
        data={"note": "x", "csrf_token": csrf(browser)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "cross-origin" in cross.text
    too_long = browser.post(
        f"/alerts/{key}/acknowledge", data={"note": "x" * 2001, "csrf_token": csrf(browser)}
    )
    assert too_long.status_code == 400 and "note" in too_long.text
    # a viewer may read alerts but not move them
    viewer = sign_in(world.app, world.a, Role.VIEWER)
    refused = viewer.post(f"/alerts/{key}/close", data={"note": "x", "csrf_token": csrf(viewer)})
    assert refused.status_code == 403
    after = _alerts(world)[key]
    assert (after.state, after.history) == (before.state, before.history)


def test_rules_edit_validates_like_the_api(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.MEDICAL_PHYSICIST)
    page = browser.get("/alerts/rules")
    assert page.status_code == 200 and "dlp-600" in page.text and "<textarea" in page.text
    assert "<textarea" not in sign_in(world.app, world.a, Role.VIEWER).get("/alerts/rules").text
    for bad, message in (
        ("{not json", "not valid JSON"),
        ('{"rules": [{"rule_id": "x", "type": "ct_threshold", "metric": "dlp", '
         '"threshold": -1}]}', "threshold"),
        ('{"rules": [{"rule_id": "x", "type": "nonsense"}]}', "rules"),
    ):
        answer = browser.post(
            "/alerts/rules", data={"rules_json": bad, "csrf_token": csrf(browser)}
        )
        assert answer.status_code == 400 and message in answer.text, answer.text[-800:]
    with world.app.state.session_factory() as session:
        scope_session(session, world.a.org_id)
        rules, _ = analytics.get_settings(session)
    assert [r.rule_id for r in rules.rules] == ["dlp-600", "fluoro"]
    new = '{"rules": [{"rule_id": "dlp-700", "type": "ct_threshold", "metric": "dlp", ' \
        '"threshold": 700}]}'
    saved = browser.post("/alerts/rules", data={"rules_json": new, "csrf_token": csrf(browser)})
    assert saved.status_code == 303
    assert "dlp-700" in browser.get("/alerts/rules").text


def test_bad_filters_get_a_clear_message(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.VIEWER)
    for query, field in (
        ("min_age_years=abc", "min_age_years"),
        ("min_age_years=200", "min_age_years"),
        ("from_day=2026-02-01&to_day=2026-01-01", "from_day"),
        ("sort=password", "sort"),
        ("site_id=not-a-uuid", "site_id"),
        ("cursor=%%%", "cursor"),
        ("from_day=yesterday", "from_day"),
    ):
        answer = browser.get(f"/dose?{query}")
        assert answer.status_code == 400, query
        assert field in answer.text and "Bad input" in answer.text, query
    assert browser.get("/dose?min_age_years=&modality=").status_code == 200  # blanks: any
    assert browser.get("/alerts?state=sleeping").status_code == 400
    assert browser.get("/utilization?first_day=2026-02-01&last_day=2026-01-01").status_code == 400
    assert browser.get("/benchmarks?exam_type=nope").status_code == 400


def test_sign_in_and_out(world: World) -> None:
    client = TestClient(world.app, base_url="http://hub.test", follow_redirects=False)
    wrong = client.post("/login", data={"email": world.a.emails[Role.VIEWER], "password": "x"})
    assert wrong.status_code == 401 and "Wrong e-mail address or password" in wrong.text
    ok = client.post(
        "/login",
        data={"email": world.a.emails[Role.VIEWER], "password": PASSWORD, "next": "//evil.example"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
    cookie = ok.headers.get_list("set-cookie")
    assert any("medcoop_session=" in c and "HttpOnly" in c for c in cookie)
    assert client.get("/overview").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf(client)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/overview").status_code == 303


def test_personal_token_created_shown_once_and_revoked(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.RADIOLOGY_MANAGER)
    form = {"name": "report script", "ttl_days": "30", "csrf_token": csrf(browser)}
    made = browser.post("/admin/tokens", data=form)
    assert made.status_code == 201
    secret = made.text.split('class="secret">')[1].split("<")[0]
    assert secret.startswith("mcp_")
    api = TestClient(world.app)
    assert api.get("/api/v1/me", headers=auth(secret)).status_code == 200
    listing = browser.get("/admin")
    assert "report script" in listing.text and secret not in listing.text
    with world.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        token_id = session.scalar(select(Token.id).where(Token.name == "report script"))
    bad = browser.post(
        "/admin/tokens", data={"name": "", "ttl_days": "9999", "csrf_token": csrf(browser)}
    )
    assert bad.status_code == 400 and "ttl_days" in bad.text
    revoked = browser.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf(browser)})
    assert revoked.status_code == 303
    assert api.get("/api/v1/me", headers=auth(secret)).status_code == 401
    # another person's token is not found, as in the API
    other = sign_in(world.app, world.a, Role.VIEWER)
    assert other.post(
        f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf(other)}
    ).status_code == 404


def test_exports_hold_the_apis_rows(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.VIEWER)
    api = TestClient(world.app)
    expected = api.get(
        "/api/v1/analytics/studies?format=csv&limit=500&modality=CT",
        headers=auth(world.a.tokens[Role.VIEWER]),
    ).text
    exported = browser.get("/dose/export.csv?modality=CT")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]

    def rows(text: str) -> dict[str, dict[str, str]]:
        return {r["study_uid"]: r for r in csv.DictReader(io.StringIO(text))}

    assert rows(exported.text) == rows(expected) and len(rows(expected)) == 40
    xlsx = browser.get("/dose/export.xlsx?modality=CT")
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True)["studies"]
    table = list(sheet.iter_rows(values_only=True))
    assert len(table) == 41 and table[0][0] == "study_uid"
    assert {r[0] for r in table[1:]} == set(rows(expected))


def test_charts_and_overview_hold_the_studies_numbers(world: World) -> None:
    browser = sign_in(world.app, world.a, Role.VIEWER)
    figure = browser.get("/dose/charts/distribution.json?exam_type=ct_head").json()
    # the national DRL line is the reference table's (UK NDRL 2024, CT head, DLP per exam)
    assert [s["y0"] for s in figure["layout"]["shapes"]] == [790.0]
    heads = [v for box in figure["data"] for v in box["y"]]
    api = TestClient(world.app)
    rows = api.get(
        "/api/v1/analytics/studies?exam_type=ct_head&limit=500",
        headers=auth(world.a.tokens[Role.VIEWER]),
    ).json()["items"]
    assert sorted(heads) == sorted(r["total_dlp_mgycm"] for r in rows)
    # the overview's median (from the summaries' sketches, 1 % bins) is the rows' middle
    values = sorted(r["total_dlp_mgycm"] for r in rows)
    low, high = values[len(values) // 2 - 1], values[len(values) // 2]
    page = browser.get("/overview").text
    cell = page.split("<td>ct_head</td><td>DLP per examination</td>")[1]
    shown = float(cell.split('<td class="num">')[2].split("<")[0].replace(",", ""))
    assert 0.99 * low <= shown <= 1.01 * high, (shown, low, high)
