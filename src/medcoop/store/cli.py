"""``medcoop store``: the app store from a terminal.

One Typer app for the whole store, so that every store command is under one name:

- manifests, checked locally before publishing: ``manifest-check``, ``manifest-schema``;
- the catalogue and commerce (``search``, ``listing``, ``trial``, ``quote``, ``orders``,
  ``entitlements``, ``usage``), which read and write the hub's API with a personal access
  token, each through the same permission checks as the API and the web pages;
- the signed package repository (``keygen``, ``publish``, ``init-repo``), in the TUF
  module's own commands, added to this app.

Heavy imports stay inside the commands so that ``medcoop --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

__all__ = ["app"]

app = typer.Typer(
    help="The app store: manifests, catalogue, trials, quotes, orders, entitlements, packages.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)


@app.command("manifest-check")
def manifest_check(
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, help="manifest.json"),
) -> None:
    """Validate an app manifest and list every problem (exit 1 when there is one)."""
    from medcoop.store.manifest import ManifestError, validate_manifest

    try:
        found = validate_manifest(manifest.read_bytes())
    except ManifestError as exc:
        err_console.print(f"[red]{manifest}: {len(exc.problems)} problems[/red]", soft_wrap=True)
        for problem in exc.problems:
            err_console.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"{found.id} {found.version}: valid (manifest {found.manifest_version})")


@app.command("manifest-schema")
def manifest_schema() -> None:
    """Print the manifest's JSON Schema (as the hub serves it)."""
    from medcoop.store.manifest import manifest_json_schema

    typer.echo(json.dumps(manifest_json_schema(), indent=2))


# the signed package repository's commands (init-repo, approve-vendor, keygen, publish, ...)
from medcoop.store.tuf.cli import register as _register_tuf  # noqa: E402

_register_tuf(app)
