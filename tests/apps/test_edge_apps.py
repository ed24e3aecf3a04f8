"""Apps on a running edge: routed studies are run once complete and their SR reaches PACS."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset

from medcoop.apps.edge import AppInbox, EdgeApp
from medcoop.apps.scaffold import manifest_for
from medcoop.apps.settings import AppsSettings, Destination, LocalInstall, Route
from medcoop.apps.sr import validate_sr
from medcoop.edge.config import EdgeSettings, StowSettings
from medcoop.edge.node import EdgeNode
from tests.apps.conftest import SAMPLE_APPS, sample_install
from tests.apps.peers import ORTHANC, Orthanc, StorageScp
from tests.edge.conftest import fleet_studies, make_settings
from tests.edge.test_dimse import send_study

TRIVIAL_PARAMETERS = [{"name": "diameter_mm", "type": "number", "default": 250.0}]


def write_manifest(folder: Path, entry_point: str, **changes: Any) -> Path:
    """A sample app's manifest file (the scaffold's, research use only, CT/DX/CR)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = entry_point.replace(":", "-").replace("_", "-")
    manifest = manifest_for(name, "acme", entry_point=entry_point, **changes)
    manifest["outputs"][0].pop("findings_schema")
    path = folder / f"{name}.json"
    path.write_text(json.dumps(manifest))
    return path


def apps_settings(tmp_path: Path, destinations: list[Destination], *,
                  inputs: list[dict[str, Any]] | None = None, **changes: Any) -> AppsSettings:
    extra = {"inputs": inputs} if inputs is not None else {}
    manifest = write_manifest(tmp_path / "manifests", "trivial_app:trivial",
                              parameters=TRIVIAL_PARAMETERS, **extra)
    fields: dict[str, Any] = {
        "enabled": True, "quiet_period_s": 1.0, "export_backoff_base_s": 0.5,
        "export_backoff_max_s": 2.0,
        "installed": (LocalInstall(manifest=manifest, app_paths=(SAMPLE_APPS,),
                                   parameters={"diameter_mm": 301.0}),),
        "routes": (Route(name="ct-research", clinical=False, modalities=("CT",),
                         destinations=tuple(d.name for d in destinations)),),
        "destinations": tuple(destinations),
    }
    fields.update(changes)
    return AppsSettings(**fields)


def edge_with_apps(tmp_path: Path, apps: AppsSettings, *, stow: bool = False) -> EdgeSettings:
    if stow:  # the edge's HTTP server: STOW-RS and the status page
        return make_settings(tmp_path / "edge", apps=apps)
    return make_settings(tmp_path / "edge", stow=StowSettings(enabled=False), apps=apps)


@pytest.fixture
def pacs() -> Iterator[StorageScp]:
    scp = StorageScp("PACS")
    yield scp
    scp.stop()


def ct_sim_study() -> Any:
    return next(s for s in fleet_studies(8) if s.truth.rdsr_sop_instance_uid
                and s.truth.mpps_status == "COMPLETED" and s.datasets[0].Modality == "CT")


def runs(settings: EdgeSettings) -> list[tuple[Any, ...]]:
    with sqlite3.connect(settings.db_path) as conn:
        return conn.execute("SELECT state, reason, app_key, attempts FROM app_runs "
                            "ORDER BY id").fetchall()


