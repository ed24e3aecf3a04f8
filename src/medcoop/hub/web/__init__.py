"""The hub's web dashboard: server-rendered pages (FastAPI + Jinja2), plain HTML forms.

Pages call the same services as the API, behind the same dependencies
(:mod:`medcoop.hub.api.deps`): the web session cookie authenticates, forms carry the
CSRF token as a hidden field, and each page requires the permission its API endpoint
requires. :mod:`medcoop.hub.web.routing` turns domain errors into pages (403, a 404 for
another tenant's object, a 400 naming the bad field). Charts are JSON figures drawn by
plotly.js, served from the installed ``plotly`` package (no CDN).

Adding a page: a module here with ``router = APIRouter(route_class=PageRoute, ...)``,
its template under ``templates/``, and its name in :data:`PAGE_MODULES`.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

__all__ = ["PAGE_MODULES", "router"]

PAGE_MODULES: tuple[str, ...] = (
    "medcoop.hub.web.session",
    "medcoop.hub.web.overview",
    "medcoop.hub.web.dose",
    "medcoop.hub.web.alerts",
    "medcoop.hub.web.analytics",
    "medcoop.hub.web.admin",
    "medcoop.hub.web.apps",
    "medcoop.hub.web.store_installs",
    "medcoop.hub.web.store",
    "medcoop.hub.web.ledger",
)

router = APIRouter(include_in_schema=False)
for _name in PAGE_MODULES:
    try:
        router.include_router(importlib.import_module(_name).router)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
