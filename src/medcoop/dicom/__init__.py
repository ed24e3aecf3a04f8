"""Dose and utilization extraction: pure functions over pydicom Datasets or bytes, no I/O.

``extract_dataset`` (a pydicom Dataset) and ``extract_bytes`` (a file's bytes, read without
``dcmread`` where possible) read RDSRs (TID 10001/10011/10021, whatever SR class carries
them), image headers and vendor dose summaries; ``extract_mpps`` reads MPPS
N-CREATE/N-SET datasets; ``merge_study_events`` applies the cumulative/continued RDSR rule.
"""

from __future__ import annotations

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
