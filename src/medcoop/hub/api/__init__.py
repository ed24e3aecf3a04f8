"""The hub's HTTP API: one router per resource, versioned under ``/api/v1``.

:data:`ROUTER_MODULES` lists the modules whose ``router`` the app mounts, in order.

Adding a resource (e.g. analytics) takes four files and one line:

1. **Model** — ``hub/db/analytics_models.py``: classes deriving from
   ``(TenantOwned, Base)`` (``from medcoop.hub.db.base import Base, TenantOwned``). The
   mixin puts ``org_id`` first in the primary key, and every ORM query on the class is then
   filtered by the caller's organisation automatically (``hub/db/tenancy.py``); write
   ``select(MyModel)`` and never filter by ``org_id`` yourself. ``hub/db/registry.py``
   already imports ``medcoop.hub.db.analytics_models`` when it exists.
2. **Migration** — ``hub/db/migrations/versions/NNNN_<name>.py``: copy the header of
   ``0001_core.py``, set ``revision = "NNNN_<name>"`` and ``down_revision`` to the current
   head (``medcoop hub migrate --show-head`` prints it); ``op.create_table`` with
   ``sa.PrimaryKeyConstraint("org_id", ...)`` and a ``ForeignKeyConstraint`` to
   ``organisations.id``. ``tests/hub`` checks that migrations and models agree.
3. **Service** — ``hub/services/analytics/<x>.py``: functions taking a ``Session`` (already
   scoped) and raising :mod:`medcoop.hub.errors`.
4. **Router** — ``hub/api/analytics_<x>.py`` with ``router = APIRouter(prefix="/api/v1",
   tags=[...])``; endpoints take ``db: DbSession`` (scoped session) and
   ``principal = Depends(require(Permission.READ_STUDIES))`` from
   :mod:`medcoop.hub.api.deps`. Then add its module name to :data:`ROUTER_MODULES` below
   (the one-line edit). Missing modules are skipped, so the line may land first.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

__all__ = ["ROUTER_MODULES", "load_routers"]

ROUTER_MODULES: tuple[str, ...] = (
    "medcoop.hub.api.health",
    "medcoop.hub.api.enroll",
    "medcoop.hub.api.ingest",
    "medcoop.hub.api.auth",
    "medcoop.hub.api.me",
    "medcoop.hub.api.organisations",
    "medcoop.hub.api.sites",
    "medcoop.hub.api.devices",
    "medcoop.hub.api.users",
    "medcoop.hub.api.studies",
    "medcoop.hub.api.analytics_dose",
    "medcoop.hub.api.analytics_studies",
    "medcoop.hub.api.analytics_alerts",
    "medcoop.hub.api.analytics_protocols",
    "medcoop.hub.api.edges",
    "medcoop.hub.api.ledger",
    "medcoop.hub.api.apps",
    "medcoop.hub.api.store",
    "medcoop.hub.api.store_tuf",
    "medcoop.hub.api.store_deploy",
    # analytics routers go here, e.g. "medcoop.hub.api.analytics_dose",
    "medcoop.hub.web",  # the dashboard's pages (not under /api; left out of the OpenAPI)
)


def load_routers() -> list[APIRouter]:
    """Return the ``router`` of every module in :data:`ROUTER_MODULES` that exists."""
    routers = []
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        routers.append(module.router)
    return routers
