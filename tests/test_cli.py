"""The ``medcoop`` entry point: version and help read well."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from medcoop import __version__
from medcoop.cli import app

runner = CliRunner()


def test_version_prints_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"medcoop {__version__}"


def test_help_describes_the_platform() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "de-identif" in result.stdout


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "medcoop", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in done.stdout


def test_every_view_command_offers_json_and_csv() -> None:
    for command in ("dose", "usage", "benchmark", "alerts", "studies", "sites", "devices"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, command
        assert "--json" in shown.output and "--csv" in shown.output, command
    both = runner.invoke(app, ["sites", "--json", "--csv", "--token", "mcp_x"])
    assert both.exit_code != 0 and "not both" in both.output
