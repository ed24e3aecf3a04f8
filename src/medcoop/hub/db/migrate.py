"""Schema migrations (Alembic), run on start or by ``medcoop hub migrate``.

The migration scripts ship inside the package (``db/migrations/versions``). On PostgreSQL
an advisory lock serialises concurrent starts, so N hub instances booting together on one
database migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant naming the hub's migration lock (pg_advisory_lock takes a bigint).
_PG_LOCK_ID = 0x6D6564636F6F70


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest revision the packaged migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the hub's migrations define no revision")
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``.

    Parameters
    ----------
    engine
        The hub's engine (SQLite or PostgreSQL).
    revision
        Alembic revision to reach; ``"head"`` by default.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
