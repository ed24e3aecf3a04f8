"""The organisation's edges: the API's answer (``GET /api/v1/edges``) and its table.

:func:`edges_out` builds the answer from :func:`medcoop.hub.services.edges.edge_overview`;
:func:`edges_view` prints it with one column per quarantine reason that any of the
organisation's edges reports, so each edge's counts by reason read across one row (the
web overview renders the same view). Counts only: an edge never reports an object or a
value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from medcoop.hub.services.edges import EdgeOverview
from medcoop.output import DASH, Column, View

__all__ = ["EdgeStatusOut", "EdgesOut", "edges_out", "edges_view", "reason_label"]


class EdgeStatusOut(BaseModel):
    """One site's edge as it last reported (defaults before its first report)."""

    site_id: uuid.UUID
    site: str
    edge_name: str | None = None
    last_contact_at: datetime | None = None
    reported_at: datetime | None = None
    edge_version: str | None = None
    quarantine_by_reason: dict[str, int] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    open_studies: int = 0
    backlog: int = 0


class EdgesOut(BaseModel):
    """Every site's edge and the organisation's quarantine totals by reason."""

    quarantine_by_reason: dict[str, int]
    sites: list[EdgeStatusOut]


def edges_out(overview: EdgeOverview) -> EdgesOut:
    """The API's answer for the organisation's edges."""
    sites = []
    for site, report in overview.sites:
        item = EdgeStatusOut(
            site_id=site.id,
            site=site.name,
            edge_name=site.edge_name,
            last_contact_at=overview.last_contact(site, report),
        )
        if report is not None:
            item = item.model_copy(
                update={
                    "reported_at": report.reported_at,
                    "edge_version": report.edge_version,
                    "quarantine_by_reason": dict(report.quarantine_by_reason),
                    "counters": dict(report.counters),
                    "open_studies": report.open_studies,
                    "backlog": report.backlog,
                }
            )
        sites.append(item)
    return EdgesOut(quarantine_by_reason=overview.quarantine_by_reason, sites=sites)


def reason_label(code: str) -> str:
    """A quarantine reason code as a person reads it (``residual_identifier`` → words)."""
    return code.replace("_", " ")


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else DASH


def _count(value: Any) -> str:
    return DASH if value is None else f"{int(value):,}"


def edges_view(payload: Mapping[str, Any]) -> View:
    """The edges (the API's JSON): last contact, backlog, quarantine by reason per site."""
    reasons = list(payload.get("quarantine_by_reason", {}))
    columns = [
        Column("site", "site"),
        Column("edge_name", "edge", lambda v: str(v) if v else "not enrolled"),
        Column("last_contact_at", "last contact (UTC)", _when),
        Column("reported_at", "last report (UTC)", _when),
        Column("open_studies", "open studies", _count, justify="right"),
        Column("backlog", "backlog", _count, justify="right"),
        Column("quarantined", "quarantined", _count, justify="right"),
    ]
    columns += [
        Column(f"q_{code}", reason_label(code), _count, justify="right") for code in reasons
    ]
    columns.append(Column("site_id", "site id", hidden=True))
    records = []
    for site in payload.get("sites", []):
        by_reason: Mapping[str, int] = site.get("quarantine_by_reason") or {}
        record = {k: site.get(k) for k in ("site", "edge_name", "site_id", "edge_version")}
        reported = site.get("reported_at")
        record |= {
            "last_contact_at": site.get("last_contact_at"),
            "reported_at": reported,
            # before a first report the edge's numbers are unknown, not zero
            "open_studies": site.get("open_studies") if reported else None,
            "backlog": site.get("backlog") if reported else None,
            "quarantined": sum(by_reason.values()) if reported else None,
        }
        record |= {f"q_{code}": by_reason.get(code, 0) if reported else None for code in reasons}
        records.append(record)
    totals = payload.get("quarantine_by_reason", {})
    notes = [
        "Quarantine counts are objects each edge holds back, by reason; "
        "the objects stay at the edge (see its /status page)."
    ]
    if totals:
        notes.append(
            "In all: " + ", ".join(f"{reason_label(k)} {v:,}" for k, v in totals.items()) + "."
        )
    return View("Edges", tuple(columns), records, notes=tuple(notes))
