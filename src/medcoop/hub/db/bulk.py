"""Batch-sized statements for the ingest path: driver-level bulk writes (COPY on
PostgreSQL, one executemany on SQLite) and ``IN`` lists of hundreds of values.

SQLAlchemy's per-row parameter compilation costs more than the database's own work at
ingest rates, so these hand plain tuples to the driver, converted by the same dialect
type processors SQLAlchemy would apply. They bypass the ORM's tenancy listener, so each
checks every row's ``org_id`` first (:func:`~medcoop.hub.db.tenancy.check_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, and_, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medcoop.hub.db.base import UtcDateTime
from medcoop.hub.db.tenancy import check_rows

__all__ = ["among", "bulk_insert", "bulk_update", "insert_ignore"]


def bulk_insert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    raw: frozenset[str] = frozenset(),
) -> None:
    """INSERT ``rows`` (dicts with identical keys) in one driver call (COPY on PostgreSQL).

    ``raw`` names columns whose values are already in the driver's form and skip the
    type's conversion: JSON columns given JSON text (pydantic writes it faster than
    ``json.dumps`` of a dumped dict), binary columns given ``bytes``.
    """
    if not rows:
        return
    check_rows(session, table, rows)
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    # Column by column: one comprehension per converted column is several times faster
    # than a generator per row.
    columns: list[list[Any]] = []
    for name in names:
        values = [row[name] for row in rows]
        proc = None if name in raw else _processor(table.c[name].type, dialect)
        if proc is None:
            pass
        elif all(v is values[0] for v in values):
            # one object in every row (the tenant, the site, the batch's time): convert once
            values = [None if values[0] is None else proc(values[0])] * len(values)
        else:
            values = [None if v is None else proc(v) for v in values]
        columns.append(values)
    params = list(zip(*columns, strict=True))
    columns = ", ".join(names)
    if dialect.name == "postgresql":
        # COPY: one stream, no per-row statement; several times an executemany pipeline.
        sql = f"COPY {table.name} ({columns}) FROM STDIN"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(sql) as copy:
                for row in params:
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:
            # Raw driver errors, wrapped as SQLAlchemy would (UniqueViolation -> IntegrityError).
            raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error) from exc
        return
    marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(names))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", params)


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows``, skipping those that conflict with a stored row (PostgreSQL only).

    ``INSERT ... ON CONFLICT DO NOTHING``: a row another transaction is inserting waits
    for it instead of failing.
    """
    if not rows:
        return
    check_rows(session, table, rows)
    statement = postgresql.insert(table).on_conflict_do_nothing()
    session.connection().execute(statement, rows)


def _processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UtcDateTime) and dialect.name == "sqlite":
        return _sqlite_utc_text
    if isinstance(column_type, JSON):
        return json.dumps  # what the JSON type's processor calls, without its wrapping
    # _cached_bind_processor is the dialect-specific converter SQLAlchemy itself applies.
    return column_type._cached_bind_processor(dialect)


def _sqlite_utc_text(value: datetime) -> str:
    # What UtcDateTime then SQLite's DATETIME processor store, at C speed (isoformat).
    if value.tzinfo is None:
        raise ValueError("naive datetime given where a UTC-aware one is required")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _by_key(table: Table, key: Sequence[str]) -> Any:
    return and_(*(table.c[name] == bindparam(f"k_{name}") for name in key))


def bulk_update(
    session: Session, table: Table, key: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """UPDATE one row per dict, found by the ``key`` columns (``org_id`` among them)."""
    if not rows:
        return
    if "org_id" not in key:
        raise ValueError("a tenant-owned row is found by its org_id too")
    check_rows(session, table, rows)
    values = [name for name in rows[0] if name not in key]
    statement = (
        table.update()
        .where(_by_key(table, key))
        .values({name: bindparam(f"v_{name}") for name in values})
    )
    params = [
        {**{f"k_{n}": row[n] for n in key}, **{f"v_{n}": row[n] for n in values}} for row in rows
    ]
    session.connection().execute(statement, params)


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``, one parameter.

    With 500 values, ``IN`` renders and sends 500 parameters (each with a type cast) and
    psycopg parses a new query text per list length: several ms per statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(list(values))
