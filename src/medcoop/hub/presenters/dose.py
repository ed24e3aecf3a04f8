"""The DRL comparison: a group's median dose against a national DRL, with the DRL set's status.

:func:`drl_comparisons_out` builds the API's answer from the service's comparisons;
:func:`drl_view` turns that answer (as JSON, from the API or in process) into the table
the CLI, the demo and the web dashboard print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from medcoop.analytics.drl import DrlComparison
from medcoop.output import Column, View, fixed, unit_label

__all__ = ["DrlComparisonOut", "drl_comparisons_out", "drl_status", "drl_view"]


class DrlComparisonOut(BaseModel):
    """A group's median against one national DRL (with the DRL's source and its status)."""

    group: list[str | None]
    exam_type: str
    quantity: str
    scope: str
    phantom: str | None
    n: int
    median: float
    p75: float
    drl_value: float
    unit: str
    ratio_to_drl: float
    exceeds: bool
    source_id: str
    source: str
    #: What was compared: for per-acquisition CT DRLs, which acquisition types.
    acquisitions: str
    #: The DRL set's status as its table states it ("national DRL (in force …)", "superseded …").
    status: str = ""


def drl_status(status: str) -> str:
    """The DRL set's status in a word or two: ``superseded``, ``in force``, else the table's.

    A set whose values are not checked against their source's tables says so
    (``in force, unverified``): a physicist must not take it for a checked one.
    """
    lowered = status.lower()
    if "superseded" in lowered or "historical" in lowered:
        return "superseded"
    if "in force" in lowered or lowered.startswith("national drl"):
        return "in force, unverified" if "unverified" in lowered else "in force"
    return status or "unknown"


def drl_comparisons_out(found: Sequence[DrlComparison]) -> list[DrlComparisonOut]:
    """The API's answer for the service's comparisons (same order)."""
    return [
        DrlComparisonOut(
            group=list(c.group),
            exam_type=c.entry.exam_type,
            quantity=c.entry.quantity,
            scope=c.entry.scope,
            phantom=c.entry.phantom,
            n=c.n,
            median=c.median,
            p75=c.p75,
            drl_value=c.entry.value_si,
            unit=c.entry.unit_si,
            ratio_to_drl=c.ratio_to_drl,
            exceeds=c.exceeds,
            source_id=c.entry.source_id,
            source=c.entry.source,
            acquisitions=c.entry.acquisitions,
            status=c.entry.status,
        )
        for c in found
    ]


def _review(value: Any) -> str | None:
    return "bold red" if value == "above DRL" else None


def drl_view(
    rows: Sequence[Mapping[str, Any]],
    *,
    site: str,
    labels: Mapping[str, str] | None = None,
) -> View:
    """The DRL comparison table of ``rows`` (the API's JSON) for the site named ``site``.

    ``labels`` maps group keys (site ids, device keys) to names; unknown keys print as
    they are. A superseded DRL set is marked in its row and in a note under the table.
    """
    names = labels or {}
    records = [
        {
            "group": " / ".join(names.get(str(g), str(g)) for g in row["group"]),
            "exam_type": row["exam_type"],
            "quantity": row["quantity"],
            "scope": row["scope"].replace("_", " "),
            "n": row["n"],
            "median": row["median"],
            "p75": row["p75"],
            "drl": row["drl_value"],
            "unit": unit_label(row["unit"]),
            "ratio_to_drl": row["ratio_to_drl"],
            "review": "above DRL" if row["exceeds"] else "ok",
            "drl_set": row["source_id"],
            "drl_status": drl_status(row.get("status", "")),
            "acquisitions": row.get("acquisitions", ""),
        }
        for row in rows
    ]
    columns = (
        Column("group", "group"),
        Column("exam_type", "exam type"),
        Column("quantity", "quantity"),
        Column("scope", "scope"),
        Column("n", "n", justify="right"),
        Column("median", "median", justify="right", unit_key="unit"),
        Column("p75", "p75", justify="right", unit_key="unit"),
        Column("drl", "DRL", justify="right", unit_key="unit"),
        Column("unit", "unit", hidden=True),
        Column("ratio_to_drl", "ratio", lambda v: fixed(v, 2), "right"),
        Column("review", "review", style=_review),
        Column("drl_set", "DRL set"),
        Column("drl_status", "status", style=lambda v: "dim" if v == "superseded" else None),
        Column("acquisitions", "acquisitions compared", hidden=True),
    )
    superseded = sorted({r["drl_set"] for r in records if r["drl_status"] == "superseded"})
    notes = [
        f"{source} is a superseded DRL set: shown for comparison, not for review."
        for source in superseded
    ]
    # per-acquisition CT rows say which acquisitions were compared (localizers excluded)
    generic = {"", "whole examination", "every value"}
    for compared in dict.fromkeys(r["acquisitions"] for r in records):
        if compared in generic:
            continue
        exams = sorted({r["exam_type"] for r in records if r["acquisitions"] == compared})
        notes.append(f"{', '.join(exams)}: {compared}.")
    return View(f"DRL comparison, {site}", columns, records, tuple(notes))
