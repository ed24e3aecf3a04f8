"""Tenant isolation, enforced in one place for every statement of a hub session.

Every hub session is a :class:`TenantSession` bound to one scope:

- a **tenant** (an organisation id, :func:`scope_session`): it reads and writes only
  that organisation's rows: :class:`~medcoop.hub.db.base.TenantOwned` rows it owns,
  :class:`~medcoop.hub.db.base.TwoPartyOwned` rows it is a party to, never a
  :class:`~medcoop.hub.db.base.Pooled` table;
- a **purpose** (:func:`pooled`, the one door to pooled data): the session sees the
  tables the :class:`~medcoop.hub.db.access.Purpose` grants, across tenants, and no other
  owned or pooled table (the caller's own data is read through the caller's session);
  every statement is handed to the access observers (:func:`medcoop.hub.db.access.observe`;
  the ledger records them), with the tenant on whose behalf it ran.

The listeners do the work, so that no router or service can forget it:

- ``do_orm_execute`` adds the tenant's criteria to every SELECT, UPDATE and DELETE that
  touches an owned model (``with_loader_criteria``, which also reaches joined and lazily
  loaded relationships), checks ORM bulk INSERT rows, and marks the statement as checked;
- ``before_flush`` checks unit-of-work writes;
- the engine's ``before_execute`` (:func:`guard_engine`) refuses any SELECT of an owned or
  pooled table that did not come through the session (``session.connection().execute``);
  Core reads of pooled tables go through :func:`pooled_execute` instead.

Writers that bypass the ORM for speed (bulk ingest) call :func:`check_rows`: every write
of an owned row, whichever path, ends in the one check :func:`_check_write`.
A session with no scope refuses owned statements outright (fail closed).
:data:`ALL_TENANTS` is kept as the spelling of ``pooled(session, Purpose.ADMINISTER)``
for platform administration (CLI, provisioning, tests); services never use it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, Table, event
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    UOWTransaction,
    with_loader_criteria,
)
from sqlalchemy.sql import visitors

from medcoop.hub.db.access import (
    EVERY_TABLE,
    Access,
    Actor,
    Concern,
    Purpose,
    grants,
    record,
)
from medcoop.hub.db.base import Pooled, TenantOwned, TwoPartyOwned

__all__ = [
    "ALL_TENANTS",
    "PooledScope",
    "TenantScopeError",
    "TenantSession",
    "act_as",
    "check_rows",
    "concerns",
    "current_purpose",
    "current_tenant",
    "guard_engine",
    "pooled",
    "pooled_execute",
    "scope_session",
]

_TENANT_KEY: Final = "medcoop_tenant"
_ACTOR_KEY: Final = "medcoop_actor"
_reads = itertools.count(1)  # numbers each pooled read, for the ledger's one entry per read
_CHECKED: Final = "medcoop_scoped"


class _AllTenants:
    def __repr__(self) -> str:
        return "ALL_TENANTS"


#: Marker for platform administration: ``scope_session(s, ALL_TENANTS)`` is
#: ``pooled(s, Purpose.ADMINISTER)`` (every table, every tenant, recorded).
ALL_TENANTS: Final = _AllTenants()


class TenantScopeError(RuntimeError):
    """A statement would have read or written outside the session's scope."""


class TenantSession(Session):
    """The session class of the hub: scoped by tenant through the listeners below."""


@dataclass(frozen=True, slots=True)
class PooledScope:
    """A session's scope when it reads across tenants: why, and for whom.

    ``tenant`` is the organisation on whose behalf (``None``: the platform); tables
    outside the purpose's grant stay inside it. ``actor`` is who asked (for the ledger),
    ``read`` this read's number.
    """

    purpose: Purpose
    tenant: uuid.UUID | None
    actor: Actor | None = None
    read: int = 0

    def access(self, session: Session, tables: frozenset[str], action: str,
               concern: Concern | None = None) -> Access:
        """The :class:`Access` record of one statement of this read on ``session``."""
        return Access(
            self.purpose, self.tenant, tables, action,
            actor=self.actor, bind=session.get_bind(), read=self.read, concern=concern,
        )

    def crosses(self, table: str) -> bool:
        """Whether this scope reads and writes ``table`` across tenants."""
        granted = grants(self.purpose)
        return granted is EVERY_TABLE or table in granted


def scope_session(session: Session, tenant: uuid.UUID | _AllTenants) -> Session:
    """Bind ``session`` to one tenant (an organisation id), or to :data:`ALL_TENANTS`.

    Returns the same session, for chaining.
    """
    if isinstance(tenant, _AllTenants):
        return pooled(session, Purpose.ADMINISTER)
    if not isinstance(tenant, uuid.UUID):
        raise TypeError(f"a tenant is an organisation UUID or ALL_TENANTS, not {tenant!r}")
    session.info[_TENANT_KEY] = tenant
    return session


def act_as(session: Session, actor: Actor) -> Session:
    """Say who ``session``'s pooled reads are for (the ledger's ``who``); returns it.

    The API's pooled-session dependency sets the caller; a later :func:`pooled` on the
    session takes it unless given its own ``actor``.
    """
    session.info[_ACTOR_KEY] = actor
    return session


