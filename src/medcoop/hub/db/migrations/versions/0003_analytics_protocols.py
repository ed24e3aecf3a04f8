"""analytics: shared protocol library

Revision ID: 0003_analytics_protocols
Revises: 0002_analytics
Create Date: 2026-11-23 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_analytics_protocols"
down_revision: str | Sequence[str] | None = "0002_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_protocols",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("body_region", sa.String(length=128), nullable=True),
        sa.Column("n_studies", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_analytics_protocols_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_analytics_protocols")),
    )
    op.create_index(
        "ix_analytics_protocols_modality", "analytics_protocols", ["modality"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_protocols_modality", table_name="analytics_protocols")
    op.drop_table("analytics_protocols")
