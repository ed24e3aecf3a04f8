"""``medcoop deid INPUT_DIR OUTPUT_DIR``: de-identify a folder of DICOM files.

Each file is parsed once by the engine's reader (``medcoop.deid.elements.parse_part10``),
checked for completeness and handed to ``Deidentifier.deidentify_parsed`` (no pydicom
dataset is built for a well-formed file; other files take the slower checks and
``deidentify_bytes``), in worker processes across the
machine's cores when the folder is large enough to repay starting them; each worker reads
and writes its own files, so only outcomes cross between processes. De-identified copies go
to OUTPUT_DIR named by their remapped SOP Instance UID (input paths often carry patient
names, so they are not reused); withheld objects are not written, and each is reported with
its reason. Bad input (not DICOM, truncated, unreadable) is reported and skipped, never
fatal. Files are reported by their number in sorted order, and the summary holds counts and
reasons only, never an identifying value.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pydicom import Dataset
    from rich.console import Console

    from medcoop.deid import Deidentifier
    from medcoop.deid.elements import Part10

__all__ = ["Outcome", "deid_command", "deidentify_file"]

#: Files per task sent to a worker: large enough that a task's overhead is negligible.
_CHUNK = 32
#: Below this many files per worker, starting worker processes costs more than it saves.
_FILES_PER_WORKER = 150


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input file (never an identifying value)."""

    number: int
    #: "de-identified", "withheld" or "unreadable".
    kind: str
    #: Why it was withheld or skipped; empty when de-identified.
    reason: str = ""


#: SOP Class UID and SOP Instance UID: an object without them is incomplete.
_REQUIRED = (0x00080016, 0x00080018)


def _truncated(ds: Dataset) -> bool:
    # pydicom reads a truncated last value short without complaint: compare each raw
    # value's length with the length its header announced.
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        value = getattr(raw, "value", None)
        length = getattr(raw, "length", 0)
        if isinstance(value, bytes) and length != 0xFFFFFFFF and len(value) < length:
            return True
    return False


def _problem(data: bytes) -> str | None:
    """Why ``data`` is not a complete DICOM object, or ``None``.

    The Part 10 byte reader walks the top level without decoding and refuses a truncated
    element; files it does not take are read by pydicom, strictly, and checked likewise.
    """
    from medcoop.dicom.part10 import read_part10

    try:
        ds = read_part10(data)
        if ds is None:
            from io import BytesIO

            from pydicom import dcmread
            from pydicom.config import strict_reading

            with strict_reading():  # a truncated file raises instead of a warning
                ds = dcmread(BytesIO(data))
            if _truncated(ds):
                return "truncated file"
        for tag, keyword in ((0x00080016, "SOPClassUID"), (0x00080018, "SOPInstanceUID")):
            value = getattr(ds.get_item(tag), "value", None)
            if isinstance(value, bytes):
                value = value.strip(b"\0 ")
            if not value:
                return f"incomplete object (no {keyword})"
        return None
    except Exception as exc:  # any unreadable file is reported, never fatal
        return type(exc).__name__


def _parsed(data: bytes) -> Part10 | None:
    """The file parsed once for both the completeness check and the engine, if it is whole.

    ``None`` when the engine's reader does not take it or finds it incomplete: the slower
    checks of :func:`_problem` then say why (their reasons as before).
    """
    from medcoop.deid.elements import parse_part10

    try:
        parsed = parse_part10(data)
    except (ValueError, UnicodeError, zlib.error, struct.error):  # truncated, malformed
        return None
    if parsed is None:
        return None
    present = {e.tag: e.value for e in parsed.body if e.tag in _REQUIRED}
    if not all(present.get(tag, b"").strip(b"\0 ") for tag in _REQUIRED):
        return None
    return parsed


def deidentify_file(
    deidentifier: Deidentifier, number: int, path: Path, output_dir: Path
) -> Outcome:
    """De-identify one file into ``output_dir``; say what became of it."""
    from medcoop.deid import Deidentified

    try:
        data = path.read_bytes()
    except OSError as exc:
        return Outcome(number, "unreadable", type(exc).__name__)
    parsed = _parsed(data)
    if parsed is not None:
        result = deidentifier.deidentify_parsed(parsed)
    else:
        problem = _problem(data)
        if problem is not None:
            return Outcome(number, "unreadable", problem)
        result = deidentifier.deidentify_bytes(data)
    if not isinstance(result, Deidentified):
        return Outcome(number, "withheld", result.reason)
    uid = result.sop_instance_uid or f"object-{number}"
    (output_dir / f"{uid}.dcm").write_bytes(result.payload)
    return Outcome(number, "de-identified")


