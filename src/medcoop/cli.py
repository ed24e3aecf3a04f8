"""The ``medcoop`` command line: one Typer app that gathers each domain's commands.

Each domain owns its commands in its own ``cli.py`` (``dicom/cli.py``, ``deid/cli.py``,
``edge/cli.py``, ``hub/cli.py``...); this module only registers them. Domain CLIs keep
their heavy imports inside the command functions so that ``medcoop --help`` stays fast.
"""

from __future__ import annotations

import typer
from rich.console import Console

from medcoop import __version__

app = typer.Typer(
    name="medcoop",
    help=(
        "medcoop: connect hospitals' imaging data without letting patients' identities out.\n\n"
        "Edge nodes receive DICOM, extract dose and utilization facts, de-identify them "
        "(PS3.15 Annex E) and deliver records to a multi-tenant hub for dose monitoring, "
        "utilization analytics and peer benchmarks."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)
console = Console()


def _print_version(value: bool) -> None:
    if value:
        console.print(f"medcoop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Show medcoop's version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """medcoop: dose and utilization analytics across hospitals, privacy first."""


# --- domain commands (each domain registers its own here, one line each) -------------------
from medcoop.hub.cli import app as hub_app  # noqa: E402

app.add_typer(hub_app, name="hub")

from medcoop.sim.cli import app as sim_app  # noqa: E402

app.add_typer(sim_app, name="sim")

from medcoop.edge.cli import app as edge_app  # noqa: E402

app.add_typer(edge_app, name="edge")

from medcoop.dicom.cli import extract_command  # noqa: E402

app.command("extract")(extract_command)

from medcoop.hub import views_cli  # noqa: E402

app.command("dose")(views_cli.dose_command)
app.command("usage")(views_cli.usage_command)
app.command("benchmark")(views_cli.benchmark_command)
app.command("alerts")(views_cli.alerts_command)
app.command("studies")(views_cli.studies_command)
app.command("sites")(views_cli.sites_command)
app.command("devices")(views_cli.devices_command)

from medcoop.deid.cli import deid_command  # noqa: E402

app.command("deid")(deid_command)

from medcoop.ledger.cli import app as ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")

from medcoop.store.cli import app as store_app  # noqa: E402

app.add_typer(store_app, name="store")

from medcoop.demo.cli import demo_command  # noqa: E402

app.command("demo")(demo_command)

from medcoop.apps.cli import app as apps_app  # noqa: E402

app.add_typer(apps_app, name="app")
