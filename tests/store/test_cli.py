"""``medcoop store manifest-check`` and ``manifest-schema``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medcoop.cli import app
from tests.store.manifests import EDGE_APP, manifest

runner = CliRunner()


def test_manifest_check_lists_every_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(EDGE_APP))
    result = runner.invoke(app, ["store", "manifest-check", str(good)])
    assert result.exit_code == 0, result.output
    assert "acme.chest-triage 1.2.0: valid" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(manifest(version="one", deployment=[])))
    result = runner.invoke(app, ["store", "manifest-check", str(bad)])
    assert result.exit_code == 1
    assert "2 problems" in result.output
    assert "version:" in result.output and "deployment:" in result.output


def test_manifest_schema_prints_the_published_schema() -> None:
    result = runner.invoke(app, ["store", "manifest-schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"] == "/api/v1/store/manifest.schema.json"
