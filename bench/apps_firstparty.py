"""Benchmark: the first-party apps' cost per study, in process (no runner, no sandbox).

    python bench/apps_firstparty.py --studies 20 --slices 10

* **D_w per slice**: :func:`medcoop.apps.firstparty.ct_size.slice_size` on 512 × 512
  axial images of an elliptical water phantom (HU from rescale, threshold, largest region,
  holes filled, A_w sum).
* **CT size app per study**: the SDK entry point on a study of ``--slices`` slices:
  D_w of every slice, SSDE, and the TID 1500 SR built and validated with highdicom.
* **Exposure QA app per study**: two DX images, EI/DI, classes, repeats and the SR.
* **ONNX host per image**: preprocessing (window, bilinear resize to 224 × 224,
  normalisation) and onnxruntime CPU inference of a tiny model built in memory, the
  session loaded once (as the host caches it).

The runner's own overhead (process start, sandbox) is ``bench/apps.py``'s (runtime).
Figures are wall clock on a shared machine: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medcoop.apps.firstparty import apps, ct_size
from medcoop.apps.sdk import AppContext, EdgeStudy
from medcoop.sim.phantoms import axial_ct, dx_image, ellipse_hu
from medcoop.sim.tiny_model import mean_intensity_model


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm up: imports, caches
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def _line(name: str, times: list[float], unit: str) -> None:
    median = statistics.median(times)
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    print(f"{name:<34} median {median * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  "
          f"({1 / median:7.1f} {unit}/s, n={len(times)})")


def _study(datasets: list) -> EdgeStudy:  # type: ignore[type-arg]
    uid, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    for ds in datasets:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = uid, series
    return EdgeStudy(str(uid), datasets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20, help="repeats per figure")
    parser.add_argument("--slices", type=int, default=10, help="axial slices per CT study")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    hu, pixel_mm = ellipse_hu(16.0, 11.0)
    one = axial_ct(hu, pixel_mm)
    _line("D_w of one 512x512 slice", _timed(lambda: ct_size.slice_size(one), args.studies),
          "slices")
    slices = [axial_ct(hu, pixel_mm, z_mm=5.0 * i) for i in range(args.slices)]
    for ds in slices:
        ds.CTDIvol = 12.0
    ct_study = _study(slices)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def context(app_id: str) -> AppContext:
            return AppContext(app_id=app_id, app_version="1.0.0", vendor="medcoop",
                              kind="edge", output_dir=out)

        _line(f"CT size app, {args.slices} slices + SR",
              _timed(lambda: apps.ct_size(ct_study, {}, context("medcoop.ct-size")),
                     args.studies), "studies")
        dx_study = _study([dx_image(800.0, 400.0), dx_image(400.0, 400.0, view="LL")])
        _line("exposure QA app, 2 images + SR",
              _timed(lambda: apps.exposure_qa(dx_study, {}, context("medcoop.exposure-qa")),
                     args.studies), "studies")
        model = out / "model.onnx"
        model.write_bytes(mean_intensity_model([4.0, -4.0], [0.0, 0.0], size=(224, 224)))
        parameters = {
            "model_file": str(model), "model_name": "bench", "model_version": "1",
            "input_height": 224, "input_width": 224,
            "findings": json.dumps([{"code_value": "A", "meaning": "a"},
                                    {"code_value": "B", "meaning": "b"}]),
        }
        image = np.random.default_rng(1).integers(0, 4000, (2048, 2048)).astype(float)
        dx_big = _study([dx_image(400.0, 400.0, pixels=image)])
        _line("ONNX host, 2048x2048 -> 224x224 + SR",
              _timed(lambda: apps.onnx_host(dx_big, parameters, context("medcoop.xray-onnx")),
                     args.studies), "images")


if __name__ == "__main__":
    main()
