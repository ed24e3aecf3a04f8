"""Engines and sessions for both back ends: embedded SQLite and production PostgreSQL.

SQLite gets WAL (readers never block the writer), enforced foreign keys and a busy
timeout so that several workers can share one file; PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from medcoop.hub.db.tenancy import TenantSession, guard_engine
from medcoop.hub.settings import HubSettings

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "begin_write", "make_engine", "make_session_factory"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "medcoop_write"


def make_engine(settings: HubSettings) -> Engine:
    """Return an engine for ``settings``' database, creating the SQLite folder if needed.

    Parameters
    ----------
    settings
        The hub settings; ``resolved_database_url`` picks the back end.
    """
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _create_private(Path(url.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1e3}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's implicit BEGIN is deferred: a read-then-write transaction can then fail
        # with "database is locked" without waiting. Writers ask for the lock up front.
        event.listen(engine, "begin", _sqlite_begin)
        return guard_engine(engine)
    return guard_engine(
        create_engine(
            url, pool_size=settings.pool_size, max_overflow=settings.pool_size, pool_pre_ping=True
        )
    )


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 in a 0700 folder (SQLite gives its -wal/-shm the same)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" hook issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction as a writer (SQLite: ``BEGIN IMMEDIATE``).

    Call first in a unit of work that reads and then writes, so that concurrent workers
    queue on the busy timeout instead of failing; a no-op on PostgreSQL.
    """
    session.connection(execution_options={WRITE_OPTION: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the factory of tenant-scoped sessions every request and service uses."""
    return sessionmaker(engine, class_=TenantSession, expire_on_commit=False)
