"""Writing simulated studies as DICOM Part 10 files, as a modality would export them.

Large fleets can be written by several processes: planning a study is cheap and
deterministic, so every worker plans the whole stream and renders only its share (study
index modulo the number of workers). The files are the same whatever the worker count.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmwrite

from medcoop.sim.encode import UnsupportedElementError, encode_part10

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    from medcoop.sim.fleet import Fleet, SimStudy

__all__ = ["study_dir", "write_fleet", "write_study"]

_POLL_S = 0.2
_counter: Synchronized[int] | None = None


def study_dir(root: Path, index: int) -> Path:
    """Return the folder of study number ``index`` under ``root``."""
    return root / f"study-{index:06d}"


def write_study(root: Path, study: SimStudy) -> list[Path]:
    """Write ``study``'s composite objects under ``root``; return the file paths.

    Each file has the 128-byte preamble, ``DICM`` and File Meta Information, and is encoded
    Explicit VR Little Endian (by :func:`~medcoop.sim.encode.encode_part10`, byte-identical
    to pydicom's ``dcmwrite``). Names carry no identifiers (``NN-<modality>.dcm``).
    """
    folder = study_dir(root, study.truth.index)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, ds in enumerate(study.datasets, start=1):
        path = folder / f"{number:02d}-{ds.Modality}.dcm"
        try:
            path.write_bytes(encode_part10(ds))
        except UnsupportedElementError:  # e.g. a dataset changed by the caller
            dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_fleet(
    fleet: Fleet,
    root: Path,
    n: int,
    *,
    workers: int = 1,
    on_study: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write the first ``n`` studies of ``fleet`` under ``root``; return paths in study order.

    Parameters
    ----------
    fleet : Fleet
        The fleet to draw studies from.
    root : Path
        Output folder (created if needed).
    n : int
        Number of studies.
    workers : int
        Processes to render and write with (1: this process only).
    on_study : callable, optional
        Called with the number of studies finished since the last call (for progress bars).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    root.mkdir(parents=True, exist_ok=True)
    if workers == 1:
        paths: list[Path] = []
        for study in fleet.studies(n):
            paths += write_study(root, study)
            if on_study:
                on_study(1)
        return paths
    # the parent plans the stream too, so fleet.identifying_values() covers every study
    for _ in fleet.studies(n):
        pass
    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(counter,)
    ) as pool:
        futures = [pool.submit(_write_share, fleet, root, n, workers, k) for k in range(workers)]
        reported = 0
        while not all(f.done() for f in futures):
            time.sleep(_POLL_S)
            reported = _report(counter, reported, on_study)
        _report(counter, reported, on_study)
        shares = [f.result() for f in futures]
    by_index = sorted((index, p) for share in shares for index, p in share)
    return [Path(path) for _, paths_of_study in by_index for path in paths_of_study]


def _report(
    counter: Synchronized[int], reported: int, on_study: Callable[[int], None] | None
) -> int:
    done = counter.value
    if on_study and done > reported:
        on_study(done - reported)
    return done


def _init_worker(counter: Synchronized[int]) -> None:
    global _counter
    _counter = counter


def _write_share(
    fleet: Fleet, root: Path, n: int, workers: int, share: int
) -> list[tuple[int, list[str]]]:
    written = []
    for study in fleet.studies(n):
        if study.truth.index % workers != share:
            continue
        written.append((study.truth.index, [str(p) for p in write_study(root, study)]))
        if _counter is not None:
            with _counter.get_lock():
                _counter.value += 1
    return written
