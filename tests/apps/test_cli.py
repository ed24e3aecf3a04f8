"""``medcoop app new`` scaffolds an app whose own test passes; ``medcoop app run`` runs it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pydicom
from typer.testing import CliRunner

from medcoop.cli import app
from tests.apps.conftest import ct_study, write_study


def _run_own_test(root: Path, tmp: Path) -> None:
    """Run the scaffold's test function in this process (a pytest subprocess is slow)."""
    sys.path.insert(0, str(root / "src"))
    try:
        spec = importlib.util.spec_from_file_location("scaffold_test", root / "tests" /
                                                      "test_app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tmp.mkdir()
        module.test_the_app_reports_on_a_synthetic_study(tmp)
    finally:
        sys.path.remove(str(root / "src"))
        sys.modules.pop("chest_count.app", None)
        sys.modules.pop("chest_count", None)


def test_a_new_app_passes_its_own_test_and_runs_on_a_study(tmp_path: Path) -> None:
    cli = CliRunner()
    made = cli.invoke(app, ["app", "new", "chest-count", "--in", str(tmp_path),
                            "--vendor", "acme"])
    assert made.exit_code == 0, made.output
    root = tmp_path / "chest-count"
    manifest = json.loads((root / "medcoop-app.json").read_text())
    assert manifest["entry_point"] == "chest_count.app:run"
    assert manifest["id"] == "acme.chest-count"
    _run_own_test(root, tmp_path / "own-test")

    objects = ct_study()
    write_study(tmp_path / "study", objects)
    out = tmp_path / "out"
    ran = cli.invoke(app, ["app", "run", str(root), str(tmp_path / "study"), "--out", str(out),
                           "--json"])
    assert ran.exit_code == 0, ran.output
    rows = {r["what"]: r["value"] for r in json.loads(ran.output)["rows"]}
    assert rows["status"] == "succeeded"
    assert json.loads(rows["findings"]) == {"images": 1, "flagged": True}
    sr = pydicom.dcmread(next((out / "dicom").glob("*.dcm")))
    assert sr.StudyInstanceUID == objects[0].StudyInstanceUID


def test_app_new_refuses_a_bad_name_and_run_a_study_it_does_not_want(tmp_path: Path) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["app", "new", "Bad_Name", "--in", str(tmp_path)]).exit_code != 0
    assert cli.invoke(app, ["app", "new", "mg-only", "--in", str(tmp_path)]).exit_code == 0
    manifest_path = tmp_path / "mg-only" / "medcoop-app.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["inputs"][0]["selectors"] = [{"attribute": "Modality", "equals": "MG"}]
    manifest_path.write_text(json.dumps(manifest))
    write_study(tmp_path / "study", ct_study())
    ran = cli.invoke(app, ["app", "run", str(tmp_path / "mg-only"), str(tmp_path / "study")])
    assert ran.exit_code != 0
    assert "matches the app's selectors" in ran.output
