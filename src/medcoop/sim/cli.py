"""``medcoop sim``: generate a synthetic fleet's studies as DICOM files."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Synthetic scanner fleet: realistic studies, dose reports and MPPS.",
    no_args_is_help=True,
)


def _count_and_folder(first: str, second: str | None, studies: int | None) -> tuple[int, Path]:
    """``N DIR`` as it reads, or the older ``DIR --studies N`` (100 studies by default)."""
    if second is None:
        return (studies or 100), Path(first)
    if not first.isdigit() or int(first) < 1:
        raise typer.BadParameter(f"{first!r} is not a number of studies", param_hint="N")
    if studies is not None and studies != int(first):
        raise typer.BadParameter("give the number of studies once", param_hint="--studies")
    return int(first), Path(second)


@app.command("generate")
def generate(
    first: str = typer.Argument(..., metavar="N", help="How many studies to write."),
    second: str = typer.Argument(None, metavar="DIR", help="Folder to write the studies into."),
    studies: int = typer.Option(
        None, "--studies", "-n", min=1, help="Number of studies (older form: DIR --studies N)."
    ),
    seed: int = typer.Option(1, "--seed", "-s", help="Random seed (same seed, same files)."),
    adversarial: bool = typer.Option(
        False, "--adversarial", help="Also plant identifiers in hard places (privacy tests)."
    ),
    split_reports: float = typer.Option(
        0.0,
        "--split-reports",
        min=0.0,
        max=1.0,
        help="Fraction of CT/RF studies whose dose report is sent in two parts.",
    ),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Processes to write with."),
    sites: list[str] = typer.Option(
        ["St Elsewhere", "County General"], "--site", help="Site name (repeat for several)."
    ),
) -> None:
    """Write N synthetic studies as DICOM Part 10 files under DIR (``sim generate 50 out``)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from medcoop.sim.files import write_fleet
    from medcoop.sim.fleet import Fleet

    studies, out_dir = _count_and_folder(first, second, studies)
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} exists and is not a folder", param_hint="OUT_DIR")
    fleet = Fleet(
        seed=seed, sites=tuple(sites), adversarial=adversarial, split_reports=split_reports
    )
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Generating studies", total=studies)
        paths = write_fleet(
            fleet,
            out_dir,
            studies,
            workers=workers,
            on_study=lambda done: progress.advance(task, done),
        )
    console.print(f"Wrote {studies} studies ({len(paths)} files) to {out_dir}")
