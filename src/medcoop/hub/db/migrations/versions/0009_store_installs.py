"""store: installs of app versions on edges, as reported by the edges (audit trail)

Revision ID: 0009_store_installs
Revises: 0008_store
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_store_installs"
down_revision: str | Sequence[str] | None = "0008_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_install_events",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("app_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "site_id"],
            ["sites.org_id", "sites.id"],
            name=op.f("fk_store_install_events_org_id_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_store_install_events_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_store_install_events")),
    )
    op.create_index(
        "ix_store_install_events_site_app",
        "store_install_events",
        ["org_id", "site_id", "app_id", "at"],
    )


def downgrade() -> None:
    op.drop_index("ix_store_install_events_site_app", table_name="store_install_events")
    op.drop_table("store_install_events")
