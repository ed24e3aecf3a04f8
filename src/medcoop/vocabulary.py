"""The record contract's vocabulary, defined once beside :mod:`medcoop.records`.

The dose metrics the hub summarises, benchmarks and alerts on (:data:`Metric`), a study's
value of each (:func:`study_metric`), and the field lists every consumer of a record
derives from the contract instead of re-listing by hand (:data:`TOTAL_FIELDS`,
:data:`USAGE_FIELDS`, :data:`PATIENT_FACT_FIELDS`, :data:`EVENT_FIELDS`). Adding a field
to :mod:`medcoop.records` reaches them all.
"""

from __future__ import annotations

from typing import Literal, get_args

from medcoop.analytics.drl import counts_for_ctdivol
from medcoop.records import (
    DoseTotals,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    StudyRecord,
    UsageFacts,
)

__all__ = [
    "EVENT_FIELDS",
    "METRICS",
    "PATIENT_FACT_FIELDS",
    "TOTAL_FIELDS",
    "USAGE_FIELDS",
    "Metric",
    "study_dap_gycm2",
    "study_metric",
]

#: A study-level dose metric: CTDIvol (mGy, the highest per acquisition), DLP (mGy·cm,
#: total) or DAP (Gy·cm², total).
Metric = Literal["ctdivol", "dlp", "dap"]
METRICS: tuple[Metric, ...] = get_args(Metric)
#: The study's dose totals (``number_of_events`` is a count, not a total).
TOTAL_FIELDS: tuple[str, ...] = tuple(n for n in DoseTotals.model_fields if n.startswith("total_"))
#: The study's usage facts (MPPS, acquisition times, counts).
USAGE_FIELDS: tuple[str, ...] = tuple(UsageFacts.model_fields)
#: What a record says of its patient besides the pseudonym (the key, stored apart).
PATIENT_FACT_FIELDS: tuple[str, ...] = tuple(
    n for n in PatientFacts.model_fields if n != "pseudonym"
)
#: Every field of an irradiation event.
EVENT_FIELDS: tuple[str, ...] = tuple(IrradiationEvent.model_fields)


def study_dap_gycm2(record: StudyRecord) -> float | None:
    """Return a study's total DAP in Gy·cm²: the stated total, else its parts, else the events."""
    totals = record.totals
    if totals.total_dap_gycm2 is not None:
        return totals.total_dap_gycm2
    parts = (totals.total_fluoro_dap_gycm2, totals.total_acquisition_dap_gycm2)
    if any(p is not None for p in parts):
        return sum(p or 0.0 for p in parts)
    daps = [e.dap_gycm2 for e in record.events if e.dap_gycm2 is not None]
    return sum(daps) if daps else None


def study_metric(record: StudyRecord, metric: str) -> float | None:
    """Return a study's value of ``ctdivol`` (max per acquisition), ``dlp`` (total) or ``dap``.

    A study's CTDIvol is that of its scan acquisitions: localizers are left out
    (:func:`~medcoop.analytics.drl.counts_for_ctdivol`); DLP is the whole examination's.
    """
    ct = [e for e in record.events if e.kind == EventKind.CT_ACQUISITION]
    if metric == "ctdivol":
        values = [e.ctdivol_mgy for e in ct if e.ctdivol_mgy is not None and counts_for_ctdivol(e)]
        return max(values) if values else None
    if metric == "dlp":
        if record.totals.total_dlp_mgycm is not None:
            return record.totals.total_dlp_mgycm
        values = [e.dlp_mgycm for e in ct if e.dlp_mgycm is not None]
        return sum(values) if values else None
    if metric == "dap":
        return study_dap_gycm2(record)
    raise ValueError(f"unknown metric {metric!r}")
