"""The demo's first-party apps: runs at a hospital's edge, reported to the hub's apps page.

:func:`run` (a step of ``medcoop demo``) runs the three first-party apps through their SDK
entry points on synthetic images with real pixels (:mod:`medcoop.sim.phantoms`: water
phantoms of several sizes for CT size and SSDE, DX images with exposure headers for
exposure QA, and a tiny ONNX model built in memory for the model host), then reports every
run to the hub as the edge does (``POST /api/v1/apps/runs`` with the site's token).
:func:`check` (a step of ``medcoop demo --check``) verifies that the runs are on the hub,
that the SSDE of the 32 cm phantom is the published 1.14 × CTDIvol, and that the apps page
shows them to the group's physicist.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydicom.dataset import Dataset
from rich.console import Console

from medcoop.apps.firstparty import apps
from medcoop.apps.monitoring import RunReport, RunReportBatch, RunStatus
from medcoop.apps.sdk import AppContext, AppResult, EdgeStudy
from medcoop.sim.phantoms import axial_ct, dx_image, ellipse_hu
from medcoop.sim.tiny_model import mean_intensity_model

__all__ = ["AppsDemo", "check", "run", "run_at"]

CTDIVOL_MGY = 10.0
_DIAMETERS_CM = (16.0, 24.0, 32.0)


@dataclass(frozen=True, slots=True)
class AppsDemo:
    """What the demo's apps did."""

    reported: int
    accepted: int
    ssde_mgy: dict[float, float]


def _same_study(datasets: list[Dataset]) -> EdgeStudy:
    uid, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    for ds in datasets:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = uid, series
    return EdgeStudy(str(uid), datasets)


def _ct_study(diameter_cm: float) -> EdgeStudy:
    slices = [
        axial_ct(*ellipse_hu(diameter_cm / 2, diameter_cm / 2, size=256), z_mm=z)
        for z in (0.0, 5.0, 10.0)
    ]
    for ds in slices:
        ds.CTDIvol = CTDIVOL_MGY
    return _same_study(slices)


def _dx_study(rng: np.random.Generator, day: int) -> EdgeStudy:
    ramp = np.tile(np.linspace(0, 4000, 64), (64, 1))
    at = f"202612{day + 1:02d}T0930{rng.integers(10, 59):02d}"
    images = [
        dx_image(float(400 * 10 ** (rng.normal(0.3, 1.2) / 10)), 400.0, acquired=at, pixels=ramp),
        dx_image(400.0, 400.0, view="LL", acquired=at, pixels=ramp),
    ]
    return _same_study(images)


def _onnx_parameters(model: Path) -> dict[str, Any]:
    return {
        "model_file": str(model),
        "model_name": "demo-mean-intensity",
        "model_version": "1.0",
        "input_height": 32,
        "input_width": 32,
        "findings": json.dumps([{"code_value": "DEMO1", "meaning": "Demo finding"}]),
    }


def _report(
    app_id: str,
    entry: Callable[..., AppResult],
    study: EdgeStudy,
    parameters: Mapping[str, Any],
    started_at: datetime,
    output_dir: Path,
) -> tuple[RunReport, AppResult | None]:
    context = AppContext(app_id=app_id, app_version="1.0.0", vendor="medcoop", kind="edge",
                         output_dir=output_dir)
    began = time.perf_counter()
    result: AppResult | None = None
    try:
        result = entry(study, parameters, context)
        status, reason = RunStatus.SUCCEEDED, None
    except Exception:  # a failing app is a failed run, reported, never the demo's end
        status, reason = RunStatus.FAILED, "crash"
    ds = study.datasets[0]
    outputs = (result.findings or {}).get("outputs", {}) if result else {}
    report = RunReport(
        run_key=str(uuid.uuid4()),
        app=app_id,
        app_version="1.0.0",
        study_uid=f"2.25.{uuid.uuid4().int}",  # the edge's remapped UID, never the original
        started_at=started_at,
        latency_ms=round((time.perf_counter() - began) * 1000, 1),
        status=status,
        failure_reason=reason,
        modality=str(ds.Modality),
        device_key=f"demo-{str(ds.StationName).lower()}",
        protocol=str(ds.get("BodyPartExamined", "")) or None,
        outputs=outputs,
    )
    return report, result


