"""The demo's apps part: an app installed at a hospital's edge reports into its PACS.

Story step 7, after the analytics: a vendor scaffolds an app (``medcoop app new``), builds
its wheel (``medcoop app build``), and the hospital installs it into a virtual environment
of its own (offline, from the wheel: the fallback the issue names while store installs
need a running store). The radiology department's edge routes its CT studies to it; as each
study completes, the app runs in its sandbox and its TID 1500 SR is sent by C-STORE to the
hospital's PACS (a pynetdicom SCP here, keeping what it receives as files).
``medcoop demo --check`` then reads those files: every study sent came back as one valid
SR of the same study, and the edge recorded every run as succeeded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["check_apps_part", "install_wheel", "run_apps_part"]

APP_NAME = "ct-image-count"
VENDOR = "demo-vendor"
_SUMMARY = "apps-part.json"


def install_wheel(wheel: Path, venv: Path) -> Path:
    """Install ``wheel`` into a new venv that also sees this interpreter's libraries (the
    SDK), offline and without dependencies; return the venv's python."""
    run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 300}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True, **run).stdout.strip())
    libs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (purelib / "_medcoop_edge.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in libs))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-index", "--no-deps", "--quiet", str(wheel)], **run)
    return python


def run_apps_part(home: Path, console: Console, *, studies: int = 3, seed: int = 7) -> None:
    """Run step 7 in ``home / "apps"``; write what happened for ``--check``."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    from medcoop.apps.edge_cli import runs_views
    from medcoop.apps.scaffold import build_wheel, new_app
    from medcoop.output import OutputFormat, emit

    console.rule("[bold]7. An app at the hospital: its results go back to the PACS")
    folder = home / "apps"
    root = new_app(APP_NAME, folder / "src", vendor=VENDOR)
    wheel = build_wheel(root, folder / "dist")
    python = install_wheel(wheel, folder / "venvs" / f"{VENDOR}.{APP_NAME}")
    console.print(f"scaffolded {root.name}, built {wheel.name}, "
                  f"installed into {python.parent.parent}")
    pacs_dir = folder / "pacs"
    pacs_dir.mkdir(parents=True)

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        ds.save_as(pacs_dir / f"{ds.SOPInstanceUID}.dcm", enforce_file_format=True)
        return 0x0000

    scp = AE(ae_title="HOSPITAL_PACS")
    scp.supported_contexts = AllStoragePresentationContexts
    server = scp.start_server(("127.0.0.1", 0), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert server is not None  # block=False returns the server
    try:
        sent = _send_through_edge(folder, root, python, int(server.server_address[1]), studies,
                                  seed, console, pacs_dir)
    finally:
        server.shutdown()
    from medcoop.edge.store import EdgeStore

    store = EdgeStore(Path(sent["db"]))
    try:
        emit(runs_views(store), OutputFormat.TABLE, console)
    finally:
        store.close()
    (folder / _SUMMARY).write_text(json.dumps(sent, indent=2))


def _send_through_edge(
    folder: Path, root: Path, python: Path, pacs_port: int, studies: int, seed: int,
    console: Console, pacs_dir: Path,
) -> dict[str, Any]:
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

    from medcoop.apps.settings import AppsSettings, Destination, LocalInstall, Route
    from medcoop.edge.config import (
        DeidSettings,
        DicomSettings,
        EdgeSettings,
        StorageSettings,
        StowSettings,
    )
    from medcoop.edge.node import EdgeNode
    from medcoop.sim import Fleet

    edge_dir = folder / "radiology-edge"
    settings = EdgeSettings(
        name="radiology-edge", study_completion_timeout_s=30,
        dicom=DicomSettings(host="127.0.0.1", port=0, allowed_calling_aets=("*",)),
        stow=StowSettings(enabled=False), deid=DeidSettings(key_file=edge_dir / "site.key"),
        storage=StorageSettings(data_dir=edge_dir / "state", min_free_bytes=0),
        apps=AppsSettings(
            enabled=True, quiet_period_s=5,
            installed=(LocalInstall(manifest=root / "medcoop-app.json", python=python),),
            # the scaffold's app is research use only: a research route, never a clinical one
            routes=(Route(name="ct-research", clinical=False, modalities=("CT",),
                          destinations=("pacs",)),),
            destinations=(Destination(name="pacs", port=pacs_port, ae_title="HOSPITAL_PACS"),),
        ),
    )
    fleet = [s for s in Fleet(seed=seed, sites=("Demo Radiology",)).studies(studies * 4)
             if str(s.datasets[0].Modality) == "CT" and s.mpps_set is not None][:studies]
    node = EdgeNode(settings)
    node.start()
    try:
        sandbox = node.apps.runner.describe() if node.apps else "apps off"
        console.print(f"edge {settings.name}: app sandbox: {sandbox}")
        ae = AE(ae_title="CT_SCANNER")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        for s in fleet:
            for ds in s.datasets:
                ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="MEDCOOP")
        for s in fleet:
            uid = s.truth.mpps_sop_instance_uid
            assoc.send_n_create(s.mpps_create, ModalityPerformedProcedureStep, uid)
            for ds in s.datasets:
                assoc.send_c_store(ds)
            assoc.send_n_set(s.mpps_set, ModalityPerformedProcedureStep, uid)  # type: ignore[arg-type]
        assoc.release()
        deadline = time.monotonic() + 60 + 20 * len(fleet)
        while len(list(pacs_dir.glob("*.dcm"))) < len(fleet) and time.monotonic() < deadline:
            time.sleep(0.2)
        console.print(f"{len(list(pacs_dir.glob('*.dcm')))} SRs of {len(fleet)} studies are in "
                      "the PACS")
    finally:
        node.stop()
    return {
        "app": f"{VENDOR}.{APP_NAME}",
        "studies": [str(s.datasets[0].StudyInstanceUID) for s in fleet],
        "pacs_dir": str(pacs_dir),
        "db": str(settings.db_path),
        "sandbox": sandbox,
    }


def check_apps_part(home: Path) -> tuple[str, bool, str]:
    """Verify step 7 from what it left: (what, ok, detail)."""
    import sqlite3

    import pydicom

    from medcoop.apps.sr import validate_sr

    name = "an app at an edge ran on each new study and its SR reached the PACS"
    summary_path = home / "apps" / _SUMMARY
    if not summary_path.is_file():
        return name, False, "the apps part did not run"
    summary = json.loads(summary_path.read_text())
    sent = set(summary["studies"])
    problems: list[str] = []
    found: set[str] = set()
    for path in Path(summary["pacs_dir"]).glob("*.dcm"):
        sr = pydicom.dcmread(path)
        found.add(str(sr.StudyInstanceUID))
        problems += validate_sr(sr, study_instance_uid=str(sr.StudyInstanceUID))
    with sqlite3.connect(summary["db"]) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM app_runs GROUP BY state"))
    ok = bool(sent) and found == sent and not problems and states == {"succeeded": len(sent)}
    detail = (f"{len(found & sent)}/{len(sent)} studies have their SR at the PACS; runs "
              f"{states}; {'; '.join(problems[:2]) or 'SRs valid'}; sandbox: "
              f"{summary['sandbox'][:60]}")
    return name, ok, detail
