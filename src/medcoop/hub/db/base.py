"""Declarative base, column types and the ownership mixins shared by every hub model.

Every table that holds a tenant's data inherits :class:`TenantOwned`: its primary key
starts with ``org_id`` so the schema can be distributed by tenant (Citus
``create_distributed_table(..., 'org_id')``) and :mod:`medcoop.hub.db.tenancy` can
scope every ORM query by it. An object two organisations share (an order, a quote, a
trial, an entitlement between a vendor and a hospital) inherits :class:`TwoPartyOwned`
instead: both parties see it, no third does. A table that holds every tenant's data
together (a pooled block) is marked :class:`Pooled`: only a pooled session may touch it.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Pooled",
    "TenantOwned",
    "TwoPartyOwned",
    "UtcDateTime",
    "new_id",
    "new_ids",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, UTC-aware."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """Return a time-ordered random UUID (the layout of RFC 9562 UUIDv7).

    Time order keeps B-tree inserts at the right edge of the index, which matters for
    bulk ingest on PostgreSQL; 74 random bits keep ids unguessable enough for URLs.
    """
    return new_ids(1)[0]


#: The 80 low bits of a UUIDv7 less its version (4 bits) and variant (2 bits) fields.
_RANDOM_BITS = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_VERSION_VARIANT = (0x7 << 76) | (0x2 << 62)


def new_ids(n: int) -> list[uuid.UUID]:
    """Return ``n`` ids like :func:`new_id` (one clock read and one ``urandom`` call)."""
    millis = time.time_ns() // 1_000_000
    high = ((millis & ((1 << 48) - 1)) << 80) | _VERSION_VARIANT
    pool = os.urandom(10 * n)
    return [
        uuid.UUID(int=high | (int.from_bytes(pool[i : i + 10], "big") & _RANDOM_BITS))
        for i in range(0, 10 * n, 10)
    ]


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zone type, so values are normalised to UTC on the way in and
    tagged UTC on the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every hub model (analytics models included)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UtcDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class TenantOwned:
    """Mixin for tables owned by one organisation: ``org_id`` leads the primary key.

    Queries on subclasses are filtered by the session's tenant automatically (see
    :mod:`medcoop.hub.db.tenancy`); a subclass only declares its other key columns.
    """

    #: Declare a foreign key to ``organisations``. High-volume ingest tables set this to
    #: ``False``: on PostgreSQL the per-row FK checks (``SELECT ... FOR KEY SHARE``) cost
    #: 4x the ingest rate, and only ingest writes those tables, in one transaction with
    #: the rows they refer to.
    __tenant_fk__: bool = True

    @declared_attr
    def org_id(cls) -> Mapped[uuid.UUID]:
        if not cls.__dict__.get("__tenant_fk__", True):
            return mapped_column(primary_key=True, sort_order=-10)
        return mapped_column(
            ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )


class TwoPartyOwned:
    """Mixin for objects shared by two organisations: ``org_id`` and ``partner_org_id``.

    ``org_id`` leads the primary key, as for :class:`TenantOwned` (the row is filed, and
    sharded, with that party: the customer, whose data an order or an entitlement mostly
    is); ``partner_org_id`` is the other party (the vendor), indexed, so its reads are one
    index scan (a cross-shard query under Citus, as a vendor's own listing is). A session
    sees and may write a row when its tenant is either party; a third tenant never sees
    it (see :mod:`medcoop.hub.db.tenancy`). The two are different organisations.
    """

    @declared_attr
    def org_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )

    @declared_attr
    def partner_org_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)


class Pooled:
    """Marker for tables that hold every tenant's data together, not keyed by ``org_id``
    (a pooled block of every site's sketches): read and written only by a session
    opened for a purpose that grants the table (:func:`medcoop.hub.db.tenancy.pooled`)."""
