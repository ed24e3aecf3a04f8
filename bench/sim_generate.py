"""Synthetic fleet generation speed: planning, building datasets, writing Part 10 files.

Measured side by side in one run, on the same studies (same seed):

- plan: drawing studies (identity, timing, UIDs, events, truth) without DICOM objects;
- build: plan + every composite object and both MPPS datasets, with the fleet's builder;
- build (pydicom constructors): the same objects made with pydicom's own ``Dataset()``,
  ``DataElement()`` and ``Sequence()`` (the peer: what a straightforward builder costs);
- write: plan + build + the fleet's encoder (byte-identical to ``dcmwrite``) to files, with
  1 and with 2 worker processes;
- write (pydicom dcmwrite): the same files written by pydicom's writer (the peer);
- read: ``dcmread`` of every written file (pydicom's parse, the floor any consumer pays).

Each phase runs ``--repeat`` times and the best is kept. Single-process rates are per CPU
second of this process (the machine is shared, so wall time would measure the neighbours);
the 2-worker rate is per wall second.

Usage::

    python bench/sim_generate.py --studies 2000
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread, dcmwrite

from medcoop.sim import Fleet, _build


def _timed(work: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """Return (count, best wall s, best CPU s) over ``repeat`` runs of ``work``."""
    best_wall = best_cpu = float("inf")
    count = 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        count = work()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return count, best_wall, best_cpu


def _write_with_pydicom(seed: int, n: int, root: Path) -> int:
    files = 0
    for study in Fleet(seed=seed).studies(n):
        folder = root / f"study-{study.truth.index:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        for number, ds in enumerate(study.datasets, start=1):
            dcmwrite(folder / f"{number:02d}-{ds.Modality}.dcm", ds, enforce_file_format=True)
            files += 1
    return files


def _plan(seed: int, n: int) -> int:
    return sum(1 for _ in Fleet(seed=seed).studies(n))


def _build_all(seed: int, n: int) -> int:
    objects = 0
    for study in Fleet(seed=seed).studies(n):
        objects += len(study.datasets) + 2
        assert study.mpps_create is not None and study.mpps_set is not None
    return objects


def _build_plain(seed: int, n: int) -> int:
    fast = _build._FAST
    _build._FAST = False
    try:
        return _build_all(seed, n)
    finally:
        _build._FAST = fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args()
    n, seed, repeat = args.studies, args.seed, args.repeat
    rows: dict[str, dict[str, float]] = {}

    _, wall, cpu = _timed(lambda: _plan(seed, n), repeat)
    rows["plan"] = {"studies_per_s": n / cpu, "cpu_s": cpu}
    objects, wall, cpu = _timed(lambda: _build_all(seed, n), repeat)
    rows["build"] = {"studies_per_s": n / cpu, "objects_per_s": objects / cpu, "cpu_s": cpu}
    objects, wall, cpu = _timed(lambda: _build_plain(seed, n), repeat)
    rows["build (pydicom constructors)"] = {
        "studies_per_s": n / cpu,
        "objects_per_s": objects / cpu,
        "cpu_s": cpu,
    }
    scratch = Path(tempfile.mkdtemp(prefix="medcoop-sim-bench-"))
    try:
        paths: list[Path] = []
        for workers in (1, 2):
            target = scratch / f"w{workers}"

            def write(target: Path = target, workers: int = workers, out: list = paths) -> int:
                out[:] = Fleet(seed=seed).write(target, n=n, workers=workers)
                return len(out)

            files, wall, cpu = _timed(write, repeat)
            seconds = cpu if workers == 1 else wall
            rows[f"write, {workers} worker{'s' if workers > 1 else ''}"] = {
                "studies_per_s": n / seconds,
                "files_per_s": files / seconds,
                "cpu_s": cpu,
                "wall_s": wall,
            }
        files, wall, cpu = _timed(lambda: _write_with_pydicom(seed, n, scratch / "pd"), repeat)
        rows["write (pydicom dcmwrite)"] = {
            "studies_per_s": n / cpu,
            "files_per_s": files / cpu,
            "cpu_s": cpu,
        }
        files, wall, cpu = _timed(lambda: sum(1 for p in paths if dcmread(p)), repeat)
        rows["read (pydicom dcmread)"] = {"files_per_s": files / cpu, "cpu_s": cpu}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    build = rows["build"]["studies_per_s"]
    plain = rows["build (pydicom constructors)"]["studies_per_s"]
    print(f"{n} studies, seed {seed}")
    print("| phase | studies/s | objects or files/s | best CPU s |")
    print("| --- | ---: | ---: | ---: |")
    for name, row in rows.items():
        studies = f"{row['studies_per_s']:,.0f}" if "studies_per_s" in row else "—"
        per_s = row.get("objects_per_s", row.get("files_per_s"))
        per_s_text = f"{per_s:,.0f}" if per_s is not None else "—"
        print(f"| {name} | {studies} | {per_s_text} | {row['cpu_s']:.1f} |")
    written = rows["write, 1 worker"]["studies_per_s"]
    peer = rows["write (pydicom dcmwrite)"]["studies_per_s"]
    print(f"builder vs pydicom constructors: {build / plain:.2f}×")
    print(f"writing, fleet encoder vs pydicom dcmwrite: {written / peer:.2f}×")
    if args.out:
        args.out.write_text(json.dumps({"studies": n, "seed": seed, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
