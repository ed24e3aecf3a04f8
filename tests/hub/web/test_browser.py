"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Each role signs in through the form and opens every page it may; the physicist uses
every filter and form (dose filters, sorting, paging, study and patient pages, CSV
export, acknowledging and closing an alert, rule view, utilization, benchmarks,
protocol comparison, a token created and revoked). Any console error, failed request
or 5xx fails the test; axe-core (installed by ``.ci/run`` under ``.ci/node``, never
shipped) must find no serious or critical violation on any page. Screenshots of every
page go to ``test-artefacts/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from medcoop.hub.db.models import Role
from tests.hub.conftest import PASSWORD
from tests.hub.web.conftest import World

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artefacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ["/overview", "/dose", "/alerts", "/alerts/rules", "/utilization", "/benchmarks",
         "/protocols", "/apps", "/admin"]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def live(world: World) -> Iterator[str]:
    """The world's hub served over HTTP by uvicorn in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    if not AXE.exists():
        pytest.skip("axe-core is not installed (.ci/run installs it under .ci/node)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Guard:
    """Collects console errors, failed requests and 5xx answers of one page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} {response.url}")

    def _failed(self, request: Any) -> None:
        # a download ends its request with net::ERR_ABORTED in headless Chromium
        if "export." not in request.url:
            self.problems.append(f"failed: {request.url} {request.failure}")

    def check(self) -> None:
        assert not self.problems, self.problems


