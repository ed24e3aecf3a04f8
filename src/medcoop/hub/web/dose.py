"""Dose pages: filtered study table, charts, a study's events, a patient's history, exports.

The table reads :func:`~medcoop.hub.services.dose_table.study_page` (server-side sort,
keyset pagination); charts are JSON figures, one request each, drawn by plotly.js;
exports stream the filtered rows as CSV or XLSX with the API's columns.
"""

from __future__ import annotations

import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.alerts import FluoroCumulativeRule
from medcoop.analytics.drl import load_national_drls
from medcoop.analytics.exam_types import EXAM_TYPES
from medcoop.analytics.query import ROW_COLUMNS, iter_csv
from medcoop.analytics.ssde import ssde_for_event
from medcoop.hub.api.analytics_dose import PoolSession
from medcoop.hub.api.deps import DbSession, open_session, require
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Device, Site, Study
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.services import accounts, analytics, ingest
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.analytics import iter_rows, study_page
from medcoop.hub.web.forms import DoseFilters, parse_query
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
Pseudonym = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[0-9a-f]+$")]
CHART_ROWS = 5_000  # newest studies a chart draws
EXPORT_ROWS = 100_000
PAGE_ROWS = 50
_METRIC_COLUMN = {"dlp": Study.total_dlp_mgycm, "dap": Study.total_dap_gycm2}
_METRIC_LABEL = {"dlp": "DLP (mGy·cm)", "dap": "DAP (Gy·cm²)"}
_DRL_QUANTITY = {"dlp": "dlp", "dap": "dap"}


def _filters(request: Request, db: Session) -> DoseFilters:
    filters = parse_query(request, DoseFilters)
    if filters.site_id is not None:
        analytics.require_site(db, filters.site_id)  # another tenant's site: 404
    if filters.device_id is not None:
        accounts.get_device(db, filters.device_id)
    return filters


def _choices(db: Session) -> dict[str, Any]:
    sites = list(db.scalars(select(Site).order_by(Site.name)))
    devices = list(db.scalars(select(Device).order_by(Device.display_name, Device.device_key)))
    return {"sites": sites, "devices": devices, "exam_types": EXAM_TYPES}


@router.get("/dose")
def dose(request: Request, _principal: Reader, db: DbSession) -> Response:
    """The filtered study table with charts above it."""
    filters = _filters(request, db)
    table = study_page(
        db, filters.table(), sort=filters.sort, cursor=filters.cursor, limit=PAGE_ROWS
    )
    return page(
        request,
        "dose.html",
        title="Dose",
        filters=filters,
        table=table,
        chart_query=filters.query(),
        **_choices(db),
    )


def _chart_rows(db: Session, filters: DoseFilters) -> list[tuple[Any, ...]]:
    """Newest matching studies: (time, modality, description, protocol, value, site).

    One indexed read of at most :data:`CHART_ROWS` rows, every filter in SQL (exam type
    and protocol are the columns ingest sets by the rules the table's rows use).
    """
    column = _METRIC_COLUMN[filters.metric]
    query = (
        select(
            Study.study_at,
            Study.modality,
            Study.study_description,
            Study.protocol,
            column,
            Study.site_id,
        )
        .where(*filters.table().where(), column.is_not(None))
        .order_by(Study.study_at.desc())
        .limit(CHART_ROWS)
    )
    return list(db.execute(query).all())


