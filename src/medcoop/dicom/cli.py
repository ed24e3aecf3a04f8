"""``medcoop extract``: dose and usage facts of DICOM files, as JSON lines or a table.

Files that are not DICOM, or hold no dose facts, are reported as skipped, never a crash.
The output carries dose facts only: no patient name, ID, birth date or accession number.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

__all__ = ["extract_command", "extraction_to_json", "iter_files", "read_and_extract"]

#: Above this many files the progress bar is shown (on stderr).
_PROGRESS_MIN_FILES = 20


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Yield the files named by ``paths``, walking folders recursively in sorted order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def read_and_extract(path: Path) -> Any:
    """Read one file (leniently) and return its :class:`Extraction` or :class:`Skipped`."""
    from medcoop.dicom import Skipped, extract_dataset
    from medcoop.dicom.part10 import read_dataset

    try:
        ds = read_dataset(path.read_bytes(), stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types on junk; none may stop the run
        return Skipped(f"not a readable DICOM file ({type(exc).__name__})", None)
    if len(ds._dict) == 0:
        return Skipped("not a DICOM file (no elements)", None)
    return extract_dataset(ds)


def extraction_to_json(source: str, result: Any) -> dict[str, Any]:
    """Return the JSON object printed for one input: dose facts, no patient identity."""
    from medcoop.dicom import Skipped

    if isinstance(result, Skipped):
        return {"source": source, "skipped": result.reason}
    return {
        "source": source,
        "sop_instance_uid": result.sop_instance_uid,
        "study_instance_uid": result.study_instance_uid,
        "series_instance_uid": result.series_instance_uid,
        "modality": result.modality,
        "kind": result.source.value,
        "study_at": result.study_at.isoformat() if result.study_at else None,
        "manufacturer": result.device.manufacturer,
        "model": result.device.model,
        "station_name": result.device.station_name,
        "totals": result.totals.model_dump(mode="json", exclude_none=True),
        "events": [e.model_dump(mode="json", exclude_none=True) for e in result.events],
        "image_count": result.image_count,
        "acquisition_times": [t.isoformat() for t in result.acquisition_times],
        "notes": list(result.notes),
    }


def _table_row(source: str, result: Any) -> tuple[str, ...]:
    from medcoop.dicom import Skipped

    if isinstance(result, Skipped):
        return (source, "-", "-", "-", "-", f"skipped: {result.reason}")
    t = result.totals
    dose = []
    if t.total_dlp_mgycm is not None:
        dose.append(f"DLP {t.total_dlp_mgycm:.1f} mGy·cm")
    if t.total_dap_gycm2 is not None:
        dose.append(f"DAP {t.total_dap_gycm2:.4g} Gy·cm²")
    if t.total_fluoro_time_s is not None:
        dose.append(f"fluoro {t.total_fluoro_time_s:.1f} s")
    for side, value in (("L", t.total_agd_left_mgy), ("R", t.total_agd_right_mgy)):
        if value is not None:
            dose.append(f"AGD {side} {value:.2f} mGy")
    if t.total_administered_activity_mbq is not None:
        dose.append(f"{t.total_administered_activity_mbq:.1f} MBq")
    return (
        source,
        result.modality,
        result.source.value,
        str(len(result.events)),
        ", ".join(dose) or "-",
        "",
    )


def extract_command(
    paths: list[Path] = typer.Argument(..., help="DICOM files or folders (searched recursively)."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per input object on stdout (JSON lines)."
    ),
) -> None:
    """Extract radiation dose and usage facts from RDSRs, image headers and vendor summaries."""
    from pydicom import config
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    # pydicom's validation warnings quote element values, which may identify a patient
    config.settings.reading_validation_mode = config.IGNORE

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        typer.echo(f"no such file or folder: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    files = list(iter_files(paths))
    err = Console(stderr=True)
    table = Table("file", "modality", "from", "events", "dose", "note")
    out = sys.stdout
    with Progress(console=err, transient=True, disable=len(files) < _PROGRESS_MIN_FILES) as bar:
        task = bar.add_task("extracting", total=len(files))
        for path in files:
            result = read_and_extract(path)
            if as_json:
                out.write(json.dumps(extraction_to_json(str(path), result)) + "\n")
            else:
                table.add_row(*_table_row(path.name, result))
            bar.advance(task)
    if not as_json:
        Console().print(table)
