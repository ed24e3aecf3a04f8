"""App monitoring as a view: one row per app version (``GET /api/v1/apps/monitoring``).

The CLI (``medcoop app monitor``) prints it as a table, ``--json`` or ``--csv``; the
dashboard's ``/apps`` page shows the same answer in full.
"""

from __future__ import annotations

from typing import Any

from medcoop.output import Column, View, fixed, percent

__all__ = ["monitoring_view"]


def _ms(value: Any) -> str:
    return fixed(value, 0)


def monitoring_view(answer: dict[str, Any]) -> View:
    """The monitoring answer as one row per app version."""
    rows = [
        {
            "app": a["app"],
            "app_version": a["app_version"],
            "runs": a["runs"],
            "failures": a["failures"],
            "failures_by_reason": ", ".join(f"{k} {n}" for k, n in a["failures_by_reason"].items()),
            "latency_p50_ms": a["latency_ms"].get("p50"),
            "latency_p90_ms": a["latency_ms"].get("p90"),
            "reviews": a["reviews"],
            "agreement": a["agreement"],
            "drift": ", ".join(a["drift_alerts"]) or "none",
        }
        for a in answer["apps"]
    ]
    days = answer["reference_days"] + answer["current_days"]
    return View(
        "app monitoring",
        (
            Column("app", "app"),
            Column("app_version", "version"),
            Column("runs", "runs", justify="right"),
            Column("failures", "failed", justify="right"),
            Column("failures_by_reason", "failed by reason"),
            Column("latency_p50_ms", "p50 (ms)", format=_ms, justify="right"),
            Column("latency_p90_ms", "p90 (ms)", format=_ms, justify="right"),
            Column("reviews", "reviews", justify="right"),
            Column("agreement", "judged right", format=percent, justify="right"),
            Column("drift", "drift (PSI > 0.25)"),
        ),
        rows,
        notes=(
            f"the last {days} days; drift: the last {answer['current_days']} days against "
            f"the {answer['reference_days']} before",
        ),
    )