def test_a_routed_study_is_run_once_complete_and_its_sr_reaches_the_pacs(
    tmp_path: Path, pacs: StorageScp
) -> None:
    # selectors and a route wide enough to take the app's own SR, should it come back
    anything = [{"kind": "dicom", "name": "any", "selectors": [
        {"attribute": "StudyInstanceUID", "present": True}]}]
    apps = apps_settings(tmp_path, [Destination(name="pacs", port=pacs.port, ae_title="PACS")],
                         inputs=anything, routes=(Route(name="all", clinical=False,
                                                        destinations=("pacs",)),))
    settings = edge_with_apps(tmp_path, apps, stow=True)
    study = ct_sim_study()
    node = EdgeNode(settings)
    node.start()
    try:
        assert set(send_study(node.dicom_port, study)) == {0x0000}
        [sr] = pacs.wait_for(1)
        assert _wait(lambda: runs(settings)[0][0] == "succeeded", 10)
        page = httpx.get(f"http://127.0.0.1:{node.stow_port}/status").text
        assert "On-premise apps" in page and "runs succeeded" in page
        assert ("bubblewrap sandbox" in page) or ("RLIMITS ONLY" in page)
        assert study.truth.patient.patient_id not in page
        _send_back(node.dicom_port, sr)  # a PACS forwarding everything to the edge
        time.sleep(3.5)  # past the quiet period: a run would be queued by now
        assert len(runs(settings)) == 1  # the app's own result fed no new run
    finally:
        node.stop()
    original = study.datasets[0]
    assert sr.StudyInstanceUID == original.StudyInstanceUID
    assert sr.SeriesInstanceUID not in {ds.SeriesInstanceUID for ds in study.datasets}
    assert validate_sr(sr, study_instance_uid=str(original.StudyInstanceUID)) == []
    path = tmp_path / "received-sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    dump = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, check=True)
    assert '"Diameter")="301.0"' in dump.stdout  # the site's parameter reached the app
    assert [r[:2] for r in runs(settings)] == [("succeeded", None)]
    _check_runs_cli(settings)
    _check_retention(settings)
    inbox = settings.app_runs_dir / "inbox"
    assert not inbox.exists() or not any(inbox.rglob("*.dcm"))  # kept only while pending
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM app_exports WHERE sent_at IS NULL"
                            ).fetchone()[0] == 0


def _ds(**values: object) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def test_routes_decide_and_research_apps_never_get_clinical_routes(tmp_path: Path) -> None:
    research = EdgeApp(sample_install("trivial_app:trivial"))  # research use only
    cleared = EdgeApp(sample_install("hostile_app:hostile", regulatory={
        "eu_mdr": {"mdr_class": "I"}}))
    routes = (
        Route(name="ct-clinical", clinical=True, modalities=("CT",), stations=("CT1",),
              destinations=("pacs",)),
        Route(name="chest-research", clinical=False, body_parts=("CHEST",),
              protocols=("trial",), destinations=("research-pacs",)),
    )
    settings = make_settings(tmp_path, apps=AppsSettings(enabled=True, routes=routes))
    inbox = AppInbox(settings, None, None, [research, cleared])  # type: ignore[arg-type]

    def wanted(ds: Dataset) -> dict[str, tuple[str, ...]]:
        return {app.spec.id: dests for app, dests in inbox.wanted_by(ds)}

    assert wanted(_ds(Modality="CT", StationName="CT1")) == {"acme.hostile-app": ("pacs",)}
    assert wanted(_ds(Modality="CT", StationName="CT2")) == {}
    trial_chest = _ds(Modality="CT", StationName="CT1", BodyPartExamined="CHEST",
                      ProtocolName="Chest TRIAL arm B")
    assert wanted(trial_chest) == {"acme.trivial-app": ("research-pacs",),
                                   "acme.hostile-app": ("pacs", "research-pacs")}
    assert wanted(_ds(Modality="MG", BodyPartExamined="CHEST", ProtocolName="trial")) == {}


def _workspaces(settings: EdgeSettings) -> set[Path]:
    """The run workspaces of this edge (their prefix names the edge's database)."""
    import hashlib
    import tempfile

    edge_id = hashlib.sha256(str(settings.db_path.resolve()).encode()).hexdigest()[:12]
    return set(Path(tempfile.gettempdir()).glob(f"medcoop-app-{edge_id}-*"))


