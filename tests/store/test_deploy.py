"""Vendor publishes a signed wheel; the enrolled edge installs, upgrades, uninstalls it."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from medcoop.edge.apps import (
    AppNotEntitledError,
    apps_dir,
    check_updates,
    install_app,
    installed_apps,
    uninstall_app,
    upgrade_app,
)
from tests.store.conftest import StoreWorld


def _installs(world: StoreWorld) -> list[tuple[str, str | None, str]]:
    token = world.hub.physicist_token()
    body = httpx.get(
        world.hub.url + "/api/v1/store/installs", headers={"Authorization": f"Bearer {token}"}
    ).json()
    return [(r["app_id"], r["version"], r["action"]) for r in body["installs"]]


def test_enrollment_hands_the_edge_the_trusted_root(world: StoreWorld) -> None:
    trusted = apps_dir(world.edge) / "tuf" / "metadata" / "root.json"
    assert trusted.is_file()
    assert world.repo.root_metadata().signed.version == 1


def test_publish_install_upgrade_uninstall(world: StoreWorld) -> None:
    acme = world.vendor("acme")
    answer = world.publish(acme, "acme.dose", "1.0.0")
    assert answer["releases"][0]["wheel_target"] == "vendors/acme/acme_dose-1.0.0-py3-none-any.whl"

    with pytest.raises(AppNotEntitledError, match="no entitlement"):
        install_app(world.edge, "acme.dose")
    assert installed_apps(world.edge) == []
    world.entitle("acme.dose")  # the hospital's trial, approved at once by the offer
    app = install_app(world.edge, "acme.dose")
    assert (app.version, app.vendor, app.entry_point) == ("1.0.0", "acme", "acme_dose:run")
    ran = subprocess.run(
        [str(app.python), "-c", "import acme_dose; print(acme_dose.run(), acme_dose.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.split() == ["ok", "1.0.0"]
    assert [a.app_id for a in installed_apps(world.edge)] == ["acme.dose"]
    assert _installs(world) == [("acme.dose", "1.0.0", "installed")]

    assert [c.upgradable for c in check_updates(world.edge)] == [False]
    world.publish(acme, "acme.dose", "1.1.0")
    assert [c.available for c in check_updates(world.edge)] == ["1.1.0"]
    upgraded = upgrade_app(world.edge, "acme.dose")
    assert upgraded is not None and upgraded.version == "1.1.0"
    assert not app.venv.exists()  # the old version's environment is gone
    assert upgrade_app(world.edge, "acme.dose") is None
    assert _installs(world) == [("acme.dose", "1.1.0", "upgraded")]

    uninstall_app(world.edge, "acme.dose")
    assert installed_apps(world.edge) == []
    assert not upgraded.venv.exists()
    assert _installs(world) == []
