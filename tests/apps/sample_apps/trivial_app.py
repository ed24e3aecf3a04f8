"""The trivial app of the runtime's tests and benchmark: counts images, reports one SR.

Only ever imported inside a run's process (the runner puts this folder on the app's path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medcoop.apps.sdk import (
    Alert,
    AppContext,
    AppResult,
    CloudBatch,
    Code,
    EdgeStudy,
    Measurement,
    measurement_report,
)

DIAMETER = Code("81827009", "SCT", "Diameter")
MM = Code("mm", "UCUM", "millimeter")


def trivial(inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any],
            context: AppContext) -> AppResult:
    """Count the images; report one measurement as a TID 1500 SR."""
    assert isinstance(inputs, EdgeStudy)
    images = [ds for ds in inputs.datasets if "PixelData" in ds]
    measurement = Measurement(DIAMETER, float(parameters.get("diameter_mm", 250.0)), MM,
                              str(images[0].SOPInstanceUID) if images else None)
    sr = measurement_report(inputs, [measurement], context)
    return AppResult(
        findings={"images": len(images), "study": "seen"},
        measurements=[measurement],
        alerts=[Alert("size", "large patient", "info")] if len(images) > 5 else [],
        dicom=[sr],
    )


def slow(inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any],
         context: AppContext) -> AppResult:
    """The trivial app after ``sleep_s`` seconds (a slow model, for the queue tests)."""
    import time

    time.sleep(float(parameters.get("sleep_s", 1.0)))
    return trivial(inputs, parameters, context)
