"""analytics: alert settings and alerts

Revision ID: 0002_analytics
Revises: 0001_core
Create Date: 2026-11-23 12:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_analytics"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organisations.id"],
        name=op.f(f"fk_{table}_org_id_organisations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "analytics_alert_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("notify", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("analytics_alert_settings"),
        sa.PrimaryKeyConstraint("org_id", "name", name=op.f("pk_analytics_alert_settings")),
    )
    op.create_table(
        "analytics_alerts",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("alert_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_error", sa.String(length=400), nullable=True),
        _org_fk("analytics_alerts"),
        sa.PrimaryKeyConstraint("org_id", "alert_key", name=op.f("pk_analytics_alerts")),
    )
    op.create_index(
        "ix_analytics_alerts_org_state", "analytics_alerts", ["org_id", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_analytics_alerts_org_state", table_name="analytics_alerts")
    op.drop_table("analytics_alerts")
    op.drop_table("analytics_alert_settings")
