"""Alembic migrations: they build exactly the schema the models declare, on both back ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from medcoop.cli import app as cli
from medcoop.hub.db import migrate
from medcoop.hub.db.base import Base
from medcoop.hub.db.engine import make_engine
from medcoop.hub.db.registry import load_models
from medcoop.hub.settings import HubSettings

#: The store's full-text search structure, created by the migration beside the models
#: (hub/services/store/search.py): on SQLite an FTS5 table and its shadow tables, on
#: PostgreSQL an expression GIN index.
_SEARCH_TABLES = "store_search_fts"
_SEARCH_INDEX = "ix_store_listings_search"


def _modelled(name: object, type_: str, _parent: object) -> bool:
    if type_ == "index":
        return name != _SEARCH_INDEX
    return not (type_ == "table" and str(name).startswith(_SEARCH_TABLES))


def test_migrations_match_models(settings: HubSettings) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    load_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_name": _modelled}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_migrate_is_idempotent_and_keys_lead_with_org(settings: HubSettings) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    inspector = inspect(engine)
    global_tables = {"organisations", "users", "tokens", "alembic_version"}
    # the pooled benchmark blocks span tenants by design (docs/ARCHITECTURE.md, Analytics)
    global_tables.add("analytics_dose_blocks")
    # the ledger is one platform-wide log (docs/ARCHITECTURE.md, Ledger)
    global_tables |= {t for t in inspector.get_table_names() if t.startswith("ledger_")}
    global_tables |= {t for t in inspector.get_table_names() if t.startswith(_SEARCH_TABLES)}
    for table in set(inspector.get_table_names()) - global_tables:
        key = inspector.get_pk_constraint(table)["constrained_columns"]
        assert key[0] == "org_id", table
    engine.dispose()


def test_sqlite_pragmas(tmp_path: object) -> None:
    engine = make_engine(HubSettings(database_url=f"sqlite:///{tmp_path}/p.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() > 0
    engine.dispose()


def test_cli_migrate_uses_medcoop_home_by_default(tmp_path: object, monkeypatch: object) -> None:
    monkeypatch.setenv("MEDCOOP_HOME", str(tmp_path))  # type: ignore[attr-defined]
    result = CliRunner().invoke(cli, ["hub", "migrate"])
    assert result.exit_code == 0, result.output
    assert migrate.head_revision() in result.output
    assert (tmp_path / "hub" / "hub.db").is_file()  # type: ignore[operator]
