"""App monitoring: the run report an edge sends the hub, and the statistics over runs.

Shared by both sides as :mod:`medcoop.records` is (the edge never imports the hub): the
edge reports each app run as a :class:`RunReport` (``POST /api/v1/apps/runs``); the hub
stores them (:mod:`medcoop.hub.services.apps`) and computes here, per app and version,
latency percentiles, input mixes, output distributions and drift.

A report is de-identified by construction, like a record: a remapped study UID, the
device key, the cleaned protocol name, numeric outputs by name and a failure reason code;
never a finding's text, an image or a patient identifier.

Drift
    **PSI** (population stability index) of the current window against a reference
    window: ``PSI = Σ (c_i − r_i)·ln(c_i / r_i)`` over bins i, where ``r_i`` and ``c_i``
    are the reference and current shares. Numeric outputs use ten bins at the reference's
    deciles; inputs (modality, device, protocol) use their categories. Shares are
    floored at 10⁻⁴ so an empty bin counts without dividing by zero. The usual reading:
    below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 (:data:`PSI_ALERT`) a
    shift worth an alert. Numeric outputs also get the two-sample **Kolmogorov–Smirnov**
    test (scipy); its p-value is shown beside the PSI, and an alert needs both
    ``PSI > 0.25`` and ``p < 0.01`` for numeric outputs, so a large sample's tiny but
    significant shift does not alert alone. A window of fewer than
    :data:`MIN_SAMPLES` runs gives no verdict.
    The reference window is the ``reference_days`` before the current window (28 by
    default), the current window the last ``current_days`` (7).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Protocol

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from scipy import stats

__all__ = [
    "MIN_SAMPLES",
    "PSI_ALERT",
    "Drift",
    "RunReport",
    "RunReportBatch",
    "RunStatus",
    "Verdict",
    "categorical_psi",
    "drift_of_categories",
    "drift_of_values",
    "ks_test",
    "latency_percentiles",
    "numeric_psi",
    "report_of",
]

#: PSI above which a distribution is said to have moved.
PSI_ALERT: Final = 0.25
#: KS p-value below which a numeric output's move is significant.
KS_ALPHA: Final = 0.01
#: Fewer runs than this in either window give no drift verdict.
MIN_SAMPLES: Final = 30
_FLOOR: Final = 1e-4
_BINS: Final = 10

Name = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]
ShortText = Annotated[str, Field(max_length=128)]


class RunStatus(StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Verdict(StrEnum):
    """A clinician's judgement of a result."""

    RIGHT = "right"
    WRONG = "wrong"


class RunReport(BaseModel):
    """One app run at an edge, as the hub may know it (no identifying value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The edge's id of the run (idempotency key: a re-sent report is not counted twice).
    run_key: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
    app: Name
    app_version: Name
    study_uid: Annotated[str, Field(max_length=64, pattern=r"^2\.25\.[0-9]{1,60}$")] | None = None
    started_at: AwareDatetime
    latency_ms: Annotated[float, Field(ge=0, le=86_400_000)]
    status: RunStatus
    #: A reason code (``timeout``, ``memory``, ``crash``, ``invalid_output`` ...).
    failure_reason: Name | None = None
    modality: Annotated[str, Field(max_length=16)] | None = None
    device_key: Annotated[str, Field(max_length=64)] | None = None
    protocol: ShortText | None = None
    #: Numeric outputs by name (``ssde_mgy``, ``deviation_index``, a finding's score).
    outputs: Annotated[dict[Name, float], Field(max_length=32)] = Field(default_factory=dict)


class RunReportBatch(BaseModel):
    """What an edge sends: up to 1,000 run reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runs: Annotated[tuple[RunReport, ...], Field(max_length=1000)]


class OutcomeLike(Protocol):
    """What :func:`report_of` reads of a run's outcome (``medcoop.apps.runner.RunOutcome``)."""

    succeeded: bool
    reason: Any
    duration_s: float
    result: Any