def pooled(
    session: Session,
    purpose: Purpose,
    *,
    tenant: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> Session:
    """The door to pooled data: bind ``session`` to read across tenants for ``purpose``.

    Parameters
    ----------
    session
        A fresh session, or one already pooled. A session scoped to a tenant is never
        widened (its caller would silently read more than it asked for): open another.
    purpose
        Why; it grants the tables read across tenants (:func:`~.access.grants`).
    tenant
        The organisation on whose behalf, if any: other owned tables stay inside it.
    actor
        Who asked, for the access log (default: the session's :func:`act_as`).

    Returns the same session, for chaining. Each call is one read in the access log.
    """
    held = session.info.get(_TENANT_KEY)
    if isinstance(held, uuid.UUID):
        raise TenantScopeError("a tenant's session is not widened: open a pooled session")
    who = actor if actor is not None else session.info.get(_ACTOR_KEY)
    session.info[_TENANT_KEY] = PooledScope(Purpose(purpose), tenant, who, next(_reads))
    return session


def concerns(
    session: Session,
    *,
    pseudonyms: Sequence[str] = (),
    records: int | None = None,
    sites: int | None = None,
) -> None:
    """Tell the access log what the current pooled read of ``session`` concerned.

    ``pseudonyms`` for a read of identified patients' records (an app run, an export);
    ``records`` and ``sites`` for an aggregate (a benchmark). Called by the service once
    it knows, after its statements; the ledger writes it with the read's entry.
    """
    scope = session.info.get(_TENANT_KEY)
    if not isinstance(scope, PooledScope):
        raise TenantScopeError("only a pooled read concerns other tenants' patients")
    concern = Concern(tuple(pseudonyms), records, sites)
    record(scope.access(session, frozenset(), "concerns", concern))


def current_tenant(session: Session) -> uuid.UUID | _AllTenants | None:
    """Return the tenant ``session`` is bound to, :data:`ALL_TENANTS` when it is pooled
    (for any purpose), or ``None`` when unset."""
    scope = session.info.get(_TENANT_KEY)
    return ALL_TENANTS if isinstance(scope, PooledScope) else scope


def current_purpose(session: Session) -> Purpose | None:
    """Return the purpose a pooled ``session`` was opened for, else ``None``."""
    scope = session.info.get(_TENANT_KEY)
    return scope.purpose if isinstance(scope, PooledScope) else None


def _kind(cls: type) -> type | None:
    for family in (TenantOwned, TwoPartyOwned, Pooled):
        if issubclass(cls, family):
            return family
    return None


_owned: dict[str, type] | None = None


@event.listens_for(Mapper, "mapper_configured")
def _forget_owned(_mapper: Mapper[Any], _cls: type) -> None:
    global _owned
    _owned = None


def _owned_classes() -> dict[str, type]:
    """Table name → model class of every owned or pooled model (kept until a new model
    is mapped)."""
    global _owned
    if _owned is not None:
        return _owned
    found: dict[str, type] = {}
    pending: list[type] = [TenantOwned, TwoPartyOwned, Pooled]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = cls.__dict__.get("__table__")
        if table is not None:
            found[table.name] = cls
    _owned = found
    return found


def _tables_of(statement: Any) -> set[str]:
    return {
        element.name
        for element in visitors.iterate(statement)
        if isinstance(element, Table)
    }


def _tenant_criteria(org_id: uuid.UUID) -> list[Any]:
    """The criteria of a tenant's session: its own rows, and the two-party rows it is a
    party to (on the mixins, so they reach every model and relationship load)."""
    return [
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.org_id == org_id,
            include_aliases=True,
            propagate_to_loaders=True,
        ),
        with_loader_criteria(
            TwoPartyOwned,
            lambda cls: (cls.org_id == org_id) | (cls.partner_org_id == org_id),
            include_aliases=True,
            propagate_to_loaders=True,
        ),
    ]


def _action(state: ORMExecuteState) -> str:
    if state.is_insert:
        return "insert"
    if state.is_update:
        return "update"
    if state.is_delete:
        return "delete"
    return "select"


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_insert or state.is_update or state.is_delete):
        return
    scope = state.session.info.get(_TENANT_KEY)
    state.update_execution_options(**{_CHECKED: True})
    owned = _owned_classes()
    # the statement's tables, not only its entities: select(func.count()).select_from(M)
    # has no mapper of M among its top-level entities
    classes = {m.class_ for m in state.all_mappers if m.class_ in owned.values()}
    classes.update(owned[name] for name in _tables_of(state.statement) if name in owned)
    if state.is_insert:
        for cls in classes:
            _check_write(
                scope, cls.__table__.name, _insert_parties(cls, state.parameters), state.session
            )
        return
    if isinstance(scope, PooledScope):
        names = frozenset(cls.__table__.name for cls in classes)
        for name in names:
            if not scope.crosses(name):
                raise TenantScopeError(_refusal(scope, name))
        if names:
            record(scope.access(state.session, names, _action(state)))
        return
    refused = [c for c in classes if scope is None or issubclass(c, Pooled)]
    if refused:
        raise TenantScopeError(_refusal(scope, refused[0].__table__.name))
    if scope is not None:
        state.statement = state.statement.options(*_tenant_criteria(scope))


