"""``medcoop app``: commands for app authors (scaffold an app, run it locally on a study).

``medcoop app new NAME`` writes a working app package (:mod:`medcoop.apps.scaffold`);
``medcoop app run PACKAGE STUDY_DIR`` runs it on a folder of DICOM files through the
edge's own runner (same sandbox, limits and output checks), with this interpreter as the
app's python unless ``--python`` names the app's venv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from medcoop.apps.monitor_cli import monitor_command
from medcoop.output import CSV_OPTION, JSON_OPTION, Column, View, emit, make_console, output_format

app = typer.Typer(help="Write and try apps: scaffold one, run it on a study folder.",
                  no_args_is_help=True)


@app.command("new")
def new_command(
    name: str = typer.Argument(..., help="The app's id: lowercase letters, digits, dashes."),
    parent: Path = typer.Option(Path("."), "--in", help="Folder to create the app in."),
    vendor: str = typer.Option("my-vendor", help="Your vendor id in the store."),
) -> None:
    """Create a working app package: manifest, entry point, pyproject and a test."""
    from medcoop.apps.scaffold import new_app

    try:
        root = new_app(name, parent, vendor=vendor)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console = make_console()
    console.print(f"created {root}")
    console.print(f"try it:  medcoop app run {root} STUDY_DIR")


@app.command("build")
def build_command(
    package: Path = typer.Argument(..., exists=True, file_okay=False,
                                   help="The app's folder (with medcoop-app.json)."),
    dist: Path = typer.Option(Path("dist"), help="Where the wheel is written."),
) -> None:
    """Build the app's wheel (what `medcoop store publish` takes beside the manifest)."""
    from medcoop.apps.scaffold import build_wheel
    from medcoop.apps.sdk import AppSpec

    AppSpec.load(package / "medcoop-app.json")  # an invalid manifest fails here, listed
    make_console().print(str(build_wheel(package, dist)))


@app.command("run")
def run_command(
    package: Path = typer.Argument(..., exists=True, file_okay=False,
                                   help="The app's folder (with medcoop-app.json)."),
    study_dir: Path = typer.Argument(..., exists=True, file_okay=False,
                                     help="A folder of one study's DICOM files."),
    out: Path = typer.Option(Path("app-run-out"), help="Where the results are written."),
    python: Path | None = typer.Option(None, help="The app venv's python (default: this one)."),
    param: list[str] = typer.Option([], "--param", help="A parameter as NAME=JSON_VALUE."),
    sandbox: bool = typer.Option(True, help="Run in bubblewrap when present (--no-sandbox: "
                                            "rlimits only)."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
) -> None:
    """Run an app on a study folder as the edge would, and show what it returned."""
    import json

    from medcoop.apps.runner import AppInstall, Runner, SandboxMode, current_python
    from medcoop.apps.scaffold import MANIFEST_FILE
    from medcoop.apps.sdk import AppSpec, EdgeStudy

    output = output_format(as_json, as_csv)
    manifest = package / MANIFEST_FILE
    if not manifest.is_file():
        raise typer.BadParameter(f"{manifest} not found (create an app with `medcoop app new`)")
    spec = AppSpec.load(manifest)
    parameters: dict[str, Any] = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--param {item!r}: use NAME=VALUE")
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value
    study = EdgeStudy.from_folder(study_dir)
    wanted = [p for p, ds in zip(study.paths, study.datasets, strict=True) if spec.wants(ds)]
    if not wanted:
        raise typer.BadParameter("no object of the study matches the app's selectors")
    source = package / "src" if (package / "src").is_dir() else package
    install = AppInstall(spec, python or current_python(), (source.resolve(),))
    runner = Runner(mode=None if sandbox else SandboxMode.RLIMITS)
    series = sorted({str(ds.get("SeriesInstanceUID", "")) for ds in study.datasets})
    outcome = runner.run(install, wanted, out, study_instance_uid=study.study_instance_uid,
                         original_series=series, parameters=parameters)
    result = outcome.result
    rows: list[dict[str, Any]] = [
        {"what": "app", "value": spec.key},
        {"what": "objects given", "value": len(wanted)},
        {"what": "status", "value": outcome.status},
        {"what": "reason", "value": outcome.reason.value if outcome.reason else ""},
        {"what": "detail", "value": outcome.detail},
        {"what": "duration (s)", "value": round(outcome.duration_s, 2)},
        {"what": "sandbox", "value": runner.describe()},
        {"what": "findings", "value": json.dumps(result.findings) if result else ""},
        {"what": "measurements", "value": len(result.measurements) if result else 0},
        {"what": "alerts", "value": len(result.alerts) if result else 0},
        {"what": "DICOM objects", "value": ", ".join(str(p) for p in outcome.dicom_files)},
        {"what": "log", "value": str(out / "app.log")},
    ]
    emit(View("medcoop app run", (Column("what", "what"), Column("value", "value")), rows),
         output, make_console())
    if not outcome.succeeded:
        raise typer.Exit(1)


app.command("monitor")(monitor_command)  # the hub's monitoring of the apps (firstparty)