def run(hub_url: str, site_token: str, console: Console) -> AppsDemo:
    """Run the first-party apps on synthetic studies and report the runs to the hub."""
    rng = np.random.default_rng(14)
    now = datetime.now(UTC)
    reports: list[RunReport] = []
    ssde: dict[float, float] = {}
    with tempfile.TemporaryDirectory(prefix="medcoop-demo-apps-") as tmp:
        folder = Path(tmp)
        model = folder / "model.onnx"
        model.write_bytes(mean_intensity_model([6.0], [-3.0]))
        for diameter in _DIAMETERS_CM:
            report, result = _report("medcoop.ct-size", apps.ct_size, _ct_study(diameter),
                                     {"phantom": "body32"}, now, folder)
            reports.append(report)
            if result and result.findings and result.findings.get("ssde_mgy") is not None:
                ssde[diameter] = float(result.findings["ssde_mgy"])
        for day in range(12):
            at = now - timedelta(days=11 - day)
            study = _dx_study(rng, day)
            reports.append(_report("medcoop.exposure-qa", apps.exposure_qa, study, {}, at,
                                   folder)[0])
            reports.append(_report("medcoop.xray-onnx", apps.onnx_host, study,
                                   _onnx_parameters(model), at, folder)[0])
    batch = RunReportBatch(runs=tuple(reports))
    answer = httpx.post(
        f"{hub_url}/api/v1/apps/runs",
        content=batch.model_dump_json(),
        headers={"Authorization": f"Bearer {site_token}", "Content-Type": "application/json"},
        timeout=60,
    )
    answer.raise_for_status()
    accepted = int(answer.json()["accepted"])
    shown = ", ".join(f"{d:g} cm: {v:.2f} mGy" for d, v in ssde.items())
    console.print(
        f"first-party apps ran {len(reports)} times at the edge ({accepted} runs reported); "
        f"SSDE of water phantoms at CTDIvol {CTDIVOL_MGY:g} mGy: {shown}; see /apps"
    )
    return AppsDemo(len(reports), accepted, ssde)


def run_at(hub_url: str, edges: Mapping[str, Any], org: str, console: Console) -> AppsDemo:
    """:func:`run` at the first enrolled edge of ``org`` (the story's hook)."""
    console.rule("[bold]9. First-party apps next to the data; the hub monitors them")
    for edge in edges.values():
        token = edge.settings.hub.site_token
        if edge.site.org == org and token:
            return run(hub_url, token, console)
    raise RuntimeError(f"no enrolled edge of {org} to run the apps at")


def check(home: Path, logins: list[Any]) -> Any:
    """Verify the demo's app runs at the hub and on the physicist's apps page."""
    from medcoop.demo.check import CheckResult

    with warnings.catch_warnings():  # Starlette's note about its httpx client, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    from medcoop.hub.app import create_app
    from medcoop.hub.settings import HubSettings

    name = "first-party apps: runs at the hub, SSDE of the 32 cm phantom, apps page"
    app = create_app(
        HubSettings(database_url=f"sqlite:///{home / 'hub' / 'hub.db'}", notifier_enabled=False)
    )
    problems: list[str] = []
    detail = ""
    try:
        for login in logins:
            client = TestClient(app, base_url="http://demo.test", follow_redirects=False)
            answer = client.post("/login", data={"email": login.email, "password": login.password})
            if answer.status_code != 303:
                continue
            monitoring = client.get("/api/v1/apps/monitoring")
            if monitoring.status_code != 200:
                continue
            rows = {a["app"]: a for a in monitoring.json()["apps"]}
            if not rows:
                continue
            expected = {"medcoop.ct-size", "medcoop.exposure-qa", "medcoop.xray-onnx"}
            if set(rows) != expected:
                problems.append(f"apps at the hub: {sorted(rows)}")
            failures = sum(a["failures"] for a in rows.values())
            if failures:
                problems.append(f"{failures} failed runs")
            sizes = client.get("/api/v1/apps/runs", params={"app": "medcoop.ct-size"}).json()
            ssde = sorted(r["outputs"].get("ssde_mgy", 0.0) for r in sizes)
            if not ssde or abs(ssde[0] - 1.144 * CTDIVOL_MGY) > 0.05:
                problems.append(f"SSDE of the 32 cm phantom: {ssde[:1]}, not 11.44 mGy")
            page = client.get("/apps")
            if page.status_code != 200 or "medcoop.exposure-qa" not in page.text:
                problems.append(f"/apps answered {page.status_code} without the apps")
            runs = sum(a["runs"] for a in rows.values())
            detail = f"{runs} runs of {len(rows)} apps on the apps page of {login.email}"
            break
        else:
            problems.append("no demo login sees any app run")
    finally:
        app.state.engine.dispose()
    return CheckResult(name, not problems, "; ".join(problems) or detail)
