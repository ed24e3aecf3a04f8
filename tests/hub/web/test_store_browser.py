"""The store's pages in a real browser (Debian's Chromium via Playwright): a hospital's
radiology manager finds an app by facet and requests a trial; the vendor approves it in
its console; the hospital then sees its entitlement. No console error, failed request
or 5xx; axe-core finds no serious violation when ``.ci/run`` installed it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from medcoop.hub.db.models import Role
from medcoop.hub.services.store import listings
from tests.hub.store_world import NOW, app_manifest, tenant_session
from tests.hub.web.conftest import World
from tests.hub.web.test_browser import ARGS, AXE, CHROMIUM, _axe, _sign_in, live  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def _accessible(page: Any, where: str) -> None:
    if AXE.exists():
        _axe(page, where)


def test_find_by_facet_request_and_approve_a_trial(
    world: World, live: str, browser: Any  # noqa: F811
) -> None:
    vendor = world.b
    with tenant_session(world.app, vendor.org_id) as s:
        listings.register_vendor(s, vendor.org_id, "browser-vendor", "Browser Vendor")
    with tenant_session(world.app, None) as s:
        listings.approve_vendor(s, vendor.org_id, by=None, now=NOW)
    manifest = app_manifest("browser-vendor", "xr-triage", title="XR triage browser app")
    manifest["offers"]["trial"]["approval"] = "vendor"
    with tenant_session(world.app, vendor.org_id) as s:
        listings.publish_app(s, manifest, now=NOW)

    context = browser.new_context()
    page, guard = _sign_in(context, live, world.a.emails[Role.RADIOLOGY_MANAGER])
    page.goto(f"{live}/store")
    page.get_by_role("group", name="modality").get_by_label("DX").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state("networkidle")
    assert "modality=DX" in page.url
    _accessible(page, "/store filtered")
    page.get_by_role("link", name="XR triage browser app").click()
    page.wait_for_load_state("networkidle")
    assert "EU MDR class IIa" in page.content()
    _accessible(page, "/store/listings")
    page.get_by_label("Note to the vendor").fill("For our chest worklist")
    page.get_by_role("button", name="Request a trial").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/store/orders?done=trial")
    trials = page.get_by_role("table", name="Trials")
    assert "requested" in trials.inner_text()
    guard.check()
    context.close()

    context = browser.new_context()
    page, guard = _sign_in(context, live, vendor.emails[Role.VENDOR_PUBLISHER])
    page.goto(f"{live}/store/vendor")
    _accessible(page, "/store/vendor")
    page.get_by_role("button", name="Approve trial").click()
    page.wait_for_load_state("networkidle")
    assert "approved" in page.get_by_role("table", name="Trial requests").inner_text()
    guard.check()
    context.close()

    context = browser.new_context()
    page, guard = _sign_in(context, live, world.a.emails[Role.RADIOLOGY_MANAGER])
    page.goto(f"{live}/store/orders")
    entitlements = page.get_by_role("table", name="Entitlements").inner_text()
    assert "browser-vendor.xr-triage" in entitlements and "of 100" in entitlements
    _accessible(page, "/store/orders")
    guard.check()
    context.close()
