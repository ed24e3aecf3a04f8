"""RDSR dose extraction speed, per core, beside pydicom's own parse of the same bytes.

For each RDSR the file bytes are held in memory (so disk speed is out of it) and timed two
ways in the same process, interleaved:

- floor: ``pydicom.dcmread(BytesIO(data))`` and nothing else;
- medcoop: ``dcmread`` + :func:`medcoop.dicom.extract_dataset` (the whole SR walk, units,
  validation of every event).

(a) the synthetic fleet's RDSRs (``medcoop.sim.Fleet``, X-ray and radiopharmaceutical
RDSRs of every vendor style it knows), and (b) every file of the OpenREM corpus, with the
per-file ratio. Run it pinned to one core::

    taskset -c 0 python bench/extract.py --studies 400 --corpus ../shared/corpus/openrem
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pydicom
from pydicom import config

from medcoop.dicom import Extraction, extract_dataset

_RDSR_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.67", "1.2.840.10008.5.1.4.1.1.88.68")


def _floor(data: bytes) -> object:
    return pydicom.dcmread(io.BytesIO(data), force=True)


def _ours(data: bytes) -> object:
    result = extract_dataset(pydicom.dcmread(io.BytesIO(data), force=True))
    assert isinstance(result, Extraction) or result.reason
    return result


def _rate(fn: Callable[[bytes], object], blobs: list[bytes], min_time_s: float) -> float:
    """Return objects per second: best of several passes of at least ``min_time_s``."""
    best = float("inf")
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while True:
            for blob in blobs:
                fn(blob)
            count += len(blobs)
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / count)
    return 1.0 / best


def _fleet_rdsrs(studies: int, seed: int) -> list[bytes]:
    from medcoop.sim import Fleet

    fleet = Fleet(seed=seed, sites=("St Elsewhere", "County General"), start=date(2026, 1, 5))
    with tempfile.TemporaryDirectory() as tmp:
        paths = fleet.write(Path(tmp), n=studies)
        blobs = []
        for path in paths:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            if ds.get("SOPClassUID") in _RDSR_CLASSES:
                blobs.append(Path(path).read_bytes())
    return blobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=400, help="synthetic studies to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=None, help="OpenREM corpus folder")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timing pass")
    args = parser.parse_args()
    config.settings.reading_validation_mode = config.IGNORE
    warnings.simplefilter("ignore")

    blobs = _fleet_rdsrs(args.studies, args.seed)
    floor, ours = _rate(_floor, blobs, args.min_time * 4), _rate(_ours, blobs, args.min_time * 4)
    print(f"## synthetic fleet: {len(blobs)} RDSRs from {args.studies} studies")
    print("| | RDSRs/s per core | µs per RDSR |\n| --- | --- | --- |")
    print(f"| pydicom dcmread (floor) | {floor:,.0f} | {1e6 / floor:,.0f} |")
    print(f"| dcmread + extract_dataset | {ours:,.0f} | {1e6 / ours:,.0f} |")
    print(f"| ratio (ours / floor time) | {floor / ours:.2f}× | |\n")

    if args.corpus is None:
        return
    print("## OpenREM corpus, per file")
    print("| file | KB | floor µs | medcoop µs | ratio |\n| --- | --- | --- | --- | --- |")
    ratios = []
    for path in sorted(args.corpus.glob("*.dcm")):
        data = path.read_bytes()
        f = _rate(_floor, [data], args.min_time)
        o = _rate(_ours, [data], args.min_time)
        ratios.append(f / o)
        cells = [path.name, str(len(data) // 1024), f"{1e6 / f:,.0f}", f"{1e6 / o:,.0f}"]
        print("| " + " | ".join(cells) + f" | {f / o:.2f}× |")
    print(f"\nmedian ratio {statistics.median(ratios):.2f}×, worst {max(ratios):.2f}×")


if __name__ == "__main__":
    main()