def _wait(predicate: Any, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_sigkill_mid_run_loses_no_run(tmp_path: Path, pacs: StorageScp) -> None:
    manifest = write_manifest(tmp_path / "manifests", "trivial_app:slow", parameters=[
        *TRIVIAL_PARAMETERS, {"name": "sleep_s", "type": "number", "default": 1.0}])
    apps = apps_settings(tmp_path, [Destination(name="pacs", port=pacs.port)], installed=(
        LocalInstall(manifest=manifest, app_paths=(SAMPLE_APPS,), parameters={"sleep_s": 30.0}),
    ))
    settings = edge_with_apps(tmp_path, apps)
    settings_file = tmp_path / "edge.json"
    settings_file.write_text(settings.model_dump_json())
    child = subprocess.Popen([sys.executable, "-m", "tests.apps.edge_child", str(settings_file)],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert child.stdout is not None
        port = json.loads(child.stdout.readline())["dicom_port"]
        assert set(send_study(port, ct_sim_study())) == {0x0000}
        assert _wait(lambda: bool(runs(settings)) and runs(settings)[0][0] == "running", 120)
        with sqlite3.connect(settings.db_path) as conn:  # the dose record did not wait for it
            assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    finally:
        child.kill()  # SIGKILL, mid-run
        child.wait()
    assert [r[0] for r in runs(settings)] == ["running"]
    left = _workspaces(settings)
    assert left  # the killed run's copy of its inputs
    quick = apps.model_copy(update={"installed": (apps.installed[0].model_copy(
        update={"parameters": {"sleep_s": 0.1}}),)})
    node = EdgeNode(settings.model_copy(update={"apps": quick}))
    node.start()
    try:
        assert len(pacs.wait_for(1)) == 1
        assert _wait(lambda: runs(settings)[0][0] == "succeeded", 20)
    finally:
        node.stop()
    [(state, reason, _, attempts)] = runs(settings)
    assert (state, reason, attempts) == ("succeeded", None, 2)  # tried again after the kill
    assert not _workspaces(settings)  # cleared at restart


@pytest.mark.skipif(not Path(ORTHANC).exists(), reason="Orthanc is not installed")
def test_exports_retry_through_an_orthanc_restart_without_blocking_another_pacs(
    tmp_path: Path, pacs: StorageScp
) -> None:
    orthanc = Orthanc(tmp_path / "orthanc")
    destinations = [Destination(name="orthanc", port=orthanc.dicom_port, ae_title="ORTHANC"),
                    Destination(name="pacs", port=pacs.port)]
    settings = edge_with_apps(tmp_path, apps_settings(tmp_path, destinations))
    study = ct_sim_study()
    study_uid = str(study.datasets[0].StudyInstanceUID)
    orthanc.start()
    orthanc.stop()  # the PACS goes down for a while (its data stays)
    node = EdgeNode(settings)
    node.start()
    try:
        assert set(send_study(node.dicom_port, study)) == {0x0000}  # Orthanc is down
        assert len(pacs.wait_for(1)) == 1  # the other PACS is not held up
        assert _wait(lambda: _export_attempts(settings, "orthanc") >= 2)
        orthanc.start()  # … and comes back on the same ports
        try:
            assert _wait(lambda: _export_sent(settings, "orthanc"), 30)
            series = orthanc.study_series(study_uid)
        finally:
            orthanc.stop()
    finally:
        node.stop()
    assert [s["MainDicomTags"].get("Modality") for s in series] == ["SR"]
    sr_series = str(pacs.received[0].SeriesInstanceUID)  # the same SR reached both
    assert series[0]["MainDicomTags"]["SeriesInstanceUID"] == sr_series


def _export_attempts(settings: EdgeSettings, destination: str) -> int:
    with sqlite3.connect(settings.db_path) as conn:
        row = conn.execute("SELECT max(attempts) FROM app_exports WHERE destination = ?",
                           (destination,)).fetchone()
    return int(row[0] or 0)


def _export_sent(settings: EdgeSettings, destination: str) -> bool:
    with sqlite3.connect(settings.db_path) as conn:
        row = conn.execute("SELECT count(*), count(sent_at) FROM app_exports "
                           "WHERE destination = ?", (destination,)).fetchone()
    return bool(row[0]) and row[0] == row[1]


def _check_runs_cli(settings: EdgeSettings) -> None:
    """``medcoop edge apps runs --json`` on the edge's configuration file."""
    from typer.testing import CliRunner

    from medcoop.cli import app

    config = settings.storage.data_dir.parent / "medcoop-edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{settings.storage.data_dir}"\n'
                      f'[deid]\nkey_file = "{settings.deid.key_file}"\n[apps]\nenabled = true\n')
    listed = CliRunner().invoke(app, ["edge", "apps", "runs", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    summary, runs_view = json.loads(listed.output)
    assert {"what": "runs succeeded", "value": 1} in summary["rows"]
    assert summary["rows"][0]["what"] == "sandbox"
    assert summary["rows"][0]["value"].startswith(("bubblewrap sandbox", "RLIMITS ONLY"))
    [run] = runs_view["rows"]
    assert (run["state"], run["exports"]) == ("succeeded", "1/0")
    status = CliRunner().invoke(app, ["edge", "status", "--config", str(config), "--json"])
    assert status.exit_code == 0, status.output
    apps_view = next(v for v in json.loads(status.output) if v["title"] == "edge apps")
    assert {"what": "runs succeeded", "value": 1} in apps_view["rows"]


def test_stow_rs_export_reaches_a_dicomweb_receiver(tmp_path: Path) -> None:
    from medcoop.apps.export import ExportError, send_stow
    from medcoop.apps.sdk import AppContext, Code, EdgeStudy, Measurement
    from medcoop.apps.sr import measurement_report
    from tests.apps.conftest import ct_study
    from tests.edge.conftest import STOW_TOKEN

    objects = ct_study()
    context = AppContext("acme.trivial", "1.0.0", "acme", "edge", tmp_path)
    sr = measurement_report(EdgeStudy(str(objects[0].StudyInstanceUID), objects), [
        Measurement(Code("81827009", "SCT", "Diameter"), 1.0, Code("mm", "UCUM", "mm"))],
        context)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    receiver = EdgeNode(make_settings(tmp_path / "receiver"))  # the edge's own STOW-RS
    receiver.start()
    try:
        url = f"http://127.0.0.1:{receiver.stow_port}"
        send_stow(Destination(name="web", kind="stow", url=url, token=STOW_TOKEN), [path])
        assert receiver.status().counters["received"] == 1
        with pytest.raises(ExportError, match="HTTP 401"):
            send_stow(Destination(name="web", kind="stow", url=url, token="wrong"), [path])
    finally:
        receiver.stop()


def _check_retention(settings: EdgeSettings) -> None:
    """A finished run's results folder is deleted after ``retention_days``."""
    from medcoop.apps.edge import AppWorker
    from medcoop.apps.runner import Runner
    from medcoop.edge.store import EdgeStore

    store = EdgeStore(settings.db_path)
    try:
        worker = AppWorker(settings, store, [], Runner())
        assert worker.prune() == 0  # not old yet
        assert worker.prune(now=time.time() + 31 * 86400) == 1
    finally:
        store.close()
    assert not any((settings.app_runs_dir / "results").iterdir())


def _send_back(port: int, ds: Dataset) -> None:
    from pynetdicom import AE

    ae = AE(ae_title="PACS")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCOOP")
    assert assoc.is_established
    try:
        assert int(assoc.send_c_store(ds).Status) == 0
    finally:
        assoc.release()


def test_the_apps_table_of_the_edge_config_is_read_with_paths_resolved(tmp_path: Path) -> None:
    from medcoop.edge.config import DEFAULT_CONFIG_TEXT, load_settings

    commented = DEFAULT_CONFIG_TEXT.split("# On-premise apps", 1)[1].splitlines()[1:]
    apps_text = "\n".join(line.removeprefix("# ") for line in commented)
    config = tmp_path / "medcoop-edge.toml"
    config.write_text(apps_text + '\n[[apps.installed]]\nmanifest = "apps/m.json"\n')
    settings = load_settings(config)
    assert settings.apps.enabled and settings.apps.routes[0].clinical
    assert settings.apps.destination("pacs") is not None
    assert settings.apps.destination("pacs").port == 104  # type: ignore[union-attr]
    assert settings.apps.installed[0].manifest == tmp_path / "apps" / "m.json"
