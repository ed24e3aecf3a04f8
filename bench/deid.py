"""Benchmark de-identification: speed (files/s per core) and leaks, medcoop beside its peers.

Peers, run in the same process on the same files: dicognito 0.19 (``Anonymizer``),
deid 0.4 (pydicom/deid ``replace_identifiers`` with its default recipe) and pydicom's own
read + write (the floor: no de-identification at all). medcoop runs twice: on the dataset
``dcmread`` gives (``deidentify``, as every peer reads), and on the file's bytes
(``deidentify_bytes``, which never builds a pydicom dataset).

    python bench/deid.py                    # both parts, 50 patients (450 files)
    python bench/deid.py --patients 100 --repeats 5
    python bench/deid.py --part leaks
    python bench/deid.py --part speed --corpus /tmp/adv   # the same files for another run

Speed runs on the files medcoop releases or could (CT, RDSR, the free-text CT and a
burned-in DX that a pixel rule cleans); objects with rendered text (secondary captures,
screen saves, ultrasound, VL, PDF) are left out of the speed run because medcoop withholds
them after a few attribute reads, which would flatter it. Each tool
reads every file from disk and writes its output to disk; the best of ``--repeats`` runs
counts, and repeats take the tools in turn. Every run starts from empty caches: Python's
compiled expressions for all tools, and medcoop's per-patient scanners (otherwise a
repeat would find every patient already known).
Leaks run on the whole adversarial corpus (``tests/common/adversarial.py``, test code, not
the package's).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from medcoop.deid import Deidentified, Deidentifier, PixelRule, SiteKey, Withheld, load_profile
from medcoop.deid.residuals import clear_caches

# This file is bench/deid.py: drop its folder from the path so "import deid" finds the
# pydicom/deid package, not this script; the repository root gives the tests' corpus.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from tests.common.adversarial import adversarial_corpus, find_leaks, write_corpus  # noqa: E402

Tool = Callable[[list[Path], Path], None]
#: The timer: wall clock by default; ``--clock cpu`` takes this process's CPU time, which
#: load from other processes on a shared machine does not inflate.
CLOCK: list[Callable[[], float]] = [time.perf_counter]
RULE = PixelRule("ACME Medical", "Mobile DR 7", 8, 8, ((0, 0, 8, 2),))


def _run_medcoop(
    files: list[Path], out: Path, read: Callable[[Deidentifier, Path], Deidentified | Withheld]
) -> None:
    deid = Deidentifier(
        SiteKey(b"\x07" * 32), load_profile("dose-monitoring", {"pixel_rules": [RULE]})
    )
    for path in files:
        result = read(deid, path)
        if isinstance(result, Deidentified):
            (out / path.name).write_bytes(result.payload)


def run_medcoop(files: list[Path], out: Path) -> None:
    _run_medcoop(files, out, lambda deid, path: deid.deidentify(dcmread(path)))


def run_medcoop_bytes(files: list[Path], out: Path) -> None:
    _run_medcoop(files, out, lambda deid, path: deid.deidentify_bytes(path.read_bytes()))


def run_dicognito(files: list[Path], out: Path) -> None:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()
    for path in files:
        ds = dcmread(path)
        anonymizer.anonymize(ds)
        ds.save_as(out / path.name)


def run_deid(files: list[Path], out: Path) -> None:
    from deid.dicom import replace_identifiers

    replace_identifiers(
        dicom_files=[str(p) for p in files], save=True, output_folder=str(out), overwrite=True
    )


def run_floor(files: list[Path], out: Path) -> None:
    for path in files:
        dcmread(path).save_as(out / path.name)


TOOLS: dict[str, Tool] = {
    "pydicom read+write (floor)": run_floor,
    "medcoop": run_medcoop,
    "medcoop, file bytes": run_medcoop_bytes,
    "dicognito 0.19": run_dicognito,
    "deid 0.4 (default recipe)": run_deid,
}


_TIMED_KINDS = frozenset({"ct", "rdsr", "dx", "text"})


def speed(files: list[Path], repeats: int, work: Path) -> dict[str, float]:
    """Return files/s (one process, one core) per tool, best of ``repeats``.

    Repeats go round the tools in turn, so that a burst of load on a shared machine falls
    on every tool alike rather than on whichever ran then.
    """
    best = dict.fromkeys(TOOLS, float("inf"))
    for _ in range(repeats):
        for name, tool in TOOLS.items():
            out = work / "speed-out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            re.purge()
            clear_caches()
            started = CLOCK[0]()
            tool(files, out)
            best[name] = min(best[name], CLOCK[0]() - started)
    return {name: len(files) / seconds for name, seconds in best.items()}


def leaks(corpus_dir: Path, patients: int, work: Path) -> dict[str, tuple[int, int, int, int]]:
    """Return per tool: (released, with a leak, leaked identifiers, needlessly withheld).

    Needlessly withheld: an object without rendered identity (everything but secondary
    captures, screen saves, ultrasound, VL photographs and documents) that did not come out.
    """
    cases = {f"{c.name}.dcm": c for c in adversarial_corpus(patients=patients)}
    files = sorted(corpus_dir.glob("*.dcm"))
    results: dict[str, tuple[int, int, int, int]] = {}
    usable = {name for name, case in cases.items() if not case.expect_withheld}
    for name, tool in TOOLS.items():
        if name.startswith("pydicom"):
            continue
        out = work / f"leaks-{len(results)}"
        out.mkdir()
        tool(files, out)
        released = leaky = leaked = 0
        names = {path.name for path in out.glob("*.dcm")}
        for path in sorted(out.glob("*.dcm")):
            ds = dcmread(path)
            pixels = ds.get("PixelData", b"") or b""
            payload = path.read_bytes()
            if len(pixels) > 16:
                payload = payload.replace(pixels, b"")
            found = find_leaks(payload, cases[path.name].patient.tokens)
            released += 1
            leaky += bool(found)
            leaked += len(found)
        results[name] = (released, leaky, leaked, len(usable - names))
    return results


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--part", choices=["speed", "leaks", "both"], default="both")
    parser.add_argument(
        "--corpus", type=Path, help="use this corpus folder (written there if empty)"
    )
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = args.corpus or work / "corpus"
        paths = sorted(corpus.glob("*.dcm")) if corpus.is_dir() else []
        if not paths:
            paths = write_corpus(corpus, patients=args.patients)
        if args.part in ("speed", "both"):
            # The objects that come out (and the burned-in DX a pixel rule would clean).
            files = [p for p in paths if p.stem.rsplit("-", 1)[1] in _TIMED_KINDS]
            rates = speed(files, args.repeats, work)
            floor = rates["pydicom read+write (floor)"]
            ours = rates["medcoop"]
            print(f"\nSpeed: {len(files)} files, best of {args.repeats}, one process\n")
            print("| tool | files/s per core | vs floor | medcoop ÷ tool |")
            print("| --- | ---: | ---: | ---: |")
            for name, rate in rates.items():
                print(f"| {name} | {rate:,.0f} | {rate / floor:.2f} | {ours / rate:.2f} |")
        if args.part in ("leaks", "both"):
            total = len(paths)
            print(f"\nLeaks: {total} adversarial objects, {args.patients} patients\n")
            print(
                "| tool | objects released | objects leaking | identifiers leaked "
                "| needlessly withheld |"
            )
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, counts in leaks(corpus, args.patients, work).items():
                released, leaky, leaked, needless = counts
                print(f"| {name} | {released} | {leaky} | {leaked} | {needless} |")


if __name__ == "__main__":
    main()
