"""On-premise apps: runner overhead, runs/s and added latency per study, edge throughput.

Three measurements, side by side in one run on this machine:

1. **Runner overhead per run**, on one synthetic CT study, each ``--runs`` times: a bare
   subprocess running the same harness and app (no workspace, no limits, no checks),
   the runner with rlimits only, and the runner in bubblewrap; for a no-op app (returns
   nothing: the overhead alone), the trivial app (builds and validates a TID 1500 SR) and,
   when present, the first-party CT size and SSDE app.
2. **Runs/s and added latency per study**: ``--studies`` CT studies sent to a running edge
   (pynetdicom SCU: MPPS N-CREATE, C-STORE, N-SET) with the trivial app routed; latency is
   from the study's MPPS N-SET (the edge's completion signal) to its SR arriving at a
   pynetdicom SCP standing in for the PACS; the 2 s settle the edge allows stragglers
   is part of it.
3. **Edge reception throughput with the app installed vs without**: objects/s accepted by
   the edge for the same studies, apps off, then on (runs going on meanwhile).

    .venv/bin/python bench/apps.py --runs 10 --studies 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medcoop.apps.runner import (  # noqa: E402
    AppInstall,
    Limits,
    Runner,
    SandboxMode,
    current_python,
    detect_sandbox,
)
from medcoop.apps.scaffold import manifest_for  # noqa: E402
from medcoop.apps.sdk import AppSpec  # noqa: E402

SAMPLE_APPS = ROOT / "tests" / "apps" / "sample_apps"
NOOP = '''
from medcoop.apps.sdk import AppResult
def run(inputs, parameters, context):
    return AppResult(findings={"ok": True})
'''


def _spec(entry_point: str, **changes: Any) -> AppSpec:
    manifest = manifest_for("bench-app", "bench", entry_point=entry_point, **changes)
    manifest["outputs"][0].pop("findings_schema")
    return AppSpec.from_json(manifest)


def _study(folder: Path) -> tuple[list[Path], str, list[str]]:
    from medcoop.sim import Fleet

    study = next(s for s in Fleet(seed=3).studies(20) if str(s.datasets[0].Modality) == "CT")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate(study.datasets):
        path = folder / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    first = study.datasets[0]
    return paths, str(first.StudyInstanceUID), [str(first.SeriesInstanceUID)]


def _phantom_study(folder: Path) -> tuple[list[Path], str, list[str]]:
    from medcoop.sim.phantoms import axial_ct, ellipse_hu

    hu, pixel_mm = ellipse_hu(16.0, 11.0)
    slices = [axial_ct(hu, pixel_mm, z_mm=5.0 * i) for i in range(10)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate(slices):
        ds.StudyInstanceUID, ds.SeriesInstanceUID = slices[0].StudyInstanceUID, \
            slices[0].SeriesInstanceUID
        ds.CTDIvol = 12.0
        path = folder / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths, str(slices[0].StudyInstanceUID), [str(slices[0].SeriesInstanceUID)]


def _bare(app: AppInstall, paths: list[Path], work: Path) -> float:
    """The same harness and app in a plain subprocess: no sandbox, limits or checks."""
    from medcoop.apps.sdk import AppContext

    (work / "out").mkdir(parents=True, exist_ok=True)
    context = AppContext(app.spec.id, app.spec.version, app.spec.vendor, "edge", work / "out")
    from medcoop.apps.sdk import parameters_for

    job = {"entry_point": app.spec.entry_point, "parameters": parameters_for(app.spec, None),
           "context": context.to_json(),
           "input_dir": str(paths[0].parent), "output_dir": str(work / "out"),
           "app_paths": [str(p) for p in app.app_paths], "guard": False,
           "drop_privileges": False}
    (work / "job.json").write_text(json.dumps(job))
    started = time.perf_counter()
    done = subprocess.run([str(app.python), "-B", "-m", "medcoop.apps.harness",
                           str(work / "job.json")], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bare run failed: {done.stderr[-800:]}")
    return time.perf_counter() - started


def runner_overhead(runs: int, tmp: Path) -> dict[str, Any]:
    (tmp / "noop_app").mkdir(parents=True, exist_ok=True)
    (tmp / "noop_app" / "bench_noop.py").write_text(NOOP)
    paths, study_uid, series = _study(tmp / "study")
    apps = {
        "no-op app": AppInstall(_spec("bench_noop:run"), current_python(), (tmp / "noop_app",)),
        "trivial app (TID 1500 SR)": AppInstall(
            _spec("trivial_app:trivial", parameters=[
                {"name": "diameter_mm", "type": "number", "default": 250.0}]),
            current_python(), (SAMPLE_APPS,)),
    }
    studies = dict.fromkeys(apps, (paths, study_uid, series))
    try:  # the first-party CT size and SSDE app, on a 16 x 11 cm water ellipse, 10 slices
        from medcoop.apps.firstparty.manifests import CT_SIZE

        name = "CT size and SSDE app (first-party, 10 axial slices)"
        apps[name] = AppInstall(AppSpec.from_json(CT_SIZE), current_python())
        studies[name] = _phantom_study(tmp / "phantom")
    except ImportError:
        print("first-party SSDE app not in this tree: left out", file=sys.stderr)
    modes = [SandboxMode.RLIMITS]
    if detect_sandbox()[0] is SandboxMode.BUBBLEWRAP:
        modes.append(SandboxMode.BUBBLEWRAP)
    out: dict[str, Any] = {}
    for name, app in apps.items():
        paths, study_uid, series = studies[name]
        row: dict[str, float] = {}
        bare = [_bare(app, paths, tmp / f"bare-{i}") for i in range(runs)]
        row["bare subprocess"] = statistics.median(bare)
        for mode in modes:
            runner = Runner(Limits(wall_s=120), mode=mode)
            runner.run(app, paths, tmp / "warm", study_instance_uid=study_uid)  # probe once
            times = []
            for i in range(runs):
                started = time.perf_counter()
                outcome = runner.run(app, paths, tmp / f"{mode}-{i}",
                                     study_instance_uid=study_uid, original_series=series)
                times.append(time.perf_counter() - started)
                assert outcome.succeeded, outcome.detail
            row[f"runner, {mode.value}"] = statistics.median(times)
        out[name] = row
    return out


def _edge(tmp: Path, pacs_port: int, *, apps_on: bool) -> Any:
    from medcoop.apps.settings import AppsSettings, Destination, LocalInstall, Route
    from medcoop.edge.config import (
        DeidSettings,
        DicomSettings,
        EdgeSettings,
        StorageSettings,
        StowSettings,
    )

    manifest = manifest_for("trivial-app", "bench", entry_point="trivial_app:trivial",
                            parameters=[{"name": "diameter_mm", "type": "number",
                                         "default": 250.0}])
    manifest["outputs"][0].pop("findings_schema")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    apps = AppsSettings(
        enabled=apps_on, quiet_period_s=30,
        installed=(LocalInstall(manifest=tmp / "manifest.json", app_paths=(SAMPLE_APPS,)),),
        routes=(Route(name="ct", clinical=False, modalities=("CT",), destinations=("pacs",)),),
        destinations=(Destination(name="pacs", port=pacs_port),),
    )
    return EdgeSettings(
        name="bench-edge", study_completion_timeout_s=30,
        dicom=DicomSettings(host="127.0.0.1", port=0, allowed_calling_aets=("*",)),
        stow=StowSettings(enabled=False), deid=DeidSettings(key_file=tmp / "site.key"),
        storage=StorageSettings(data_dir=tmp / "state", min_free_bytes=0), apps=apps)


def edge_runs(studies: int, tmp: Path) -> dict[str, Any]:
    from pynetdicom import AE, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        ModalityPerformedProcedureStep,
    )

    from medcoop.edge.node import EdgeNode
    from medcoop.sim import Fleet

    arrived: dict[str, float] = {}
    scp = AE(ae_title="PACS")
    scp.supported_contexts = AllStoragePresentationContexts

    def on_store(event: Any) -> int:
        arrived[str(event.dataset.StudyInstanceUID)] = time.perf_counter()
        return 0

    server = scp.start_server(("127.0.0.1", 0), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, on_store)])
    pacs_port = int(server.server_address[1])
    fleet = [s for s in Fleet(seed=5, sites=("Bench General",)).studies(studies * 3)
             if str(s.datasets[0].Modality) == "CT" and s.mpps_set is not None][:studies]
    out: dict[str, Any] = {"studies": len(fleet), "objects": sum(len(s.datasets) for s in fleet)}
    for apps_on in (False, True):
        node = EdgeNode(_edge(tmp / f"edge-{apps_on}", pacs_port, apps_on=apps_on))
        node.start()
        completed: dict[str, float] = {}
        ae = AE(ae_title="CT1")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        for s in fleet:
            for ds in s.datasets:
                ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        started = time.perf_counter()
        for s in fleet:
            uid = s.truth.mpps_sop_instance_uid
            assoc.send_n_create(s.mpps_create, ModalityPerformedProcedureStep, uid)
            for ds in s.datasets:
                assoc.send_c_store(ds)
            assoc.send_n_set(s.mpps_set, ModalityPerformedProcedureStep, uid)
            completed[str(s.datasets[0].StudyInstanceUID)] = time.perf_counter()
        received_s = time.perf_counter() - started
        assoc.release()
        key = "with app" if apps_on else "without app"
        out[f"reception objects/s, {key}"] = out["objects"] / received_s
        if apps_on:
            deadline = time.monotonic() + 60 + 10 * len(fleet)
            while len(arrived) < len(fleet) and time.monotonic() < deadline:
                time.sleep(0.1)
            latencies = sorted(arrived[u] - completed[u] for u in completed if u in arrived)
            out["SRs at the PACS"] = len(arrived)
            out["runs/s"] = len(arrived) / (max(arrived.values()) - started) if arrived else 0
            out["latency p50 s"] = statistics.median(latencies) if latencies else None
            p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else None
            out["latency p95 s"] = p95
            out["sandbox"] = node.apps.runner.describe() if node.apps else None
        node.stop()
    server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--studies", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medcoop-bench-apps-") as folder:
        tmp = Path(folder)
        overhead = runner_overhead(args.runs, tmp / "o")
        print(json.dumps({"runner overhead, median s per run": overhead}, indent=2), flush=True)
        print(json.dumps({"edge": edge_runs(args.studies, tmp / "e")}, indent=2, default=str))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
