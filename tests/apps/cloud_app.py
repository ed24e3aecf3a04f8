"""A cloud app for the cloud-run tests: counts its records and notes each call in a file."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medcoop.apps.sdk import AppContext, AppResult, CloudBatch, EdgeStudy


def run(
    inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any], context: AppContext
) -> AppResult:
    """Count the records and their mean total DLP; append ``run_id pid`` to the call log."""
    assert isinstance(inputs, CloudBatch)
    if parameters.get("fail"):
        raise RuntimeError("the app failed on purpose")
    time.sleep(float(parameters.get("sleep_s", 0)))
    log = parameters.get("log")
    if log:
        with Path(log).open("a", encoding="utf-8") as handle:
            handle.write(f"{context.run_id} {os.getpid()}\n")
    dlps = [r["total_dlp_mgycm"] for r in inputs.records if r["total_dlp_mgycm"] is not None]
    return AppResult(
        findings={
            "records": len(inputs.records),
            "pseudonyms": sorted({r["pseudonym"] for r in inputs.records}),
            "mean_dlp_mgycm": sum(dlps) / len(dlps) if dlps else None,
        }
    )