def _refusal(scope: object, table: str) -> str:
    if isinstance(scope, PooledScope):
        return f"purpose {scope.purpose.value!r} does not reach {table} across tenants"
    if scope is None:
        return f"{table} was touched by an unscoped session"
    return f"{table} is pooled data: open a pooled session for it"


def _insert_parties(cls: type, parameters: Any) -> list[tuple[Any, ...]]:
    rows = parameters if isinstance(parameters, list | tuple) else [parameters]
    two = issubclass(cls, TwoPartyOwned)
    return [
        (row.get("org_id"), row.get("partner_org_id")) if two else (row.get("org_id"),)
        for row in rows
        if isinstance(row, dict)
    ]


def check_rows(session: Session, table: Table, rows: Any) -> None:
    """Raise :class:`TenantScopeError` unless the session may write every row of ``rows``
    into ``table``: for writers that bypass the ORM for speed (bulk ingest)."""
    scope = session.info.get(_TENANT_KEY)
    cls = _owned_classes().get(table.name)
    if cls is None:
        return
    # ingest builds every row with the session's own tenant object: identity is enough
    if (
        isinstance(scope, uuid.UUID)
        and issubclass(cls, TenantOwned)
        and isinstance(rows, list)
        and all(isinstance(row, dict) and row.get("org_id") is scope for row in rows)
    ):
        return
    _check_write(scope, table.name, _insert_parties(cls, rows), session)


def _check_write(
    scope: object,
    table: str,
    parties: Iterable[tuple[Any, ...]],
    session: Session,
) -> None:
    """The one check of every write of an owned row: each row's parties against the scope.

    ``parties`` holds each row's ``(org_id,)``, or ``(org_id, partner_org_id)`` for a
    two-party row. A pooled scope writes its granted tables across tenants (recorded)
    and no other.
    """
    if isinstance(scope, PooledScope):
        if not scope.crosses(table):
            raise TenantScopeError(_refusal(scope, table))
        record(scope.access(session, frozenset({table}), "write"))
        return
    if scope is None:
        raise TenantScopeError(_refusal(None, table))
    for row in parties:
        if len(row) == 2 and row[0] == row[1]:
            raise TenantScopeError("a two-party row names one organisation twice")
        if scope not in row or row == (None,):
            raise TenantScopeError(f"a row of {table} for another tenant was written")


@event.listens_for(TenantSession, "before_flush")
def _check_flush(session: Session, _flush_context: UOWTransaction, _instances: object) -> None:
    scope = session.info.get(_TENANT_KEY)
    for obj in (*session.new, *session.dirty, *session.deleted):
        family = _kind(type(obj))
        if family is None:
            continue
        if family is Pooled:
            parties: tuple[Any, ...] = ()
        elif family is TwoPartyOwned:
            parties = (obj.org_id, obj.partner_org_id)  # type: ignore[attr-defined]
        else:
            parties = (obj.org_id,)  # type: ignore[attr-defined]
        table = type(obj).__table__.name  # type: ignore[attr-defined]
        if family is Pooled and not (isinstance(scope, PooledScope) and scope.crosses(table)):
            raise TenantScopeError(_refusal(scope, table))
        _check_write(scope, table, [parties], session)


def pooled_execute(session: Session, statement: Any, *parameters: Any) -> Any:
    """Execute a Core ``statement`` through the door (the fast path of pooled reads and
    of the pooled blocks' upsert).

    The session must be pooled for a purpose that grants every owned or pooled table the
    statement touches; the access is recorded, and the statement marked as checked so
    that :func:`guard_engine` lets it pass.
    """
    scope = session.info.get(_TENANT_KEY)
    owned = _owned_classes()
    tables = _tables_of(statement) & set(owned)
    if not isinstance(scope, PooledScope):
        raise TenantScopeError("pooled data is read through a pooled session")
    for table in tables:
        if not scope.crosses(table):
            raise TenantScopeError(_refusal(scope, table))
    if tables:
        action = "select" if getattr(statement, "is_select", False) else "write"
        record(scope.access(session, frozenset(tables), action))
    marked = statement.execution_options(**{_CHECKED: True})
    return session.connection().execute(marked, *parameters)


def guard_engine(engine: Engine) -> Engine:
    """Refuse, on ``engine``, every SELECT of an owned or pooled table that bypassed the
    session's scoping (a Core read on ``session.connection()``). Returns ``engine``."""

    @event.listens_for(engine, "before_execute")
    def _guard(
        _conn: Any, clause: Any, _multi: Any, _params: Any, options: Any
    ) -> None:
        if options.get(_CHECKED) or not getattr(clause, "is_select", False):
            return
        if _tables_of(clause) & set(_owned_classes()):
            raise TenantScopeError("an owned table was read around the tenancy filter")

    return engine
