"""analytics: pooled dose blocks compacted from the summaries; cells carry updated_at

Revision ID: 0005_analytics_pool_blocks
Revises: 0004_analytics_summaries
Create Date: 2026-12-07 10:00:00

Existing cells get an ``updated_at`` older than any block (there are none yet): the
first benchmark queries compact them (see docs/ARCHITECTURE.md, Analytics).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005_analytics_pool_blocks"
down_revision: str | Sequence[str] | None = "0004_analytics_summaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    op.drop_index("ix_analytics_dose_summaries_exam", table_name="analytics_dose_summaries")
    op.add_column(
        "analytics_dose_summaries",
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )
    cells = sa.table("analytics_dose_summaries", sa.column("updated_at", sa.DateTime(True)))
    # what UtcDateTime stores: naive UTC text on SQLite, timestamptz on PostgreSQL
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(cells.update().values(updated_at=_EPOCH.replace(tzinfo=None) if sqlite else _EPOCH))
    with op.batch_alter_table("analytics_dose_summaries") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index(
        "ix_analytics_dose_summaries_changed",
        "analytics_dose_summaries",
        ["exam_type", "metric", "month", "updated_at"],
        unique=False,
    )
    op.create_table(
        "analytics_dose_blocks",
        sa.Column("exam_type", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_sites", sa.Integer(), nullable=False),
        sa.Column("n_cells", sa.Integer(), nullable=False),
        sa.Column("sites", sa.LargeBinary(), nullable=False),
        sa.Column("devices", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exam_type", "metric", "month", name=op.f("pk_analytics_dose_blocks")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_dose_blocks")
    op.drop_index("ix_analytics_dose_summaries_changed", table_name="analytics_dose_summaries")
    with op.batch_alter_table("analytics_dose_summaries") as batch:
        batch.drop_column("updated_at")
    op.create_index(
        "ix_analytics_dose_summaries_exam",
        "analytics_dose_summaries",
        ["exam_type", "metric", "month"],
        unique=False,
    )
