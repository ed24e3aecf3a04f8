"""The overview page: this week's and month's studies, open alerts, edges, DRL exceedances.

Each edge's last contact, backlog and quarantine counts by reason are the API's
``GET /api/v1/edges`` answer, printed by :func:`~medcoop.hub.presenters.edges_view`.
Every number comes from one grouped statement (studies, alerts, edges) or from
:func:`~medcoop.hub.services.analytics.drl_comparisons` over the last 90 days, so
the page costs the same few statements however many sites the organisation has.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from medcoop.hub.api.deps import DbSession, require
from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import Site, Study
from medcoop.hub.presenters.edges import edges_out, edges_view
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.edges import edge_overview
from medcoop.hub.web.routing import PageRoute, page
from medcoop.output import View

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
DRL_WINDOW = timedelta(days=90)


def _volumes(db: Session, week_from: Any, month_from: Any) -> list[dict[str, Any]]:
    rows = db.execute(
        select(
            Study.site_id,
            Study.modality,
            func.sum(case((Study.study_at >= week_from, 1), else_=0)),
            func.count(),
        )
        .where(Study.study_at >= month_from)
        .group_by(Study.site_id, Study.modality)
        .order_by(Study.site_id, Study.modality)
    ).all()
    return [{"site_id": s, "modality": m, "week": int(w or 0), "month": n} for s, m, w, n in rows]


def _edges(db: Session, principal: Principal) -> View | None:
    # the API's GET /api/v1/edges needs the directory permission: shown only with it
    if not principal.can(Permission.READ_DIRECTORY):
        return None
    return edges_view(edges_out(edge_overview(db, principal.org_id)).model_dump(mode="json"))


@router.get("/overview")
def overview(request: Request, principal: Reader, db: DbSession) -> Response:
    """Studies this week and month per site and modality, alerts, edges, DRL exceedances."""
    now = utcnow()
    week_from = now - timedelta(days=7)
    month_from = now - timedelta(days=30)
    sites = {s.id: s for s in db.scalars(select(Site).order_by(Site.name))}
    alerts = dict(db.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all())
    comparisons = analytics.site_dlp_against_drls(db, from_at=now - DRL_WINDOW)
    exceeded = [c for c in comparisons if c.exceeds]
    return page(
        request,
        "overview.html",
        title="Overview",
        sites=sites,
        site_names={str(k): s.name for k, s in sites.items()},
        volumes=_volumes(db, week_from, month_from),
        alerts=alerts,
        edges=_edges(db, principal),
        comparisons=comparisons,
        exceeded=exceeded,
        drl_days=DRL_WINDOW.days,
    )
