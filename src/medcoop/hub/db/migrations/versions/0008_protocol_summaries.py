"""analytics: protocol summaries kept at ingest (per site x device x protocol x quantity x month)

Revision ID: 0008_protocol_summaries
Revises: 0007_edge_reports
Create Date: 2026-12-04 19:30:00

The summaries start empty: ``medcoop hub rebuild-summaries`` fills them from the studies
already stored, with the dose summaries (see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_protocol_summaries"
down_revision: str | Sequence[str] | None = "0007_edge_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_protocol_summaries",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("protocol", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.String(length=64), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "site_id",
            "device_id",
            "protocol",
            "quantity",
            "month",
            name=op.f("pk_analytics_protocol_summaries"),
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_protocol_summaries")