# --- worker processes: one Deidentifier each, built once -----------------------------------
_WORKER: Deidentifier | None = None


def _start_worker(key_file: Path, profile: str) -> None:
    from medcoop.deid import Deidentifier, load_or_create_key, load_profile

    global _WORKER
    _WORKER = Deidentifier(load_or_create_key(key_file), load_profile(profile))


def _work(chunk: list[tuple[int, Path]], output_dir: Path) -> list[Outcome]:
    assert _WORKER is not None, "worker not started"
    return [deidentify_file(_WORKER, number, path, output_dir) for number, path in chunk]


def _workers(files: int, requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, files // _FILES_PER_WORKER))


def _outcomes(
    deidentifier: Deidentifier,
    files: list[Path],
    output_dir: Path,
    *,
    workers: int,
    key_file: Path,
    profile: str,
) -> Iterator[list[Outcome]]:
    """Outcomes in batches, as they are done (in order of completion)."""
    numbered = list(enumerate(files, start=1))
    if workers == 1:
        for number, path in numbered:
            yield [deidentify_file(deidentifier, number, path, output_dir)]
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork: workers inherit the imported engine instead of importing it again
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunks = [numbered[i : i + _CHUNK] for i in range(0, len(numbered), _CHUNK)]
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(key_file, profile)
    ) as pool:
        futures = [pool.submit(_work, chunk, output_dir) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()


def deid_command(
    input_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder to read."),
    output_dir: Path = typer.Argument(..., help="Folder for de-identified copies."),
    key_file: Path = typer.Option(
        Path("medcoop-site.key"), "--key-file", help="Site secret (created, mode 0600, if absent)."
    ),
    profile: str = typer.Option("dose-monitoring", "--profile", help="basic, dose-monitoring..."),
    workers: int = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: one per core, for big folders)."
    ),
) -> None:
    """De-identify every DICOM file under INPUT_DIR into OUTPUT_DIR (PS3.15 Annex E)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from medcoop.deid import Deidentifier, load_or_create_key, load_profile

    console = Console()
    try:
        deidentifier = Deidentifier(load_or_create_key(key_file), load_profile(profile))
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    files = sorted(p for p in input_dir.rglob("*") if p.is_file())
    output_dir.mkdir(parents=True, exist_ok=True)
    count = _workers(len(files), workers)
    found: list[Outcome] = []
    batches = _outcomes(
        deidentifier, files, output_dir, workers=count, key_file=key_file, profile=profile
    )
    progress = Progress(
        TextColumn("de-identifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("de-identifying", total=len(files))
        for batch in batches:
            found.extend(batch)
            progress.advance(task, len(batch))
    _report(found, deidentifier.profile.name, count, console)


def _report(found: list[Outcome], profile: str, workers: int, console: Console) -> None:
    """Withheld and skipped files by number, with their reasons; then the counts."""
    from rich.table import Table

    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for outcome in sorted(found, key=lambda o: o.number):
        outcomes[outcome.kind] += 1
        if outcome.kind == "withheld":
            reasons[outcome.reason.split(":")[0]] += 1
            console.print(f"[yellow]withheld[/yellow] file {outcome.number}: {outcome.reason}")
        elif outcome.kind == "unreadable":
            console.print(f"[yellow]skipped[/yellow] file {outcome.number}: {outcome.reason}")
    plural = "es" if workers > 1 else ""
    summary = Table(title=f"medcoop deid ({profile}, {workers} process{plural})")
    summary.add_column("outcome")
    summary.add_column("files", justify="right")
    for kind in ("de-identified", "withheld", "unreadable"):
        summary.add_row(kind, str(outcomes[kind]))
    for reason, count in sorted(reasons.items()):
        summary.add_row(f"  withheld: {reason}", str(count))
    console.print(summary)
