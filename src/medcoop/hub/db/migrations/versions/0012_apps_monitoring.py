"""apps: reported app runs, clinicians' reviews of their results, cloud runs

Revision ID: 0012_apps_monitoring
Revises: 0011_protocol_summaries
Create Date: 2026-12-04 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_apps_monitoring"
down_revision: str | Sequence[str] | None = "0011_protocol_summaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_runs",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("app_version", sa.String(length=40), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=40), nullable=True),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("device_key", sa.String(length=64), nullable=True),
        sa.Column("protocol", sa.String(length=128), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "site_id"],
            ["sites.org_id", "sites.id"],
            name=op.f("fk_app_runs_org_id_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_runs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_app_runs")),
        sa.UniqueConstraint("org_id", "site_id", "run_key", name=op.f("uq_app_runs_org_id")),
    )
    op.create_index(
        "ix_app_runs_app", "app_runs", ["org_id", "app", "app_version", "started_at"]
    )
    op.create_table(
        "app_reviews",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "run_id"],
            ["app_runs.org_id", "app_runs.id"],
            name=op.f("fk_app_reviews_org_id_app_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_reviews_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_app_reviews")),
        sa.UniqueConstraint(
            "org_id", "run_id", "reviewer_id", name=op.f("uq_app_reviews_org_id")
        ),
    )
    op.create_table(
        "app_cloud_runs",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("app_version", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=80), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("withdrawn_left_out", sa.Integer(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_cloud_runs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "job_id", name=op.f("pk_app_cloud_runs")),
    )


def downgrade() -> None:
    op.drop_table("app_cloud_runs")
    op.drop_table("app_reviews")
    op.drop_index("ix_app_runs_app", table_name="app_runs")
    op.drop_table("app_runs")
