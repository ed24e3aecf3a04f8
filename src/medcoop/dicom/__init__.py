"""Dose and utilization extraction: pure functions over pydicom Datasets or bytes, no I/O.

``extract_dataset`` (a pydicom Dataset) and ``extract_bytes`` (a file's bytes, read without
``dcmread`` where possible) read RDSRs (TID 10001/10011/10021, whatever SR class carries
them), image headers and vendor dose summaries; ``extract_mpps`` reads MPPS
N-CREATE/N-SET datasets; ``merge_study_events`` applies the cumulative/continued RDSR rule.

Importing a submodule (the byte reader, the identifying attributes) does not import the
extraction: the names below are loaded on first use (PEP 562), so that ``medcoop deid``
and the edge's start-up pay only for what they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medcoop.dicom.extract import extract_bytes, extract_dataset
    from medcoop.dicom.merge import merge_study_events
    from medcoop.dicom.model import (
        CtSourceParameters,
        Damaged,
        DeviceIdentity,
        DoseEvent,
        Extraction,
        MppsFacts,
        PatientIdentity,
        Skipped,
    )
    from medcoop.dicom.mpps import extract_mpps

#: Each exported name and the module that defines it.
_EXPORTS = {
    "CtSourceParameters": "model",
    "Damaged": "model",
    "DeviceIdentity": "model",
    "DoseEvent": "model",
    "Extraction": "model",
    "MppsFacts": "model",
    "PatientIdentity": "model",
    "Skipped": "model",
    "extract_bytes": "extract",
    "extract_dataset": "extract",
    "extract_mpps": "mpps",
    "merge_study_events": "merge",
}

__all__ = [
    "CtSourceParameters",
    "Damaged",
    "DeviceIdentity",
    "DoseEvent",
    "Extraction",
    "MppsFacts",
    "PatientIdentity",
    "Skipped",
    "extract_bytes",
    "extract_dataset",
    "extract_mpps",
    "merge_study_events",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'medcoop.dicom' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"medcoop.dicom.{module}"), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value
