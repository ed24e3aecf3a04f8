"""Benchmark ``medcoop deid`` as a user runs it: a whole process over a folder, beside peers.

The folder holds 1,200 distinct files: copies of pydicom's CT_small, MR_small, test-SR and
reportsi test files, each copy with its own Study, Series and SOP Instance UIDs (so no tool
can skip a file as already seen; the patients are those of the four files). Each tool runs
as its own process, start-up and imports included, reading the folder and writing copies:

- ``medcoop deid IN OUT`` (worker processes across the cores, the default), and again with
  ``--workers 1`` (one core);
- dicognito 0.19: ``python -m dicognito IN --output-directory OUT``;
- deid 0.4: ``deid --outfolder OUT identifiers --action all --input IN`` (default recipe).

    python bench/deid_cli.py                        # 1,200 files, best of 3
    python bench/deid_cli.py --files 400 --repeats 1

Repeats take the tools in turn, so that a burst of load on a shared machine falls on every
tool alike; the best run (wall clock) of each counts. Prints a Markdown table: wall-clock
seconds, files/s, CPU seconds of all the tool's processes, files written, and ratios to
dicognito (wall clock: what a user waits; CPU: what the machine spends).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

SOURCES = ("CT_small.dcm", "MR_small.dcm", "test-SR.dcm", "reportsi.dcm")
BIN = Path(sys.executable).parent


def write_files(folder: Path, count: int) -> list[Path]:
    """Write ``count`` distinct copies of the pydicom test files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    originals = [dcmread(str(get_testdata_file(name))) for name in SOURCES]
    paths = []
    for i in range(count):
        ds = originals[i % len(originals)].copy()
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = folder / f"{i:05d}-{SOURCES[i % len(SOURCES)]}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def commands(source: Path, out: Path, key: Path) -> dict[str, list[str]]:
    """The command line of each tool."""
    medcoop = [str(BIN / "medcoop"), "deid", str(source), str(out), "--key-file", str(key)]
    return {
        "medcoop deid (all cores)": medcoop,
        "medcoop deid --workers 1": [*medcoop, "--workers", "1"],
        "dicognito 0.19": [
            sys.executable,
            "-m",
            "dicognito",
            str(source),
            "--output-directory",
            str(out),
            "--quiet",
        ],
        "deid 0.4 (default recipe)": [
            str(BIN / "deid"),
            "--quiet",
            "--outfolder",
            str(out),
            "--overwrite",
            "identifiers",
            "--action",
            "all",
            "--input",
            str(source),
        ],
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    files: int, repeats: int, work: Path, skip: frozenset[str] = frozenset()
) -> dict[str, tuple[float, float, int]]:
    """Best wall-clock seconds, CPU seconds (all its processes) and files written per tool."""
    source = work / "in"
    write_files(source, files)
    out = work / "out"
    tools = {
        name: argv
        for name, argv in commands(source, out, work / "site.key").items()
        if name.split()[0] not in skip
    }
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(repeats):
        for name, argv in tools.items():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            started, cpu = time.perf_counter(), _children_cpu_s()
            done = subprocess.run(argv, capture_output=True, check=False)
            seconds = time.perf_counter() - started
            cpu_s = _children_cpu_s() - cpu
            if done.returncode != 0:
                tail = done.stderr.decode(errors="replace")[-2000:]
                raise SystemExit(f"{name} failed ({done.returncode}):\n{tail}")
            written = sum(1 for p in out.rglob("*") if p.is_file())
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, cpu_s, written)
    return best


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["deid"],
        help="leave a tool out (deid 0.4 takes minutes at 1,200 files)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        best = run(args.files, args.repeats, Path(tmp), frozenset(args.skip))
    peer = best["dicognito 0.19"][0]
    print(f"{args.files} files, whole processes, best of {args.repeats}\n")
    peer_cpu = best["dicognito 0.19"][1]
    print("| tool | wall s | files/s | × dicognito | CPU s | × dicognito (CPU) | written |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (seconds, cpu_s, written) in best.items():
        print(
            f"| {name} | {seconds:.2f} | {args.files / seconds:.0f} | {peer / seconds:.2f} "
            f"| {cpu_s:.2f} | {peer_cpu / cpu_s:.2f} | {written} |"
        )


if __name__ == "__main__":
    main()
