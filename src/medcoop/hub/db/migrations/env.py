"""Alembic environment of the hub: runs on the connection :mod:`..migrate` hands it."""

from __future__ import annotations

from alembic import context

import medcoop.hub.db.registry  # noqa: F401 - imports every model module into the metadata
from medcoop.hub.db.base import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
