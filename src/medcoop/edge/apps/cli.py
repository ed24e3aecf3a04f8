"""``medcoop edge apps``: list, install, upgrade, uninstall and check the edge's store apps.

Every install goes through the TUF updater; a refused package exits 3 with its code and
reason (and is audited and reported to the hub). The app runtime adds its own commands
to :data:`app`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from medcoop.output import CSV_OPTION, JSON_OPTION, Column, View, emit, output_format

__all__ = ["app"]

app = typer.Typer(help="Store apps on this edge: installed with TUF-verified packages.")
console = Console()
err = Console(stderr=True)

CONFIG_OPTION = typer.Option(
    Path("medcoop-edge.toml"), "--config", "-c", help="The edge's TOML configuration file."
)
#: Exit code of a refused (tampered, rolled-back, frozen, wrongly delegated) package.
REFUSED_EXIT = 3


def _settings(config: Path):  # type: ignore[no-untyped-def]
    from medcoop.edge.config import load_settings
    from medcoop.edge.errors import ConfigError

    try:
        return load_settings(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def _run(action, *args):  # type: ignore[no-untyped-def]
    from medcoop.edge.apps import AppInstallError, AppRefusedError

    try:
        return action(*args)
    except AppRefusedError as exc:
        err.print(f"[red]refused ({exc.code}):[/] {exc.message}", highlight=False)
        err.print("nothing was installed; the refusal is audited and reported to the hub")
        raise typer.Exit(REFUSED_EXIT) from exc
    except AppInstallError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc


def _view(rows: list[dict[str, object]]) -> View:
    return View(
        title="Installed apps",
        columns=(
            Column("app_id", "app"),
            Column("version", "version"),
            Column("vendor", "vendor"),
            Column("entry_point", "entry point"),
            Column("installed_at", "installed (UTC)"),
        ),
        records=rows,
    )


@app.command("list")
def list_apps(
    config: Path = CONFIG_OPTION, as_json: bool = JSON_OPTION, as_csv: bool = CSV_OPTION
) -> None:
    """List the apps installed on this edge."""
    from medcoop.edge.apps import installed_apps

    rows: list[dict[str, object]] = [
        {k: v for k, v in a.to_dict().items() if k != "manifest"}
        for a in installed_apps(_settings(config))
    ]
    emit(_view(rows), output_format(as_json, as_csv), console=console)


@app.command()
def install(
    app_id: str = typer.Argument(..., help="The app's id (e.g. acme.dose)."),
    version: str | None = typer.Option(None, help="A published version (default: newest)."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Install an app the site is entitled to, verified through TUF."""
    from medcoop.edge.apps import install_app

    done = _run(install_app, _settings(config), app_id, version)
    console.print(f"installed {done.app_id} {done.version} ({done.python})", highlight=False)


@app.command()
def upgrade(app_id: str = typer.Argument(...), config: Path = CONFIG_OPTION) -> None:
    """Upgrade an installed app to its newest published version."""
    from medcoop.edge.apps import upgrade_app

    done = _run(upgrade_app, _settings(config), app_id)
    if done is None:
        console.print(f"{app_id} is already the newest version")
    else:
        console.print(f"upgraded {done.app_id} to {done.version}", highlight=False)


@app.command()
def uninstall(app_id: str = typer.Argument(...), config: Path = CONFIG_OPTION) -> None:
    """Remove an installed app and its environment."""
    from medcoop.edge.apps import uninstall_app

    done = _run(uninstall_app, _settings(config), app_id)
    console.print(f"uninstalled {done.app_id} {done.version}", highlight=False)


@app.command()
def check(config: Path = CONFIG_OPTION) -> None:
    """Refresh the store's signed metadata and list apps with newer versions."""
    from medcoop.edge.apps import check_updates

    found = _run(check_updates, _settings(config))
    for item in found:
        state = "upgrade available" if item.upgradable else "up to date"
        console.print(f"{item.app_id} {item.installed}: {state} ({item.available})")
    if not found:
        console.print("no apps installed; the store's metadata is fresh and verified")


from medcoop.apps.edge_cli import runs_command  # noqa: E402  (app runs: medcoop.apps runtime)

app.command("runs")(runs_command)
