"""ledger: a patient's pooling denial, kept on the patient (their studies are removed)

Revision ID: 0010_pooling_denied
Revises: 0009_store_installs
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_pooling_denied"
down_revision: str | Sequence[str] | None = "0009_store_installs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("pooling_denied_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("pooling_denied_at")
