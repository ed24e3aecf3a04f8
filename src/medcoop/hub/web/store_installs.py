"""Installs: which store app versions each site's edge runs, and the packages refused.

The page shows ``GET /api/v1/store/installs`` (the same endpoint function, behind the
same permission), so a person sees here exactly what the API shows them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from medcoop.hub.api import store_deploy as api
from medcoop.hub.api.deps import DbSession
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/installs")
def installs(request: Request, principal: api.Reader, db: DbSession) -> Response:
    """Installed app versions per site, and the latest refused packages."""
    found = api.installs(db, principal)
    return page(
        request,
        "store_installs.html",
        title="Installs",
        installs=found.installs,
        refusals=found.refusals,
    )
