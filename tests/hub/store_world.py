"""Store test helpers: approved vendors, published listings, sessions per tenant."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session

from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services.store import listings
from tests.hub.conftest import Tenant, make_tenant
from tests.store.manifests import EDGE_APP

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@contextmanager
def tenant_session(app: FastAPI, org_id: uuid.UUID | None) -> Iterator[Session]:
    """A writing session scoped to ``org_id`` (``None``: the platform, administering),
    committed at the end."""
    with app.state.session_factory() as session:
        scope_session(session, org_id if org_id is not None else ALL_TENANTS)
        begin_write(session)
        yield session
        session.commit()


@contextmanager
def catalogue(app: FastAPI, org_id: uuid.UUID | None = None) -> Iterator[Session]:
    """A session through the door for the catalogue."""
    with app.state.session_factory() as session:
        listings.catalogue_session(session, org_id)
        yield session


def make_vendor(app: FastAPI, name: str, slug: str, *, approve: bool = True) -> Tenant:
    """An organisation (with every role's token) registered, and approved, as a vendor."""
    tenant = make_tenant(app, name)
    with tenant_session(app, tenant.org_id) as session:
        listings.register_vendor(session, tenant.org_id, slug, name)
    if approve:
        with tenant_session(app, None) as session:
            listings.approve_vendor(session, tenant.org_id, by=None, now=NOW)
    return tenant


def app_manifest(vendor: str, name: str, **changes: Any) -> dict[str, Any]:
    """The test edge app as ``vendor``'s app ``name``, with top-level ``changes``."""
    out = copy.deepcopy(EDGE_APP)
    out.update(id=f"{vendor}.{name}", vendor=vendor)
    out.update(copy.deepcopy(changes))
    return out
