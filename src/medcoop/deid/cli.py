"""``medcoop deid INPUT_DIR OUTPUT_DIR``: de-identify a folder of DICOM files.

De-identified copies go to OUTPUT_DIR named by their remapped SOP Instance UID (input
paths often carry patient names, so they are not reused); withheld objects are not
written. Bad input (not DICOM, truncated, unreadable) is reported and skipped, never
fatal. Files are reported by their number in sorted order, and the summary holds counts
and reasons only, never an identifying value.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["deid_command"]


def deid_command(
    input_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder to read."),
    output_dir: Path = typer.Argument(..., help="Folder for de-identified copies."),
    key_file: Path = typer.Option(
        Path("medcoop-site.key"), "--key-file", help="Site secret (created, mode 0600, if absent)."
    ),
    profile: str = typer.Option("dose-monitoring", "--profile", help="basic, dose-monitoring..."),
) -> None:
    """De-identify every DICOM file under INPUT_DIR into OUTPUT_DIR (PS3.15 Annex E)."""
    from pydicom import dcmread
    from pydicom.config import strict_reading
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from medcoop.deid import Deidentified, Deidentifier, load_or_create_key, load_profile

    console = Console()
    try:
        deidentifier = Deidentifier(load_or_create_key(key_file), load_profile(profile))
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    files = sorted(p for p in input_dir.rglob("*") if p.is_file())
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("de-identifying", total=len(files))
        for number, path in enumerate(files, start=1):
            progress.advance(task)
            label = f"file {number}"
            try:
                with strict_reading():  # a truncated file raises instead of a warning
                    ds = dcmread(path)
                problem = _incomplete(ds)
            except Exception as exc:  # any unreadable file is reported, never fatal
                problem = type(exc).__name__
            if problem is not None:
                outcomes["unreadable"] += 1
                console.print(f"[yellow]skipped[/yellow] {label}: {problem}")
                continue
            result = deidentifier.deidentify(ds)
            if isinstance(result, Deidentified):
                uid = str(result.dataset.get("SOPInstanceUID", "")) or f"object-{number}"
                target = output_dir / f"{uid}.dcm"
                output_dir.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result.payload)
                outcomes["de-identified"] += 1
            else:
                outcomes["withheld"] += 1
                reasons[result.reason.split(":")[0]] += 1
                console.print(f"[yellow]withheld[/yellow] {label}: {result.reason}")
    summary = Table(title=f"medcoop deid ({deidentifier.profile.name})")
    summary.add_column("outcome")
    summary.add_column("files", justify="right")
    for outcome in ("de-identified", "withheld", "unreadable"):
        summary.add_row(outcome, str(outcomes[outcome]))
    for reason, count in sorted(reasons.items()):
        summary.add_row(f"  withheld: {reason}", str(count))
    console.print(summary)


def _incomplete(ds: Dataset) -> str | None:
    # pydicom reads a truncated last value short without complaint: compare each raw
    # value's length with the length its header announced.
    tags = list(ds.keys())
    for tag in tags:
        raw = ds.get_item(tag)
        value = getattr(raw, "value", None)
        length = getattr(raw, "length", 0)
        if isinstance(value, bytes) and length != 0xFFFFFFFF and len(value) < length:
            return "truncated file"
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            return f"incomplete object (no {keyword})"
    return None