def report_of(
    outcome: OutcomeLike,
    *,
    run_key: str,
    app: str,
    app_version: str,
    started_at: datetime,
    study_uid: str | None = None,
    modality: str | None = None,
    device_key: str | None = None,
    protocol: str | None = None,
) -> RunReport:
    """Return the report of one runner outcome: the edge's one way to describe a run.

    ``study_uid`` must be the edge's remapped UID; outputs are the numeric values the app
    put under ``findings["outputs"]`` (others are left out).
    """
    findings = getattr(outcome.result, "findings", None) or {}
    raw = findings.get("outputs", {}) if isinstance(findings, dict) else {}
    outputs = {
        str(k)[:40]: float(v)
        for k, v in raw.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    reason = None if outcome.succeeded else str(getattr(outcome.reason, "value", outcome.reason))
    return RunReport(
        run_key=run_key,
        app=app,
        app_version=app_version,
        study_uid=study_uid,
        started_at=started_at,
        latency_ms=round(outcome.duration_s * 1000.0, 1),
        status=RunStatus.SUCCEEDED if outcome.succeeded else RunStatus.FAILED,
        failure_reason=reason or ("unknown" if not outcome.succeeded else None),
        modality=modality,
        device_key=device_key,
        protocol=protocol,
        outputs=dict(list(outputs.items())[:32]),
    )


def latency_percentiles(
    latencies_ms: Sequence[float], quantiles: Sequence[float] = (50, 90, 99)
) -> dict[str, float | None]:
    """Return ``{"p50": ..., "p90": ..., "p99": ...}`` (``None`` each without runs)."""
    if not latencies_ms:
        return {f"p{q:g}": None for q in quantiles}
    values = np.percentile(np.asarray(latencies_ms, dtype=np.float64), list(quantiles))
    return {f"p{q:g}": round(float(v), 1) for q, v in zip(quantiles, values, strict=True)}


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.maximum(reference / max(reference.sum(), 1), _FLOOR)
    c = np.maximum(current / max(current.sum(), 1), _FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Return the PSI of ``current`` against ``reference`` over the reference's deciles."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, _BINS + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], inner, [np.inf]))
    return _psi(np.histogram(ref, edges)[0], np.histogram(cur, edges)[0])


def categorical_psi(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Return the PSI of two category counts (a category missing from one counts 0)."""
    names = sorted(set(reference) | set(current))
    return _psi(
        np.asarray([reference.get(n, 0) for n in names], dtype=np.float64),
        np.asarray([current.get(n, 0) for n in names], dtype=np.float64),
    )


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Return the two-sample Kolmogorov–Smirnov statistic and p-value."""
    result = stats.ks_2samp(np.asarray(reference), np.asarray(current))
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True, slots=True)
class Drift:
    """The drift of one input or output between the reference and current windows."""

    name: str
    kind: str  # "output" or "input"
    reference_n: int
    current_n: int
    psi: float | None
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    alert: bool = False

    @property
    def verdict(self) -> str:
        """``"too few runs"``, ``"stable"``, ``"moderate shift"`` or ``"shift"``."""
        if self.psi is None:
            return "too few runs"
        if self.alert:
            return "shift"
        return "moderate shift" if self.psi >= 0.1 else "stable"


def drift_of_values(name: str, reference: Sequence[float], current: Sequence[float]) -> Drift:
    """Return the drift of a numeric output (PSI and KS; see the module docstring)."""
    if len(reference) < MIN_SAMPLES or len(current) < MIN_SAMPLES:
        return Drift(name, "output", len(reference), len(current), None)
    psi = numeric_psi(reference, current)
    statistic, p_value = ks_test(reference, current)
    return Drift(
        name,
        "output",
        len(reference),
        len(current),
        round(psi, 4),
        round(statistic, 4),
        p_value,
        alert=psi > PSI_ALERT and p_value < KS_ALPHA,
    )


def drift_of_categories(
    name: str, reference: Iterable[str | None], current: Iterable[str | None]
) -> Drift:
    """Return the drift of an input's mix (modality, device or protocol) by PSI."""
    ref = Counter(v or "unknown" for v in reference)
    cur = Counter(v or "unknown" for v in current)
    ref_n, cur_n = sum(ref.values()), sum(cur.values())
    if ref_n < MIN_SAMPLES or cur_n < MIN_SAMPLES:
        return Drift(name, "input", ref_n, cur_n, None)
    psi = categorical_psi(ref, cur)
    return Drift(name, "input", ref_n, cur_n, round(psi, 4), alert=psi > PSI_ALERT)


def agreement_rate(verdicts: Iterable[str]) -> tuple[int, float | None]:
    """Return the number of reviews and the share judged right (``None`` without any)."""
    counts = Counter(verdicts)
    total = counts[Verdict.RIGHT] + counts[Verdict.WRONG]
    return total, (round(counts[Verdict.RIGHT] / total, 4) if total else None)


def day_of(at: datetime) -> str:
    """Return the UTC day of ``at`` as ``YYYY-MM-DD`` (the trend charts' x)."""
    return at.date().isoformat()


def is_finite(value: float) -> bool:
    """Whether an output value can be counted (NaN and infinities cannot)."""
    return math.isfinite(value)
