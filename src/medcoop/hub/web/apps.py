"""The apps page: monitoring per app and version, trend charts, reviews of results.

The page reads what ``GET /api/v1/apps/monitoring`` answers and reviews go through the
API's own endpoint function with its permission dependency
(:mod:`medcoop.hub.api.apps`), so the page can do exactly what the API lets the same
person do.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from medcoop.apps.monitoring import Verdict
from medcoop.hub.api import apps as api
from medcoop.hub.api.deps import DbSession, WriteSession
from medcoop.hub.services import apps
from medcoop.hub.web.forms import parse_query
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RUNS_SHOWN = 30


class AppsQuery(BaseModel):
    """The page's filters and notices."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    app: Annotated[str | None, Field(max_length=40)] = None
    done: Literal["review"] | None = None


class TrendQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    app: Annotated[str, Field(min_length=1, max_length=40)]
    output: Annotated[str, Field(min_length=1, max_length=40)]


@router.get("/apps")
def apps_page(request: Request, _principal: api.Reader, db: DbSession) -> Response:
    """Every app version's monitoring, its drift, agreement and newest runs."""
    query = parse_query(request, AppsQuery)
    monitoring = api.monitoring_of(db)
    runs = apps.list_runs(db, app=query.app or None, limit=RUNS_SHOWN)
    charts = [
        (s.app, o.name)
        for s in monitoring.apps
        for o in s.outputs
        if not query.app or s.app == query.app
    ]
    return page(
        request,
        "apps.html",
        title="Apps",
        monitoring=monitoring,
        runs=runs,
        charts=sorted(set(charts)),
        query=query,
        verdicts=[v.value for v in Verdict],
        notice="Review saved." if query.done == "review" else None,
    )


@router.get("/apps/trend.json")
def trend_chart(request: Request, principal: api.Reader, db: DbSession) -> JSONResponse:
    """One output's daily mean per device, as a plotly figure."""
    query = parse_query(request, TrendQuery)
    found = api.trend(query.app, principal, db, output=query.output)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": device[:24],
            "x": [p.day for p in points],
            "y": [p.mean for p in points],
        }
        for device, points in found.devices.items()
    ]
    layout = {
        "title": {"text": f"{query.app}: daily mean {query.output} per device"},
        "yaxis": {"title": {"text": query.output}},
    }
    return JSONResponse({"data": data, "layout": layout, "empty": "No runs in the period."})


@router.post("/apps/runs/{run_id}/review")
def review(
    run_id: uuid.UUID,
    principal: api.Reviewer,
    db: WriteSession,
    verdict: Annotated[Verdict, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Mark a run's result right or wrong (the API's endpoint, the API's permission)."""
    api.review(run_id, api.ReviewIn(verdict=verdict, note=note or None), principal, db)
    return RedirectResponse("/apps?done=review", status_code=303)
