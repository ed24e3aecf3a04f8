"""Folder import: back-load years of archived DICOM files through the same pipeline."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from medcoop.edge.pipeline import Pipeline

__all__ = ["import_path", "iter_files"]


def iter_files(root: Path) -> Iterator[Path]:
    """Yield every regular file under ``root`` (or ``root`` itself), in a stable order."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def import_path(
    pipeline: Pipeline, root: Path, *, on_file: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Process every file under ``root``; return how many ended in each outcome.

    Files that are not DICOM are quarantined like any malformed object (nothing is
    silently dropped). Import stops at the first refusal (storage full), so that the
    operator can free space and run it again: files already imported are idempotent.
    """
    files = list(iter_files(root))
    outcomes: Counter[str] = Counter()
    for index, path in enumerate(files, start=1):
        outcome = pipeline.process_file(path, "import")
        outcomes[outcome.status] += 1
        if on_file is not None:
            on_file(index, len(files))
        if not outcome.accepted:
            break
    return dict(outcomes)
