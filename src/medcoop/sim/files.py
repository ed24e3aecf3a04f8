"""Writing simulated studies as DICOM Part 10 files, as a modality would export them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmwrite

if TYPE_CHECKING:
    from medcoop.sim.fleet import SimStudy

__all__ = ["study_dir", "write_study"]


def study_dir(root: Path, index: int) -> Path:
    """Return the folder of study number ``index`` under ``root``."""
    return root / f"study-{index:06d}"


def write_study(root: Path, study: SimStudy) -> list[Path]:
    """Write ``study``'s composite objects under ``root``; return the file paths.

    Each file has the 128-byte preamble, ``DICM`` and File Meta Information, and is encoded
    Explicit VR Little Endian. Names carry no identifiers (``NN-<modality>.dcm``).
    """
    folder = study_dir(root, study.truth.index)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, ds in enumerate(study.datasets, start=1):
        path = folder / f"{number:02d}-{ds.Modality}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
