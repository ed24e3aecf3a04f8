"""``medcoop extract`` through the real Typer app: folders, JSON lines, table, junk files."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medcoop.cli import app

from . import builders as b


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    b.ct_rdsr([("1.2.3.1", 10.0, 200.0)]).save_as(root / "sub" / "ct.dcm", enforce_file_format=True)
    (root / "readme.txt").write_text("not DICOM\n")
    (root / "empty.dcm").write_bytes(b"")
    return root


def test_json_lines_walk_folders_and_skip_junk(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", "--json", str(_folder(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(line["source"]).name: line for line in lines}
    assert set(by_name) == {"ct.dcm", "readme.txt", "empty.dcm"}
    ct = by_name["ct.dcm"]
    assert ct["modality"] == "CT" and ct["totals"]["total_dlp_mgycm"] == 200.0
    assert ct["events"][0]["ctdivol_mgy"] == 10.0 and ct["events"][0]["event_uid"] == "1.2.3.1"
    assert "skipped" in by_name["readme.txt"] and "skipped" in by_name["empty.dcm"]
    for planted in ("Testperson", "PID-778899", "19700203", "ACC-445566"):
        assert planted not in result.stdout


def test_table_output_and_missing_path(tmp_path: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["extract", str(_folder(tmp_path))])
    assert table.exit_code == 0
    assert "ct.dcm" in table.stdout and "DLP 200.0" in table.stdout
    missing = runner.invoke(app, ["extract", str(tmp_path / "nope")])
    assert missing.exit_code == 2
