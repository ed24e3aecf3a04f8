"""analytics: dose summaries kept at ingest; alerts as the outbox of their notices

Revision ID: 0004_analytics_summaries
Revises: 0003_analytics_protocols
Create Date: 2026-11-30 10:00:00

The summaries start empty: ``medcoop hub rebuild-summaries`` fills them from the studies
already stored (see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_analytics_summaries"
down_revision: str | Sequence[str] | None = "0003_analytics_protocols"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_dose_summaries",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("exam_type", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("n_studies", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "site_id",
            "device_id",
            "exam_type",
            "metric",
            "month",
            name=op.f("pk_analytics_dose_summaries"),
        ),
    )
    op.create_index(
        "ix_analytics_dose_summaries_exam",
        "analytics_dose_summaries",
        ["exam_type", "metric", "month"],
        unique=False,
    )
    with op.batch_alter_table("analytics_alerts") as batch:
        batch.add_column(sa.Column("notify_after", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("notify_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("notify_done", sa.JSON(), nullable=True))
    op.create_index(
        "ix_analytics_alerts_notify_after", "analytics_alerts", ["notify_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_alerts_notify_after", table_name="analytics_alerts")
    with op.batch_alter_table("analytics_alerts") as batch:
        batch.drop_column("notify_done")
        batch.drop_column("notify_attempts")
        batch.drop_column("notify_after")
    op.drop_index("ix_analytics_dose_summaries_exam", table_name="analytics_dose_summaries")
    op.drop_table("analytics_dose_summaries")
