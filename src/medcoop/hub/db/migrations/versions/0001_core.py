"""core tables: tenancy, people, tokens, ingested records

Revision ID: 0001_core
Revises: (none)
Create Date: 2026-11-23 12:23:00.643639
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    op.create_index("ix_tokens_org_user", "tokens", ["org_id", "user_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "invitations",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_invitations_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_memberships_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", "user_id", "role", name=op.f("pk_memberships")),
    )
    op.create_index("ix_memberships_user", "memberships", ["user_id"], unique=False)
    op.create_table(
        "patients",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_patients")),
        sa.UniqueConstraint("org_id", "site_id", "pseudonym", name="uq_patients_site_pseudonym"),
    )
    op.create_table(
        "record_receipts",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("record_key", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "record_key", name=op.f("pk_record_receipts")),
    )
    op.create_table(
        "sites",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("site_type", sa.String(length=40), nullable=True),
        sa.Column("edge_name", sa.String(length=200), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_sites_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_sites")),
        sa.UniqueConstraint("org_id", "name", name="uq_sites_org_name"),
    )
    op.create_table(
        "devices",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("device_key", sa.String(length=64), nullable=False),
        sa.Column("manufacturer", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("serial_number", sa.String(length=128), nullable=True),
        sa.Column("station_name", sa.String(length=128), nullable=True),
        sa.Column("software_versions", sa.String(length=128), nullable=True),
        sa.Column("modality", sa.String(length=128), nullable=True),
        sa.Column("device_class", sa.String(length=40), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_devices")),
        sa.UniqueConstraint("org_id", "site_id", "device_key", name="uq_devices_site_key"),
    )
    op.create_table(
        "enrollment_codes",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "site_id"],
            ["sites.org_id", "sites.id"],
            name=op.f("fk_enrollment_codes_org_id_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_enrollment_codes_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_enrollment_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_enrollment_codes_code_hash")),
    )
    op.create_table(
        "studies",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=128), nullable=False),
        sa.Column("modalities_in_study", sa.JSON(), nullable=False),
        sa.Column("study_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("utc_offset_min", sa.Integer(), nullable=False),
        sa.Column("study_description", sa.String(length=128), nullable=True),
        sa.Column("procedure_code", sa.String(length=128), nullable=True),
        sa.Column("age_years", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("effective_diameter_cm", sa.Float(), nullable=True),
        sa.Column("water_equivalent_diameter_cm", sa.Float(), nullable=True),
        sa.Column("total_dlp_mgycm", sa.Float(), nullable=True),
        sa.Column("total_dap_gycm2", sa.Float(), nullable=True),
        sa.Column("total_fluoro_dap_gycm2", sa.Float(), nullable=True),
        sa.Column("total_acquisition_dap_gycm2", sa.Float(), nullable=True),
        sa.Column("total_rp_dose_mgy", sa.Float(), nullable=True),
        sa.Column("total_fluoro_time_s", sa.Float(), nullable=True),
        sa.Column("total_acquisition_time_s", sa.Float(), nullable=True),
        sa.Column("total_agd_left_mgy", sa.Float(), nullable=True),
        sa.Column("total_agd_right_mgy", sa.Float(), nullable=True),
        sa.Column("total_administered_activity_mbq", sa.Float(), nullable=True),
        sa.Column("total_effective_dose_msv", sa.Float(), nullable=True),
        sa.Column("number_of_events", sa.Integer(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_studies")),
        sa.UniqueConstraint("org_id", "site_id", "study_uid", name="uq_studies_site_uid"),
    )
    op.create_index("ix_studies_org_device", "studies", ["org_id", "device_id"], unique=False)
    op.create_index("ix_studies_org_patient", "studies", ["org_id", "patient_id"], unique=False)
    op.create_index("ix_studies_org_study_at", "studies", ["org_id", "study_at"], unique=False)
    op.create_table(
        "irradiation_events",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("event_uid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("protocol", sa.String(length=128), nullable=True),
        sa.Column("target_region", sa.String(length=128), nullable=True),
        sa.Column("acquisition_type", sa.String(length=128), nullable=True),
        sa.Column("ctdivol_mgy", sa.Float(), nullable=True),
        sa.Column("dlp_mgycm", sa.Float(), nullable=True),
        sa.Column("ctdi_phantom", sa.String(length=16), nullable=True),
        sa.Column("pitch", sa.Float(), nullable=True),
        sa.Column("kvp", sa.Float(), nullable=True),
        sa.Column("tube_current_ma", sa.Float(), nullable=True),
        sa.Column("exposure_time_s", sa.Float(), nullable=True),
        sa.Column("scanning_length_mm", sa.Float(), nullable=True),
        sa.Column("nominal_total_collimation_mm", sa.Float(), nullable=True),
        sa.Column("dap_gycm2", sa.Float(), nullable=True),
        sa.Column("rp_dose_mgy", sa.Float(), nullable=True),
        sa.Column("fluoro_time_s", sa.Float(), nullable=True),
        sa.Column("agd_mgy", sa.Float(), nullable=True),
        sa.Column("laterality", sa.String(length=1), nullable=True),
        sa.Column("administered_activity_mbq", sa.Float(), nullable=True),
        sa.Column("effective_dose_msv", sa.Float(), nullable=True),
        sa.Column("dose_check_count", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "study_id", "event_uid", name=op.f("pk_irradiation_events")
        ),
    )
    op.create_index(
        "ix_irradiation_events_org_protocol",
        "irradiation_events",
        ["org_id", "protocol"],
        unique=False,
    )
    op.create_table(
        "usage_facts",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("first_acquisition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_acquisition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mpps_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mpps_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mpps_status", sa.String(length=20), nullable=True),
        sa.Column("performed_protocol", sa.String(length=128), nullable=True),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "study_id", name=op.f("pk_usage_facts")),
    )
    op.create_index(
        "ix_usage_facts_org_device", "usage_facts", ["org_id", "device_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_usage_facts_org_device", table_name="usage_facts")
    op.drop_table("usage_facts")
    op.drop_index("ix_irradiation_events_org_protocol", table_name="irradiation_events")
    op.drop_table("irradiation_events")
    op.drop_index("ix_studies_org_study_at", table_name="studies")
    op.drop_index("ix_studies_org_patient", table_name="studies")
    op.drop_index("ix_studies_org_device", table_name="studies")
    op.drop_table("studies")
    op.drop_table("enrollment_codes")
    op.drop_table("devices")
    op.drop_table("sites")
    op.drop_table("record_receipts")
    op.drop_table("patients")
    op.drop_index("ix_memberships_user", table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("invitations")
    op.drop_table("users")
    op.drop_index("ix_tokens_org_user", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("organisations")