def _sign_in(context: Any, base: str, email: str) -> tuple[Any, Guard]:
    page = context.new_page()
    guard = Guard(page)
    page.goto(f"{base}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page, guard


def _axe(page: Any, where: str) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{where}: {json.dumps(bad)}"


def _visit(page: Any, base: str, path: str, shot: str) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    _axe(page, path)


@pytest.mark.parametrize(
    "role", [Role.MEDICAL_PHYSICIST, Role.VIEWER, Role.ORG_ADMIN, Role.PLATFORM_ADMIN]
)
def test_every_page_opens_cleanly_and_accessibly(
    world: World, live: str, chromium: Any, role: Role
) -> None:
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    page, guard = _sign_in(context, live, world.a.emails[role])
    nav = page.get_by_role("navigation", name="Main")
    shown = [a.get_attribute("href") for a in nav.get_by_role("link").all()]
    expected = PAGES if role is not Role.PLATFORM_ADMIN else ["/admin"]
    assert [p for p in PAGES if p in shown or (p == "/alerts/rules" and "/alerts" in shown)] == [
        p for p in PAGES if p in expected or (p == "/alerts/rules" and "/alerts" in expected)
    ]
    for path in expected:
        _visit(page, live, path, f"{role.value}{path.replace('/', '-')}")
    if role is Role.PLATFORM_ADMIN:  # a page without the permission is a 403 page
        page.goto(live + "/dose")
        assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
        guard.problems = [p for p in guard.problems if "403" not in p]
    guard.check()
    context.close()


def test_tablet_width_and_print(world: World, live: str, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 820, "height": 1180}, has_touch=True)
    page, guard = _sign_in(context, live, world.a.emails[Role.RADIOLOGY_MANAGER])
    for path in ("/overview", "/dose"):
        _visit(page, live, path, f"tablet{path.replace('/', '-')}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 820, f"{path} scrolls sideways at tablet width ({width}px)"
    page.emulate_media(media="print")
    assert not page.get_by_role("navigation", name="Main").is_visible()
    assert not page.get_by_role("button", name="Apply filters").is_visible()
    page.screenshot(path=str(SHOTS / "print-dose.png"), full_page=True)
    guard.check()
    context.close()


def test_physicist_uses_every_filter_and_form(world: World, live: str, chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page, guard = _sign_in(context, live, world.a.emails[Role.MEDICAL_PHYSICIST])
    # dose filters, by keyboard as far as a person would
    page.goto(f"{live}/dose")
    page.get_by_label("Exam type").select_option("ct_head")
    page.get_by_label("Age from (years)").fill("20")
    page.get_by_label("Age to (years)").fill("95")
    page.get_by_label("Chart metric").select_option("dlp")
    page.get_by_label("Age to (years)").press("Enter")
    page.wait_for_load_state("networkidle")
    assert "exam_type=ct_head" in page.url
    rows = page.locator("table tbody tr")
    assert rows.count() == 20 and "ct_head" in rows.first.inner_text()
    page.locator(".chart .main-svg").first.wait_for()  # plotly drew from its JSON
    _axe(page, "/dose filtered")
    page.get_by_role("link", name="DLP (mGy·cm)").click()
    page.wait_for_load_state("networkidle")
    assert "sort=-total_dlp_mgycm" in page.url
    cells = page.locator("tbody tr td:nth-child(11)").all_inner_texts()
    values = [float(t.replace(",", "")) for t in cells]
    assert values == sorted(values, reverse=True)
    for label in ("Site", "Device", "Modality"):
        assert page.get_by_label(label).count() == 1
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("From day").fill("2020-01-01")
    page.get_by_label("Size from (cm)").fill("20")
    page.get_by_label("Size to (cm)").fill("40")
    page.get_by_label("Protocol").fill("CHEST")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("tbody tr").count() == 20
    # a bad value: a clear message, nothing else
    page.get_by_label("Age from (years)").fill("abc")
    page.get_by_role("button", name="Apply filters").click()
    assert "min_age_years" in page.get_by_role("alert").inner_text()
    # Chromium logs the deliberate 400 answer as a console error: that one is expected
    guard.problems = [p for p in guard.problems if "status of 400" not in p]
    # export CSV
    page.goto(f"{live}/dose?modality=CT")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("study_uid,") and len(text.splitlines()) == 41
    # study page with its events, then the patient's history
    page.locator("tbody tr td a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Irradiation events (1)").is_visible()
    _axe(page, "study")
    page.get_by_role("link", name="pseudonym").click()
    assert page.get_by_role("heading", name="Patient dose history").is_visible()
    _axe(page, "patient")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "patient.png"), full_page=True)
    # alerts: filter, acknowledge with a note, close, history
    page.goto(f"{live}/alerts")
    page.get_by_label("State").select_option("open")
    page.get_by_label("Kind").select_option("fluoro_cumulative")
    page.get_by_role("button", name="Apply filters").click()
    first = page.locator("tbody tr").first
    key = first.get_attribute("id")
    first.get_by_label("Note", exact=True).fill("cumulative dose reviewed with the operator")
    first.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_role("status").inner_text() == "Alert acknowledged."
    row = page.locator(f"#{key}")
    assert "acknowledged" in row.inner_text()
    row.get_by_label("Closing note").fill("patient followed up")
    row.get_by_role("button", name="Close").click()
    assert page.get_by_role("status").inner_text() == "Alert closed."
    row = page.locator(f"#{key}")
    row.get_by_text("History").click()
    assert "cumulative dose reviewed" in row.inner_text()
    page.get_by_role("link", name="Rules and notifications").click()
    assert "fluoro" in page.get_by_label("Rules (JSON").input_value()
    # utilization, benchmarks, protocols
    page.goto(f"{live}/utilization")
    page.get_by_label("First day").fill((date.today() - timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Apply filters").click()
    assert page.get_by_role("heading", name="Device").first.is_visible()
    page.goto(f"{live}/benchmarks")
    page.get_by_label("Exam type").select_option("ct_chest")
    page.get_by_label("Metric").select_option("ctdivol")
    page.get_by_role("button", name="Compare").click()
    assert "suppressed" in page.locator("table").inner_text()  # 2 organisations: too few peers
    # the chart's own fetch must end before the next page, or leaving aborts it
    page.wait_for_load_state("networkidle")
    page.goto(f"{live}/protocols")
    assert page.get_by_role("heading", name="Own protocols").is_visible()
    # a token, created (shown once) and revoked
    page.goto(f"{live}/admin")
    page.get_by_label("Token name").fill("browser test")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#secret").inner_text()
    assert secret.startswith("mcp_")
    page.get_by_role("link", name="Back to administration").click()
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke token browser test").click()
    assert page.get_by_role("status").inner_text() == "Token revoked."
    assert "browser test" not in page.locator("#tokens + div").inner_text()
    # device edit
    page.get_by_label("Class").first.fill("CT-64")
    page.get_by_role("button", name="Save").first.click()
    assert page.get_by_role("status").inner_text() == "Device saved."
    # sign out
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    guard.check()
    context.close()


def test_overview_shows_each_edges_quarantine_by_reason(
    world: World, live: str, chromium: Any
) -> None:
    import httpx

    report = {
        "quarantine_by_reason": {"residual_identifier": 3, "truncated": 2},
        "counters": {"received": 120},
        "open_studies": 4,
        "backlog": 17,
    }
    sent = httpx.post(
        f"{live}/api/v1/edge/status",
        json=report,
        headers={"Authorization": f"Bearer {world.a.site_token}"},
    )
    assert sent.status_code == 204, sent.text
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    page, guard = _sign_in(context, live, world.a.emails[Role.RADIOLOGY_MANAGER])
    _visit(page, live, "/overview", "overview-edges")
    table = page.get_by_role("table", name="Edges: last contact, backlog, quarantine by reason")
    headers = table.locator("thead th").all_inner_texts()
    for header in ("last contact (UTC)", "backlog", "residual identifier", "truncated"):
        assert header in headers, headers
    row = table.locator("tbody tr").first
    cells = dict(zip(headers, row.locator("td").all_inner_texts(), strict=True))
    assert (cells["backlog"], cells["open studies"], cells["quarantined"]) == ("17", "4", "5")
    assert (cells["residual identifier"], cells["truncated"]) == ("3", "2")
    assert cells["last contact (UTC)"][:2] == "20"  # the report is a contact, just now
    assert "residual identifier 3, truncated 2" in page.locator("main").inner_text()
    # another organisation's overview never shows these counts
    other, other_guard = _sign_in(context, live, world.b.emails[Role.RADIOLOGY_MANAGER])
    other.goto(f"{live}/overview")
    assert "residual identifier" not in other.locator("main").inner_text()
    guard.check()
    other_guard.check()
    context.close()


def test_apps_page_shows_monitoring_and_takes_a_review(
    world: World, live: str, chromium: Any
) -> None:
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    page, guard = _sign_in(context, live, world.a.emails[Role.MEDICAL_PHYSICIST])
    _visit(page, live, "/apps", "apps")
    assert page.get_by_role("heading", name="exposure-qa 1.0.0").is_visible()
    assert "Drift: deviation_index moved." in page.get_by_role("main").inner_text()
    chart = page.locator(".chart .main-svg").first  # plotly drew the DI trend
    chart.wait_for(timeout=15_000)
    row = page.locator("tbody tr[id^=run-]").first
    row.get_by_label("Verdict").select_option("wrong")
    row.get_by_label("Note").fill("DI read from the wrong detector")
    row.get_by_role("button", name="Save review").click()
    assert page.get_by_text("Review saved.").is_visible()
    assert "1 reviews, 0 % judged right" in page.get_by_role("main").inner_text()
    guard.check()
    context.close()