def _lines(
    db: Session, pool: Session, filters: DoseFilters
) -> tuple[list[dict[str, Any]], list[str]]:
    """DRL lines for the chart: the national DRL and the peers' ICRP 135 local DRL."""
    notes: list[str] = []
    shapes: list[dict[str, Any]] = []
    if filters.exam_type is None:
        return shapes, ["Choose an exam type to draw its national and local DRLs."]
    wanted = _DRL_QUANTITY[filters.metric]
    national = [
        e
        for e in load_national_drls()
        if e.exam_type == filters.exam_type and e.quantity == wanted and e.scope == "per_exam"
    ]
    for entry in national[:1]:
        shapes.append(_hline(entry.value_si, f"national DRL {entry.source_id}", "#8a1010"))
    if not national:
        notes.append(f"No national {wanted.upper()} DRL per exam for {filters.exam_type}.")
    if filters.site_id is None:
        notes.append("Choose a site to draw the local DRL from its peers.")
        return shapes, notes
    result = analytics.peer_benchmark(
        db, pool, filters.site_id, exam_type=filters.exam_type, metric=filters.metric
    )
    if result.peers is not None:
        local = result.peers.site_median_quartiles[2]
        shapes.append(_hline(local, "local DRL (peers' 75th percentile)", "#0b4f8a"))
    else:
        notes.append("Local DRL suppressed: " + "; ".join(result.notes or ("too few peers",)))
    return shapes, notes


def _hline(value: float, label: str, color: str) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": value,
        "y1": value,
        "line": {"color": color, "width": 2, "dash": "dash"},
        "label": {"text": f"{label}: {value:g}", "textposition": "end", "font": {"color": color}},
    }


@router.get("/dose/charts/distribution.json")
def distribution_chart(
    request: Request, _principal: Reader, db: DbSession, pool: PoolSession
) -> JSONResponse:
    """Box plot per protocol of the chosen metric, with the DRL lines."""
    filters = _filters(request, db)
    per_protocol: dict[str, list[float]] = defaultdict(list)
    for _at, _mod, description, protocol, value, _site in _chart_rows(db, filters):
        per_protocol[protocol or description or "(none)"].append(float(value))
    busiest = sorted(per_protocol, key=lambda p: -len(per_protocol[p]))[:12]
    shapes, notes = _lines(db, pool, filters)
    data = [
        {"type": "box", "name": p[:40], "y": per_protocol[p], "boxpoints": False} for p in busiest
    ]
    layout = {
        "title": {"text": f"{_METRIC_LABEL[filters.metric]} per protocol"},
        "yaxis": {"title": {"text": _METRIC_LABEL[filters.metric]}},
        "showlegend": False,
        "shapes": shapes,
    }
    return JSONResponse({"data": data, "layout": layout, "notes": notes})


@router.get("/dose/charts/trend.json")
def trend_chart(request: Request, _principal: Reader, db: DbSession) -> JSONResponse:
    """Monthly median of the chosen metric."""
    filters = _filters(request, db)
    per_month: dict[str, list[float]] = defaultdict(list)
    for at, *_rest, value, _site in _chart_rows(db, filters):
        if at is not None:
            per_month[at.strftime("%Y-%m")].append(float(value))
    months = sorted(per_month)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": months,
            "y": [float(np.median(per_month[m])) for m in months],
            "name": "median",
        }
    ] if months else []
    layout = {
        "title": {"text": f"Monthly median {_METRIC_LABEL[filters.metric]}"},
        "xaxis": {"title": {"text": "month (UTC)"}, "type": "category"},
        "yaxis": {"title": {"text": _METRIC_LABEL[filters.metric]}},
    }
    return JSONResponse({"data": data, "layout": layout})


@router.get("/dose/charts/size.json")
def size_chart(request: Request, _principal: Reader, db: DbSession) -> JSONResponse:
    """Highest CTDIvol and its SSDE against patient size (where the size is known)."""
    filters = _filters(request, db)
    table = filters.table()
    if table.min_diameter_cm is None:  # only studies with a size can be drawn
        table = replace(table, min_diameter_cm=0.0)
    points = analytics.size_points(db, table, limit=1_000)
    x = [p[0] for p in points]
    data = []
    if points:
        data = [
            {"type": "scatter", "mode": "markers", "name": "CTDIvol", "x": x,
             "y": [p[1] for p in points]},
            {"type": "scatter", "mode": "markers", "name": "SSDE", "x": x,
             "y": [p[2] for p in points], "marker": {"symbol": "diamond"}},
        ]
    layout = {
        "title": {"text": "CTDIvol and SSDE against patient size"},
        "xaxis": {"title": {"text": "water-equivalent (else effective) diameter (cm)"}},
        "yaxis": {"title": {"text": "mGy"}},
    }
    return JSONResponse({"data": data, "layout": layout, "empty": "No CT study with a known size."})


