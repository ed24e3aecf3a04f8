"""``medcoop deid``: copies, withheld objects, bad input, summary without identifiers."""

from __future__ import annotations

import stat
from pathlib import Path

from pydicom import dcmread
from typer.testing import CliRunner

from medcoop.cli import app
from tests.common.adversarial import adversarial_corpus, find_leaks, write_corpus


def test_deid_command_writes_copies_skips_bad_input_and_reports(tmp_path: Path) -> None:
    source = tmp_path / "in"
    paths = write_corpus(source, patients=2)
    (source / "notes.txt").write_text("not dicom")
    good = paths[0].read_bytes()
    (source / "truncated.dcm").write_bytes(good[: len(good) - 40])
    out = tmp_path / "out"
    key_file = tmp_path / "keys" / "site.key"
    result = CliRunner().invoke(
        app, ["deid", str(source), str(out), "--key-file", str(key_file), "--profile", "basic"]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    written = sorted(out.iterdir())
    assert len(written) == 6  # CT, RDSR, free-text CT per patient; rendered text withheld
    assert all(p.name.startswith("2.25.") for p in written)
    tokens = frozenset().union(*(c.patient.tokens for c in adversarial_corpus(patients=2)))
    for path in written:
        ds = dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        payload = path.read_bytes().replace(ds.get("PixelData", b"") or b"\x00\xff\x00", b"")
        assert find_leaks(payload, tokens) == set()
    assert "withheld" in result.output and "unreadable" in result.output
    assert result.output.count("skipped") == 2
    assert find_leaks(result.output.encode(), tokens) == set()


def test_deid_command_rejects_an_unknown_profile(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(
        app,
        [
            "deid",
            str(tmp_path / "in"),
            str(tmp_path / "out"),
            "--key-file",
            str(tmp_path / "k"),
            "--profile",
            "nonesuch",
        ],
    )
    assert result.exit_code == 2
    assert "unknown de-identification profile" in result.output


def test_worker_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_corpus(source, patients=3)
    cases = adversarial_corpus(patients=3)
    # rendered text is withheld; so is the burned-in DX, as the CLI is given no pixel rule
    withheld = sum(1 for c in cases if c.expect_withheld or c.name.endswith("-dx"))
    key_file = tmp_path / "site.key"
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        result = CliRunner().invoke(
            app, ["deid", str(source), str(out), "--key-file", str(key_file), "--workers", workers]
        )
        assert result.exit_code == 0, result.output
        assert f"{workers} process" in result.output
        # every withheld object is reported by number with its reason
        assert result.output.count("withheld file") == withheld
        outputs[workers] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outputs["1"]) == len(cases) - withheld and outputs["1"] == outputs["2"]
