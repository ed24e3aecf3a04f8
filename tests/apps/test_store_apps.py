"""An app from the store at an edge: installed by TUF, run while entitled, each run metered."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from sqlalchemy import select

from medcoop.apps.scaffold import build_wheel, new_app
from medcoop.apps.settings import AppsSettings, Route
from medcoop.edge.apps import install_app
from medcoop.edge.config import StorageSettings, StowSettings
from medcoop.edge.node import EdgeNode
from medcoop.store.tuf.vendor import publish
from tests.edge.conftest import ANY_CALLER, fleet_studies
from tests.edge.test_dimse import send_study
from tests.store.conftest import StoreWorld, world  # noqa: F401  (the fixture)

APP_ID = "acme.ct-count"


def _published(world: StoreWorld, folder: Path) -> None:  # noqa: F811
    vendor = world.vendor("acme")
    root = new_app("ct-count", folder, vendor="acme")
    manifest_path = root / "medcoop-app.json"
    manifest = json.loads(manifest_path.read_text())
    # a trial of one study: the second study finds the entitlement used up
    manifest["offers"] = {"trial": {"days": 30, "study_cap": 1, "approval": "automatic"},
                          "quote_on_request": True}
    manifest_path.write_text(json.dumps(manifest))
    publish(world.hub.url, vendor.token, build_wheel(root, folder / "dist"), manifest_path,
            vendor.key)


def _runs(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT state, reason FROM app_runs ORDER BY id").fetchall()


def _usage(db: Path) -> list[tuple[str, float | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT app_id, reported_at FROM app_usage").fetchall()


def _monitored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM app_monitor WHERE reported_at IS NOT "
                                "NULL").fetchone()[0])


def _wait(predicate, timeout_s: float = 90.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_store_app_runs_while_entitled_and_each_run_is_metered(
    world: StoreWorld, tmp_path: Path  # noqa: F811
) -> None:
    from medcoop.hub.db.store_models import StoreUsage
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session

    _published(world, tmp_path / "vendor")
    world.entitle(APP_ID)
    installed = install_app(world.edge, APP_ID)  # TUF-verified, its own venv
    edge = world.edge
    settings = edge.model_copy(update={
        "dicom": ANY_CALLER, "stow": StowSettings(enabled=False),
        "storage": StorageSettings(data_dir=edge.storage.data_dir, min_free_bytes=0),
        "apps": AppsSettings(enabled=True, quiet_period_s=1.0, routes=(
            Route(name="ct-research", clinical=False, modalities=("CT",)),)),
    })
    first, second = [s for s in fleet_studies(12) if s.datasets[0].Modality == "CT"
                     and s.mpps_set is not None][:2]
    node = EdgeNode(settings)
    node.start()
    try:
        assert set(send_study(node.dicom_port, first)) == {0x0000}
        assert _wait(lambda: [u[1] is not None for u in _usage(settings.db_path)] == [True])
        assert set(send_study(node.dicom_port, second)) == {0x0000}
        assert _wait(lambda: len(_runs(settings.db_path)) == 2
                     and _runs(settings.db_path)[1][0] == "failed")
        assert _wait(lambda: _monitored(settings.db_path) == 2, 30)  # both reported
    finally:
        node.stop()
    assert installed.python.is_file()
    assert _runs(settings.db_path) == [("succeeded", None), ("failed", "not_entitled")]
    with world.hub.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        metered = session.scalars(select(StoreUsage.listing_key)).all()
    assert metered == [APP_ID]  # one run, metered once
    from medcoop.hub.db.apps_models import AppRun

    with world.hub.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        reported = session.execute(select(AppRun.app, AppRun.status, AppRun.failure_reason)
                                   .order_by(AppRun.started_at)).all()
    assert [(r[0], str(r[1]), r[2]) for r in reported] == [  # the hub's monitoring has both
        (APP_ID, "succeeded", None), (APP_ID, "failed", "not_entitled")]
