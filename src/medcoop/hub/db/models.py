"""The hub's core tables: tenancy, people, tokens, and the normalised ingested records.

Global tables (looked up before a tenant is known): ``organisations``, ``users``,
``tokens``. Every other table is :class:`~medcoop.hub.db.base.TenantOwned`, keyed by
``org_id`` first. Analytics tables live in their own module beside this one.

The ingest tables (devices, patients, studies, usage_facts, irradiation_events,
record_receipts) carry no database foreign keys: only the ingest service writes them,
in one transaction per batch, and per-row FK checks cost PostgreSQL 4x its ingest rate.
Deleting an organisation's ingested data is therefore an explicit service operation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, new_id, utcnow

__all__ = [
    "Device",
    "EnrollmentCode",
    "Invitation",
    "IrradiationEventRow",
    "Membership",
    "OrgKind",
    "Organisation",
    "Patient",
    "RecordReceipt",
    "Role",
    "Site",
    "Study",
    "Token",
    "TokenKind",
    "UsageFact",
    "User",
]


class OrgKind(StrEnum):
    """What an organisation is."""

    HOSPITAL = "hospital"
    VENDOR = "vendor"
    PLATFORM = "platform"


class Role(StrEnum):
    """A person's role within one organisation."""

    PLATFORM_ADMIN = "platform_admin"
    ORG_ADMIN = "org_admin"
    MEDICAL_PHYSICIST = "medical_physicist"
    RADIOLOGY_MANAGER = "radiology_manager"
    VENDOR_PUBLISHER = "vendor_publisher"
    VIEWER = "viewer"


class TokenKind(StrEnum):
    """Who or what a token authenticates, and its prefix."""

    SESSION = "session"  # web session cookie, mcw_
    PERSONAL = "personal"  # personal access token, mcp_
    SITE = "site"  # an enrolled edge, mcs_
    APP = "app"  # scoped app token, mca_


# --- global tables ---------------------------------------------------------------------------


class Organisation(Base):
    """A tenant: a hospital group, a vendor or the platform operator."""

    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=OrgKind.HOSPITAL.value)
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person; belongs to organisations through :class:`Membership` rows."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Token(Base):
    """A bearer secret, stored only as its SHA-256; revocable, expiring, last use recorded."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_org_user", "org_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID | None] = mapped_column()
    site_id: Mapped[uuid.UUID | None] = mapped_column()
    name: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


# --- tenant-owned tables ---------------------------------------------------------------------


class Membership(TenantOwned, Base):
    """A user's role in an organisation (one row per role)."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_user", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(TenantOwned, Base):
    """An invitation for an e-mail address to join an organisation with a role."""

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(40))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()