def _export_rows(request: Request, principal: Principal) -> Iterator[dict[str, Any]]:
    # a session of its own, closed when the stream ends (the request's is closed before)
    session = scope_session(open_session(request), principal.org_id)
    try:
        filters = _filters(request, session)
        yield from iter_rows(session, filters.table(), sort=filters.sort, limit=EXPORT_ROWS)
    finally:
        session.close()


@router.get("/dose/export.csv")
def export_csv(request: Request, principal: Reader, db: DbSession) -> Response:
    """The filtered rows as CSV (the API's columns), streamed."""
    _filters(request, db)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        iter_csv(_export_rows(request, principal)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="medcoop-dose-{stamp}.csv"'},
    )


@router.get("/dose/export.xlsx")
def export_xlsx(request: Request, principal: Reader, db: DbSession) -> Response:
    """The filtered rows as an Excel workbook (write-only: constant memory), streamed."""
    from openpyxl import Workbook

    _filters(request, db)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("studies")
    sheet.append(list(ROW_COLUMNS))
    for row in _export_rows(request, principal):
        sheet.append([_cell(row[c]) for c in ROW_COLUMNS])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
    workbook.save(spool)
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(64 * 1024):
                yield block

    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        chunks(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="medcoop-dose-{stamp}.xlsx"'},
    )


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones: values are UTC
    return value


@router.get("/dose/studies/{study_id}")
def study(study_id: uuid.UUID, request: Request, _principal: Reader, db: DbSession) -> Response:
    """One study with every irradiation event (as ``GET /api/v1/studies/{id}``), and SSDE."""
    detail = ingest.get_study(db, study_id)
    device = accounts.get_device(db, detail["device_id"])
    loaded = analytics.load_records(db, study_ids=[study_id])
    ssde: dict[str, float] = {}
    pseudonym = None
    if loaded:
        record = loaded[0][1]
        pseudonym = record.patient.pseudonym
        for event in record.events:
            found = ssde_for_event(event, record.patient)
            if found is not None:
                ssde[event.event_uid] = found.ssde_mgy
    return page(
        request,
        "study.html",
        title="Study",
        study=detail,
        device=device,
        ssde=ssde,
        pseudonym=pseudonym,
    )


def _window_days(db: Session) -> int:
    rules, _notify = analytics.get_settings(db)
    windows = [r.window_days for r in rules.rules if isinstance(r, FluoroCumulativeRule)]
    return max(windows) if windows else FluoroCumulativeRule(rule_id="default").window_days


@router.get("/dose/patients/{pseudonym}")
def patient(pseudonym: Pseudonym, request: Request, _principal: Reader, db: DbSession) -> Response:
    """A patient pseudonym's studies with running totals, and the rolling fluoroscopy dose."""
    points = analytics.patient_history(db, pseudonym)
    days = _window_days(db)
    dated = [p for p in points if p.study_at is not None]
    last_at = max((p.study_at for p in dated), default=None)  # type: ignore[type-var]
    window_dap = 0.0
    if last_at is not None:
        since = last_at - timedelta(days=days)
        window_dap = sum(p.dap_gycm2 or 0.0 for p in dated if p.study_at > since)  # type: ignore[misc, operator]
    return page(
        request,
        "patient.html",
        title="Patient dose history",
        pseudonym=pseudonym,
        points=points,
        window_days=days,
        window_dap=window_dap,
        last_at=last_at,
    )
