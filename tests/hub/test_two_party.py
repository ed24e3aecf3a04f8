"""Two-party objects (orders, quotes, trials, entitlements): both parties, no third.

A test model on its own metadata (so the hub's schema and migrations stay as they are),
with the hub's session class, listeners and engine guard on a real SQLite file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import String, create_engine, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from medcoop.hub.db.access import Access, Purpose, observe
from medcoop.hub.db.base import TwoPartyOwned
from medcoop.hub.db.tenancy import (
    TenantScopeError,
    TenantSession,
    guard_engine,
    pooled,
    scope_session,
)


class _Base(DeclarativeBase):
    pass


class _Organisation(_Base):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class _Quote(TwoPartyOwned, _Base):
    """A vendor's quote to a hospital: filed with the hospital (``org_id``)."""

    __tablename__ = "test_quotes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    item: Mapped[str] = mapped_column(String(40))


HOSPITAL, VENDOR, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = guard_engine(create_engine(f"sqlite:///{tmp_path / 'two.db'}"))
    _Base.metadata.create_all(engine)
    made = sessionmaker(engine, class_=TenantSession, expire_on_commit=False)
    with made() as session:
        pooled(session, Purpose.ADMINISTER)
        session.add_all(_Organisation(id=org) for org in (HOSPITAL, VENDOR, OTHER))
        session.commit()
    yield made
    engine.dispose()


def _quote(factory: sessionmaker[Session], as_tenant: uuid.UUID, **parties: uuid.UUID) -> None:
    with factory() as session:
        scope_session(session, as_tenant)
        session.add(_Quote(item="dose app", **parties))
        session.commit()


def _visible(factory: sessionmaker[Session], tenant: uuid.UUID) -> list[str]:
    with factory() as session:
        scope_session(session, tenant)
        return list(session.scalars(select(_Quote.item).order_by(_Quote.item)))


def test_both_parties_see_it_and_no_third(factory: sessionmaker[Session]) -> None:
    _quote(factory, VENDOR, org_id=HOSPITAL, partner_org_id=VENDOR)
    assert _visible(factory, HOSPITAL) == ["dose app"]
    assert _visible(factory, VENDOR) == ["dose app"]
    assert _visible(factory, OTHER) == []
    with factory() as session:
        scope_session(session, OTHER)
        assert session.scalar(select(func.count()).select_from(_Quote)) == 0


def test_either_party_may_write_it_a_third_may_not(factory: sessionmaker[Session]) -> None:
    _quote(factory, HOSPITAL, org_id=HOSPITAL, partner_org_id=VENDOR)
    with factory() as session:
        scope_session(session, OTHER)
        changed = session.execute(update(_Quote).values(item="stolen"))
        assert changed.rowcount == 0  # the third party's UPDATE matches nothing
        session.commit()
    with factory() as session:
        scope_session(session, VENDOR)
        quote = session.scalars(select(_Quote)).one()
        quote.item = "dose app, 3 years"
        session.commit()
    assert _visible(factory, HOSPITAL) == ["dose app, 3 years"]


def test_a_third_party_cannot_file_one_between_others(factory: sessionmaker[Session]) -> None:
    with pytest.raises(TenantScopeError):
        _quote(factory, OTHER, org_id=HOSPITAL, partner_org_id=VENDOR)
    with pytest.raises(TenantScopeError):  # two parties, not one twice
        _quote(factory, HOSPITAL, org_id=HOSPITAL, partner_org_id=HOSPITAL)
    with factory() as session:  # nor hand it over to someone else
        scope_session(session, VENDOR)
        session.add(_Quote(item="x", org_id=HOSPITAL, partner_org_id=VENDOR))
        session.commit()
        quote = session.scalars(select(_Quote)).one()
        quote.partner_org_id = OTHER
        with pytest.raises(TenantScopeError):
            session.commit()
    assert _visible(factory, OTHER) == []


def test_core_reads_of_two_party_rows_go_through_the_session(
    factory: sessionmaker[Session],
) -> None:
    _quote(factory, VENDOR, org_id=HOSPITAL, partner_org_id=VENDOR)
    seen: list[Access] = []
    stop = observe(seen.append)
    try:
        with factory() as session:
            scope_session(session, OTHER)
            with pytest.raises(TenantScopeError):
                session.connection().execute(select(_Quote.item)).all()
        with factory() as session:
            pooled(session, Purpose.PEER_BENCHMARK)  # grants no quotes
            with pytest.raises(TenantScopeError):
                session.scalars(select(_Quote)).all()
        with factory() as session:
            pooled(session, Purpose.ADMINISTER)
            assert len(session.scalars(select(_Quote)).all()) == 1
    finally:
        stop()
    assert [a.tables for a in seen] == [frozenset({"test_quotes"})]
