"""Folder import: back-load years of archived DICOM files through the same pipeline.

Files are read and processed by a few worker threads, so their commits share the
receivers' group commit (one fsync for the objects that finish together) instead of one
fsync per file. Import stops at the first refusal (storage full), so that the operator can
free space and run it again: files already imported are idempotent, and files that fail
again update their quarantine entry instead of adding one.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from medcoop.edge.pipeline import Outcome, Pipeline

__all__ = ["ImportSummary", "count_files", "import_path", "iter_files"]

#: Worker threads: enough to fill a group commit while one thread waits on fsync.
DEFAULT_WORKERS = 4


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


def count_files(root: Path) -> int:
    """How many files :func:`iter_files` yields (for a progress bar's total)."""
    return sum(1 for _ in iter_files(root))


@dataclass(slots=True)
class ImportSummary:
    """What an import did: outcomes, quarantine reasons, and how fast."""

    outcomes: Counter[str] = field(default_factory=Counter)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    files: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def objects_per_s(self) -> float:
        """Files processed per second of wall time."""
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def add(self, outcome: Outcome) -> None:
        """Count one file's outcome."""
        self.files += 1
        self.outcomes[outcome.status.value] += 1
        if outcome.code is not None and outcome.status.value == "quarantined":
            self.quarantine_reasons[outcome.code.value] += 1


def import_path(
    pipeline: Pipeline,
    root: Path,
    *,
    on_file: Callable[[int, int], None] | None = None,
    workers: int = DEFAULT_WORKERS,
    total: int | None = None,
) -> ImportSummary:
    """Process every file under ``root``; return what became of them.

    Files that are not DICOM are quarantined like any malformed object (nothing is
    silently dropped). ``on_file(done, total)`` is called after each file.
    """
    total = count_files(root) if total is None else total
    summary = ImportSummary()
    stop = threading.Event()
    started = time.perf_counter()

    def one(path: Path) -> Outcome | None:
        if stop.is_set():
            return None
        outcome = pipeline.process_file(path, "import")
        if not outcome.accepted:
            stop.set()
        return outcome

    window = max(1, workers) * 4
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="import") as pool:
        running: set[Future[Outcome | None]] = set()
        for path in iter_files(root):
            if stop.is_set():
                break
            running.add(pool.submit(one, path))
            if len(running) >= window:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                _collect(done, summary, on_file, total)
        done, _ = wait(running)
        _collect(done, summary, on_file, total)
    summary.seconds = time.perf_counter() - started
    summary.stopped_early = stop.is_set()
    return summary


def _collect(
    done: set[Future[Outcome | None]],
    summary: ImportSummary,
    on_file: Callable[[int, int], None] | None,
    total: int,
) -> None:
    for future in done:
        outcome = future.result()
        if outcome is None:
            continue
        summary.add(outcome)
        if on_file is not None:
            on_file(summary.files, total)