class Site(TenantOwned, Base):
    """A hospital (or imaging centre) of an organisation, where one edge node runs."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_sites_org_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    #: ISO 3166-1 alpha-2, for narrowing peer benchmarks.
    country: Mapped[str | None] = mapped_column(String(2))
    #: e.g. "university", "general", "private", "imaging_centre".
    site_type: Mapped[str | None] = mapped_column(String(40))
    edge_name: Mapped[str | None] = mapped_column(String(200))
    enrolled_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentCode(TenantOwned, Base):
    """A one-time code an edge exchanges for its site token."""

    __tablename__ = "enrollment_codes"
    __table_args__ = (ForeignKeyConstraint(["org_id", "site_id"], ["sites.org_id", "sites.id"]),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column()
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class Device(TenantOwned, Base):
    """A piece of imaging equipment at a site, as its edge identifies it."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("org_id", "site_id", "device_key", name="uq_devices_site_key"),
    )
    __tenant_fk__ = False

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column()
    device_key: Mapped[str] = mapped_column(String(64))
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    serial_number: Mapped[str | None] = mapped_column(String(128))
    station_name: Mapped[str | None] = mapped_column(String(128))
    software_versions: Mapped[str | None] = mapped_column(String(128))
    modality: Mapped[str | None] = mapped_column(String(128))
    #: Peer-benchmark class (defaults to the modality; admins may refine it, e.g. "CT-DE").
    device_class: Mapped[str | None] = mapped_column(String(40))
    display_name: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Patient(TenantOwned, Base):
    """A patient known only by the site's keyed pseudonym."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("org_id", "site_id", "pseudonym", name="uq_patients_site_pseudonym"),
    )
    __tenant_fk__ = False

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column()
    pseudonym: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str | None] = mapped_column(String(1))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the patient denied pooling (their studies were removed; new ones are refused),
    #: until a later permit clears it.
    pooling_denied_at: Mapped[datetime | None] = mapped_column()


class Study(TenantOwned, Base):
    """One study: patient facts at the time, dose totals; updated in place by later records."""

    __tablename__ = "studies"
    __table_args__ = (
        UniqueConstraint("org_id", "site_id", "study_uid", name="uq_studies_site_uid"),
        Index("ix_studies_org_study_at", "org_id", "study_at"),
        Index("ix_studies_org_device", "org_id", "device_id"),
        Index("ix_studies_org_patient", "org_id", "patient_id"),
        # the dashboard's exam-type and protocol filters, in SQL (newest first)
        Index("ix_studies_org_exam_type", "org_id", "exam_type", "study_at"),
        Index("ix_studies_org_protocol", "org_id", "protocol", "study_at"),
    )
    __tenant_fk__ = False

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID] = mapped_column()
    device_id: Mapped[uuid.UUID] = mapped_column()
    patient_id: Mapped[uuid.UUID] = mapped_column()
    study_uid: Mapped[str] = mapped_column(String(64))
    record_key: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(128))
    modalities_in_study: Mapped[list[str]] = mapped_column(JSON, default=list)
    study_at: Mapped[datetime | None] = mapped_column()
    utc_offset_min: Mapped[int] = mapped_column(Integer, default=0)
    study_description: Mapped[str | None] = mapped_column(String(128))
    procedure_code: Mapped[str | None] = mapped_column(String(128))
    #: Set by ingest from the record (``classify_record``, ``protocol_of``), so filters
    #: are SQL; ``medcoop hub rebuild-summaries`` sets them on studies stored before.
    exam_type: Mapped[str | None] = mapped_column(String(40))
    protocol: Mapped[str | None] = mapped_column(String(128))
    age_years: Mapped[float | None] = mapped_column(Float)
    sex: Mapped[str | None] = mapped_column(String(1))
    height_m: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    effective_diameter_cm: Mapped[float | None] = mapped_column(Float)
    water_equivalent_diameter_cm: Mapped[float | None] = mapped_column(Float)
    total_dlp_mgycm: Mapped[float | None] = mapped_column(Float)
    total_dap_gycm2: Mapped[float | None] = mapped_column(Float)
    total_fluoro_dap_gycm2: Mapped[float | None] = mapped_column(Float)
    total_acquisition_dap_gycm2: Mapped[float | None] = mapped_column(Float)
    total_rp_dose_mgy: Mapped[float | None] = mapped_column(Float)
    total_fluoro_time_s: Mapped[float | None] = mapped_column(Float)
    total_acquisition_time_s: Mapped[float | None] = mapped_column(Float)
    total_agd_left_mgy: Mapped[float | None] = mapped_column(Float)
    total_agd_right_mgy: Mapped[float | None] = mapped_column(Float)
    total_administered_activity_mbq: Mapped[float | None] = mapped_column(Float)
    total_effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    number_of_events: Mapped[int | None] = mapped_column(Integer)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageFact(TenantOwned, Base):
    """When the device was busy with a study (one row per study)."""

    __tablename__ = "usage_facts"
    __table_args__ = (Index("ix_usage_facts_org_device", "org_id", "device_id"),)
    __tenant_fk__ = False

    study_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column()
    first_acquisition_at: Mapped[datetime | None] = mapped_column()
    last_acquisition_at: Mapped[datetime | None] = mapped_column()
    mpps_started_at: Mapped[datetime | None] = mapped_column()
    mpps_ended_at: Mapped[datetime | None] = mapped_column()
    mpps_status: Mapped[str | None] = mapped_column(String(20))
    performed_protocol: Mapped[str | None] = mapped_column(String(128))
    series_count: Mapped[int] = mapped_column(Integer, default=0)
    image_count: Mapped[int] = mapped_column(Integer, default=0)


class IrradiationEventRow(TenantOwned, Base):
    """One irradiation event of a study; the main metrics as columns, the rest in ``details``."""

    __tablename__ = "irradiation_events"
    __table_args__ = (Index("ix_irradiation_events_org_protocol", "org_id", "protocol"),)
    __tenant_fk__ = False

    study_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime | None] = mapped_column()
    protocol: Mapped[str | None] = mapped_column(String(128))
    target_region: Mapped[str | None] = mapped_column(String(128))
    acquisition_type: Mapped[str | None] = mapped_column(String(128))
    ctdivol_mgy: Mapped[float | None] = mapped_column(Float)
    dlp_mgycm: Mapped[float | None] = mapped_column(Float)
    ctdi_phantom: Mapped[str | None] = mapped_column(String(16))
    pitch: Mapped[float | None] = mapped_column(Float)
    kvp: Mapped[float | None] = mapped_column(Float)
    tube_current_ma: Mapped[float | None] = mapped_column(Float)
    exposure_time_s: Mapped[float | None] = mapped_column(Float)
    scanning_length_mm: Mapped[float | None] = mapped_column(Float)
    nominal_total_collimation_mm: Mapped[float | None] = mapped_column(Float)
    dap_gycm2: Mapped[float | None] = mapped_column(Float)
    rp_dose_mgy: Mapped[float | None] = mapped_column(Float)
    fluoro_time_s: Mapped[float | None] = mapped_column(Float)
    agd_mgy: Mapped[float | None] = mapped_column(Float)
    laterality: Mapped[str | None] = mapped_column(String(1))
    administered_activity_mbq: Mapped[float | None] = mapped_column(Float)
    effective_dose_msv: Mapped[float | None] = mapped_column(Float)
    dose_check_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The whole event as the record carried it (JSON), for fields without a column.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RecordReceipt(TenantOwned, Base):
    """That a record key was ingested: the idempotency ledger of ``POST /api/v1/ingest``."""

    __tablename__ = "record_receipts"
    __tenant_fk__ = False

    record_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column()
    study_id: Mapped[uuid.UUID] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
