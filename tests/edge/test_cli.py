"""`medcoop edge` commands: init, enroll (against the real hub), consent, import, status,
quarantine list/retry/purge."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from medcoop.cli import app
from medcoop.edge.config import load_settings

from .conftest import LiveHub, encode, fleet_studies

runner = CliRunner()


def init_config(tmp_path: Path) -> Path:
    config = tmp_path / "edge.toml"
    result = runner.invoke(app, ["edge", "init", str(config)])
    assert result.exit_code == 0, result.output
    text = config.read_text().replace("min_free_bytes = 268435456", "min_free_bytes = 0")
    config.write_text(text)
    return config


def test_enroll_stores_the_token_privately(tmp_path: Path, live_hub: LiveHub) -> None:
    config = init_config(tmp_path)
    code = live_hub.enrollment_code()
    result = runner.invoke(app, ["edge", "enroll", code, "--hub", live_hub.url, "-c", str(config)])
    assert result.exit_code == 0, result.output
    settings = load_settings(config)
    assert settings.hub.url == live_hub.url
    assert (settings.hub.site_token or "").startswith("mcs_")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    again = runner.invoke(app, ["edge", "enroll", code, "--hub", live_hub.url, "-c", str(config)])
    assert again.exit_code == 1  # single-use code
    assert "refused" in again.output


def test_import_status_consent_and_quarantine(tmp_path: Path) -> None:
    config = init_config(tmp_path)
    folder = tmp_path / "archive"
    folder.mkdir()
    studies = fleet_studies(3)
    for i, ds in enumerate(ds for s in studies for ds in s.datasets):
        (folder / f"{i:03d}.dcm").write_bytes(encode(ds))
    (folder / "notes.txt").write_text("not a DICOM file")
    patient_id = studies[0].truth.patient.patient_id
    issuer = studies[0].truth.patient.issuer_of_patient_id

    result = runner.invoke(
        app, ["edge", "consent", "opt-out", patient_id, "--issuer", issuer, "-c", str(config)]
    )
    assert result.exit_code == 0 and patient_id not in result.output

    result = runner.invoke(app, ["edge", "import", str(folder), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "quarantined: 1" in result.output
    assert "withheld" in result.output

    result = runner.invoke(app, ["edge", "status", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "quarantine" in result.output and "backlog" in result.output
    assert patient_id not in result.output

    result = runner.invoke(app, ["edge", "status", "--json", "-c", str(config)])
    assert result.exit_code == 0, result.output
    views = {view["title"]: view for view in json.loads(result.output)}
    counts = {row["what"]: row["value"] for row in views["medcoop edge"]["rows"]}
    assert counts["open studies"] == 2 and counts["consent withheld"] == 2  # one patient opted out
    assert counts["quarantined"] == 1
    assert [row["objects"] for row in views["quarantine by reason"]["rows"]] == [1]

    result = runner.invoke(app, ["edge", "quarantine", "list", "--csv", "-c", str(config)])
    assert result.exit_code == 0, result.output
    blocks = result.output.strip().split("\n\n")
    quarantined = list(csv.DictReader(io.StringIO(blocks[1])))
    assert len(quarantined) == 1 and quarantined[0]["seen"] == "1"
    assert patient_id not in result.output

    result = runner.invoke(app, ["edge", "quarantine", "retry", "--all", "-c", str(config)])
    assert result.exit_code == 0 and "0 of 1 released" in result.output
    result = runner.invoke(app, ["edge", "quarantine", "purge", "1", "-c", str(config)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["edge", "quarantine", "purge", "1", "-c", str(config)])
    assert result.exit_code == 1  # gone

    result = runner.invoke(
        app, ["edge", "consent", "opt-in", patient_id, "--issuer", issuer, "-c", str(config)]
    )
    assert "withdrawn" in result.output


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text("[dicom]\nport = 'eleven'\n")
    result = runner.invoke(app, ["edge", "status", "-c", str(config)])
    assert result.exit_code == 2
    assert "dicom.port" in result.output
