"""The multi-tenant hub: idempotent ingest of edge records, tenancy, people and tokens.

Layout (one name per concern, as ``DESIGN.md`` asks):

- :mod:`medcoop.hub.settings` — the frozen :class:`HubSettings` every part is built from;
- :mod:`medcoop.hub.app` — :func:`create_app`, the FastAPI application factory;
- :mod:`medcoop.hub.db` — SQLAlchemy models, engine set-up, tenant scoping, Alembic migrations;
- :mod:`medcoop.hub.services` — domain logic behind the routers, one package per domain
  (accounts, ingest, analytics);
- :mod:`medcoop.hub.api` — one router per resource, versioned under ``/api/v1``;
- :mod:`medcoop.hub.cli` — the ``medcoop hub`` administration commands.
"""

from __future__ import annotations

__all__: list[str] = []
