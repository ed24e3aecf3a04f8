"""Utilization, peer benchmark and protocol pages.

Each calls the API's endpoint function with the API's own permission dependency
(:mod:`medcoop.hub.api.analytics_dose`, :mod:`medcoop.hub.api.analytics_protocols`), so
the numbers, the k-anonymity and the errors are the API's.
"""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.exam_types import EXAM_TYPES
from medcoop.hub.api import analytics_dose as api_dose
from medcoop.hub.api import analytics_protocols as api_protocols
from medcoop.hub.api.deps import DbSession, WriteSession
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Site
from medcoop.hub.errors import NotFoundError
from medcoop.hub.presenters import benchmark_view
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.web.forms import parse_query
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class UtilizationFilters(BaseModel):
    """Site, local days (inclusive, at most 366) and opening hours."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    site_id: uuid.UUID | None = None
    first_day: date | None = None
    last_day: date | None = None
    opens: time = time(8)
    closes: time = time(18)

    @model_validator(mode="after")
    def _ordered(self) -> UtilizationFilters:
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError("last_day must not be before first_day")
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


class BenchmarkFilters(BaseModel):
    """Site, exam type, metric, narrowing and period."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    site_id: uuid.UUID | None = None
    exam_type: Literal[tuple(t.key for t in EXAM_TYPES)] = "ct_head"  # type: ignore[valid-type]
    metric: Literal["ctdivol", "dlp", "dap"] = "dlp"
    country: Annotated[str | None, Field(max_length=2)] = None
    site_type: Annotated[str | None, Field(max_length=40)] = None
    device_class: Annotated[str | None, Field(max_length=40)] = None


def _sites(db: Session) -> list[Site]:
    sites = list(db.scalars(select(Site).order_by(Site.name)))
    if not sites:
        raise NotFoundError("site", "any")
    return sites


def _site(sites: list[Site], wanted: uuid.UUID | None) -> uuid.UUID:
    # another tenant's (or an unknown) site: the service answers 404, as the API does
    return wanted if wanted is not None else sites[0].id


@router.get("/utilization")
def utilization(request: Request, principal: api_dose.Reader, db: DbSession) -> Response:
    """Per device: heat map weekday × hour, durations, patient change, idle time."""
    filters = parse_query(request, UtilizationFilters)
    sites = _sites(db)
    last_day = filters.last_day or utcnow().date()
    first_day = filters.first_day or last_day - timedelta(days=27)
    site_id = _site(sites, filters.site_id)
    devices = api_dose.utilization(
        principal, db, site_id, first_day, last_day, filters.opens, filters.closes
    )
    peak = max((max(map(max, d.heatmap), default=0) for d in devices), default=0)
    return page(
        request,
        "utilization.html",
        title="Utilization",
        sites=sites,
        site_id=site_id,
        filters=filters,
        first_day=first_day,
        last_day=last_day,
        devices=devices,
        weekdays=WEEKDAYS,
        peak=peak or 1,
    )


def _benchmark(
    request: Request, principal: Principal, db: Session, pool: Session
) -> tuple[BenchmarkFilters, list[Site], uuid.UUID, api_dose.PeerBenchmarkOut]:
    filters = parse_query(request, BenchmarkFilters)
    sites = _sites(db)
    site_id = _site(sites, filters.site_id)
    result = api_dose.benchmark(
        principal,
        db,
        pool,
        site_id,
        filters.exam_type,
        filters.metric,
        filters.country,
        filters.site_type,
        filters.device_class,
    )
    return filters, sites, site_id, result


@router.get("/benchmarks")
def benchmarks(
    request: Request, principal: api_dose.Reader, db: DbSession, pool: api_dose.PoolSession
) -> Response:
    """Own median against the peers' quartiles; suppressed groups say why."""
    filters, sites, site_id, result = _benchmark(request, principal, db, pool)
    query = request.url.query
    name = {s.id: s.name for s in sites}.get(site_id, "")
    # the CLI's table of the same answer (medcoop benchmark): one presentation
    view = benchmark_view(result.model_dump(mode="json"), site=name)
    return page(
        request,
        "benchmarks.html",
        title="Peer benchmarks",
        filters=filters,
        sites=sites,
        site_id=site_id,
        result=result,
        view=view,
        exam_types=EXAM_TYPES,
        chart_query=query,
    )


@router.get("/benchmarks/chart.json")
def benchmark_chart(
    request: Request, principal: api_dose.Reader, db: DbSession, pool: api_dose.PoolSession
) -> JSONResponse:
    """Box plots of the peers' site medians and pooled studies, with the own median."""
    filters, _, _, result = _benchmark(request, principal, db, pool)
    peers = result.peers
    if peers is None:
        return JSONResponse({"data": [], "empty": "Suppressed: " + "; ".join(result.notes)})
    boxes = [
        ("peer site medians", peers.site_median_quartiles),
        ("peer studies", peers.pooled_quartiles),
    ]
    data: list[dict[str, object]] = [
        {
            "type": "box",
            "name": name,
            "x": [name],
            "q1": [q[0]],
            "median": [q[1]],
            "q3": [q[2]],
            "lowerfence": [q[0]],
            "upperfence": [q[2]],
        }
        for name, q in boxes
    ]
    if result.own_median is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "own median",
                "x": [name for name, _q in boxes],
                "y": [result.own_median] * 2,
                "marker": {"size": 12, "symbol": "diamond", "color": "#8a1010"},
            }
        )
    layout = {
        "title": {"text": f"{filters.exam_type} {filters.metric}: own median among peers"},
        "yaxis": {"title": {"text": filters.metric}},
    }
    return JSONResponse({"data": data, "layout": layout})


class CompareQuery(BaseModel):
    """Which published protocol to hold against which own one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    published: uuid.UUID | None = None
    own: Annotated[str | None, Field(max_length=128)] = None
    modality: Annotated[str | None, Field(max_length=16)] = None


@router.get("/protocols")
def protocols(
    request: Request,
    principal: api_protocols.Reader,
    db: DbSession,
    pool: api_dose.PoolSession,
) -> Response:
    """The shared library, own protocols, a side-by-side comparison, publishing."""
    query = parse_query(request, CompareQuery)
    own = api_protocols.own(principal, db)
    library = api_protocols.library(principal, pool, query.modality)
    comparison = None
    if query.published is not None and query.own:
        comparison = api_protocols.compare(query.published, principal, db, pool, query.own)
    return page(
        request,
        "protocols.html",
        title="Protocols",
        own=own,
        library=library,
        query=query,
        comparison=comparison,
        may_publish=principal.can(Permission.MANAGE_DEVICES),
        notice="Protocol published." if request.query_params.get("done") == "publish" else None,
    )


@router.post("/protocols")
def publish(
    principal: api_protocols.Physicist,
    db: WriteSession,
    name: Annotated[str, Form(max_length=128)],
    description: Annotated[str, Form(max_length=4000)] = "",
    publisher: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Publish one own protocol to the library (the API's checks: ≥ 10 studies, opt-in)."""
    body = api_protocols.PublishIn(name=name, description=description, publisher=publisher)
    api_protocols.publish(body, principal, db)
    return RedirectResponse("/protocols?done=publish", status_code=303)
