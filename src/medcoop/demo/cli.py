"""``medcoop demo``: run the whole path locally (see :mod:`medcoop.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["demo_command"]


def demo_command(
    home: Path = typer.Option(
        None,
        "--home",
        help="Folder for the demo's hub and edges (default $MEDCOOP_HOME/demo); "
        "emptied at the start of each run.",
    ),
    archive: int = typer.Option(
        800, "--archive", min=0, help="Studies the eight hospitals back-load first."
    ),
    studies: int = typer.Option(
        40, "--studies", "-n", min=1, help="The group's studies sent over DICOM before the report."
    ),
    seed: int = typer.Option(7, "--seed", help="The synthetic fleet's seed."),
    port: int = typer.Option(8000, "--port", help="The hub's port (another if busy)."),
    dicom_port: int = typer.Option(11112, "--dicom-port", help="First edge's DICOM port."),
    once: bool = typer.Option(
        False, "--once", help="Stop after the report instead of sending until Ctrl-C."
    ),
    interval: float = typer.Option(
        2.0, "--interval", min=0.0, help="Seconds between live studies after the report."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Run the story headless in a temporary folder, verify its numbers end to end "
        "and the dashboard's permissions; exit 0 when every check passes, else 1.",
    ),
) -> None:
    """Run a hub, two hospital edges and a simulated scanner fleet; show what arrives.

    Everything runs on this machine with the embedded defaults (SQLite, local ports) and
    synthetic patients only.
    """
    import signal

    import pydicom
    from rich.console import Console

    from medcoop.demo.story import DemoOptions, run_demo
    from medcoop.edge.logs import configure_logging
    from medcoop.hub.settings import medcoop_home

    # pydicom's validation warnings quote the invalid values, which may identify a patient.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    configure_logging(level="WARNING")
    console = Console()
    if check:
        from medcoop.demo.check import run_check

        raise typer.Exit(0 if run_check(console) else 1)
    options = DemoOptions(
        home=(home or medcoop_home() / "demo").expanduser().resolve(),
        archive_studies=archive,
        dicom_studies=studies,
        seed=seed,
        hub_port=port,
        dicom_port=dicom_port,
        live=not once,
        interval_s=interval,
    )
    # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C: the hub runs in its
    # own session and must be stopped by us after the edges have flushed
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_demo(options, console)
    except FileExistsError as exc:
        console.print(f"[red]{exc}[/]; choose another --home")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        console.print("stopped")
        raise typer.Exit(130) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
