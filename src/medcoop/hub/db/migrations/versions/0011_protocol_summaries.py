"""analytics: protocol summaries kept at ingest; studies get their exam type and protocol

Revision ID: 0011_protocol_summaries
Revises: 0010_pooling_denied
Create Date: 2026-12-04 19:30:00

Protocol summaries: per site x device x protocol x quantity x month. Studies get
``exam_type`` and ``protocol`` columns (indexed) so the dashboard filters them in SQL.
Both start empty: ``medcoop hub rebuild-summaries`` fills them for the studies already
stored, with the dose summaries (see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_protocol_summaries"
down_revision: str | Sequence[str] | None = "0010_pooling_denied"
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


    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("exam_type", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("protocol", sa.String(length=128), nullable=True))
    op.create_index(
        "ix_studies_org_exam_type", "studies", ["org_id", "exam_type", "study_at"], unique=False
    )
    op.create_index(
        "ix_studies_org_protocol", "studies", ["org_id", "protocol", "study_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_studies_org_protocol", table_name="studies")
    op.drop_index("ix_studies_org_exam_type", table_name="studies")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("protocol")
        batch.drop_column("exam_type")
    op.drop_table("analytics_protocol_summaries")
