"""Tenant isolation, enforced in one place for every ORM statement of a hub session.

Every hub session is a :class:`TenantSession` whose ``info`` names its tenant
(:func:`scope_session`). Two listeners do the work, so that no router or service can
forget it:

- ``do_orm_execute`` adds ``org_id == :tenant`` to every SELECT, UPDATE and DELETE that
  touches a :class:`~medcoop.hub.db.base.TenantOwned` model (``with_loader_criteria``,
  which also reaches joined and lazily loaded relationships), and checks that every
  ORM bulk INSERT row carries the session's tenant;
- ``before_flush`` refuses unit-of-work writes of another tenant's objects.

A session with no tenant set refuses tenant-owned statements outright (fail closed).
System work that legitimately spans tenants (token lookup, enrollment, organisation
administration by the platform) opts out explicitly with :data:`ALL_TENANTS`.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from medcoop.hub.db.base import TenantOwned

__all__ = [
    "ALL_TENANTS",
    "TenantScopeError",
    "TenantSession",
    "check_rows_in_tenant",
    "current_tenant",
    "scope_session",
]

_TENANT_KEY: Final = "medcoop_tenant"


class _AllTenants:
    def __repr__(self) -> str:
        return "ALL_TENANTS"


#: Marker for system sessions that may read and write every tenant's rows.
ALL_TENANTS: Final = _AllTenants()


class TenantScopeError(RuntimeError):
    """A statement would have read or written outside the session's tenant."""


class TenantSession(Session):
    """The session class of the hub: scoped by tenant through the listeners below."""


def scope_session(session: Session, tenant: uuid.UUID | _AllTenants) -> Session:
    """Bind ``session`` to one tenant (an organisation id) or to :data:`ALL_TENANTS`.

    Returns the same session, for chaining.
    """
    if not isinstance(tenant, uuid.UUID | _AllTenants):
        raise TypeError(f"a tenant is an organisation UUID or ALL_TENANTS, not {tenant!r}")
    session.info[_TENANT_KEY] = tenant
    return session


def current_tenant(session: Session) -> uuid.UUID | _AllTenants | None:
    """Return the tenant ``session`` is bound to, or ``None`` when unset."""
    return session.info.get(_TENANT_KEY)


def _touches_tenant_tables(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


def _is_tenant_table(statement: Any) -> bool:
    # Core INSERTs on a model's Table (bulk ingest) carry no mapper: match the table.
    table = getattr(statement, "table", None)
    return table is not None and table.name in _tenant_table_names()


def _tenant_table_names() -> frozenset[str]:
    names = set()
    pending = list(TenantOwned.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if table is not None:
            names.add(table.name)
    return frozenset(names)


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    tenant = current_tenant(state.session)
    if tenant is ALL_TENANTS:
        return
    if state.is_insert:
        if _touches_tenant_tables(state) or _is_tenant_table(state.statement):
            _check_insert_rows(tenant, state.parameters)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if tenant is None:
        if _touches_tenant_tables(state):
            raise TenantScopeError("a tenant-owned table was queried by an unscoped session")
        return
    org_id = tenant
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.org_id == org_id,
            include_aliases=True,
            propagate_to_loaders=True,
        )
    )


def check_rows_in_tenant(session: Session, rows: Any) -> None:
    """Raise :class:`TenantScopeError` unless every row's ``org_id`` is the session's tenant.

    For writers that bypass the ORM for speed (bulk ingest): they call this first.
    """
    tenant = current_tenant(session)
    if tenant is ALL_TENANTS:
        return
    # ingest builds every row with the session's own tenant object: identity is enough
    if isinstance(rows, list) and all(
        isinstance(row, dict) and row.get("org_id") is tenant for row in rows
    ):
        return
    _check_insert_rows(tenant, rows)


def _check_insert_rows(tenant: object, parameters: Any) -> None:
    if tenant is None:
        raise TenantScopeError("rows were inserted into a tenant-owned table without a tenant")
    rows = parameters if isinstance(parameters, list | tuple) else [parameters]
    for row in rows:
        if isinstance(row, dict) and row.get("org_id") != tenant:
            raise TenantScopeError("a row for another tenant was inserted")


@event.listens_for(TenantSession, "before_flush")
def _check_flush(session: Session, _flush_context: UOWTransaction, _instances: object) -> None:
    tenant = current_tenant(session)
    if tenant is ALL_TENANTS:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, TenantOwned) and obj.org_id != tenant:
            raise TenantScopeError(
                f"{type(obj).__name__} of another tenant was written by a scoped session"
            )
