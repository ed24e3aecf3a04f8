"""Monitoring statistics: latency percentiles, PSI, KS, agreement; the run report contract."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from medcoop.apps import monitoring as m


def test_percentiles_of_latencies() -> None:
    assert m.latency_percentiles(list(range(1, 101))) == {"p50": 50.5, "p90": 90.1, "p99": 99.0}
    assert m.latency_percentiles([]) == {"p50": None, "p90": None, "p99": None}


def test_psi_is_near_zero_for_one_distribution_and_large_for_a_shift() -> None:
    rng = random.Random(7)
    reference = [rng.gauss(0, 1) for _ in range(2000)]
    same = [rng.gauss(0, 1) for _ in range(2000)]
    shifted = [rng.gauss(1, 1) for _ in range(2000)]
    assert m.numeric_psi(reference, same) < 0.02
    assert m.numeric_psi(reference, shifted) > 0.25
    stable = m.drift_of_values("score", reference, same)
    moved = m.drift_of_values("score", reference, shifted)
    assert (stable.alert, stable.verdict) == (False, "stable")
    assert (moved.alert, moved.verdict) == (True, "shift")
    assert moved.ks_p_value is not None and moved.ks_p_value < 1e-10


def test_a_category_new_in_the_current_window_is_counted() -> None:
    reference = ["CT"] * 50
    current = ["CT"] * 25 + ["DX"] * 25
    psi = m.categorical_psi({"CT": 50}, {"CT": 25, "DX": 25})
    # (0.5 − 1)·ln(0.5) + (0.5 − 1e−4)·ln(0.5 / 1e−4)
    assert psi == pytest.approx(0.5 * 0.6931 + 0.4999 * 8.5172, rel=1e-3)
    assert m.drift_of_categories("modality", reference, current).alert


def test_too_few_runs_give_no_verdict() -> None:
    drift = m.drift_of_values("score", [1.0] * 29, [5.0] * 100)
    assert drift.psi is None
    assert drift.verdict == "too few runs"
    assert not drift.alert


def test_agreement_rate() -> None:
    assert m.agreement_rate(["right", "right", "wrong", "right"]) == (4, 0.75)
    assert m.agreement_rate([]) == (0, None)


def test_a_run_report_carries_no_free_text_or_identifier() -> None:
    base = {
        "run_key": "run-0001",
        "app": "ct-size",
        "app_version": "1.0.0",
        "started_at": datetime(2026, 12, 1, tzinfo=UTC),
        "latency_ms": 120.0,
        "status": "succeeded",
    }
    m.RunReport.model_validate(base)
    for bad in (
        {"patient_name": "DOE^JANE"},  # no such field
        {"study_uid": "1.2.840.99"},  # not a remapped UID
        {"failure_reason": "crashed on DOE^JANE"},  # reason codes only
        {"outputs": {"finding text": 1.0}},
    ):
        with pytest.raises(ValidationError):
            m.RunReport.model_validate({**base, **bad})


def test_a_runner_outcome_becomes_a_report() -> None:
    from types import SimpleNamespace

    from medcoop.apps.sdk import AppResult

    ok = SimpleNamespace(
        succeeded=True, reason=None, duration_s=0.25,
        result=AppResult(
            findings={"outputs": {"ssde_mgy": 11.4, "label": "x", "nan": float("nan")}}
        ),
    )
    at = datetime(2026, 12, 1, tzinfo=UTC)
    report = m.report_of(ok, run_key="run-00000001", app="medcoop.ct-size", app_version="1.0.0",
                         started_at=at, study_uid="2.25.1")
    assert (report.status, report.latency_ms, report.outputs) == ("succeeded", 250.0,
                                                                  {"ssde_mgy": 11.4})
    failed = SimpleNamespace(succeeded=False, reason=SimpleNamespace(value="timeout"),
                             duration_s=300.0, result=None)
    report = m.report_of(failed, run_key="run-00000002", app="a", app_version="1", started_at=at)
    assert (report.status, report.failure_reason, report.outputs) == ("failed", "timeout", {})
