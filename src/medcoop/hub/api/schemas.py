"""Pydantic request and response bodies of the hub API (what ``/openapi.json`` shows)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DeviceOut",
    "DevicePatch",
    "EnrollIn",
    "EnrollOut",
    "EnrollmentCodeOut",
    "ErrorOut",
    "IngestOut",
    "InvitationAcceptIn",
    "InvitationIn",
    "InvitationOut",
    "LoginIn",
    "LoginOut",
    "MeOut",
    "OrganisationIn",
    "OrganisationOut",
    "Page",
    "Responses",
    "SiteIn",
    "SiteOut",
    "StudyDetailOut",
    "StudyOut",
    "TokenIn",
    "TokenOut",
    "UserIn",
    "UserOut",
]

T = TypeVar("T")
#: The ``responses=`` of a route: status code → OpenAPI response (FastAPI's own type).
Responses = dict[int | str, dict[str, Any]]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error: a human-readable ``detail`` (and the bad record's index on ingest)."""

    detail: Any
    record_index: int | None = None


class EnrollIn(_In):
    """An edge's enrollment request."""

    code: Annotated[str, Field(min_length=1, max_length=100)]
    edge_name: Name


class EnrollOut(BaseModel):
    """The site token an enrolled edge uses from now on (shown once)."""

    site_id: str
    site_token: str
    organisation: str
    site: str
    #: The store's trusted TUF root (its signed JSON), the edge's anchor for app updates;
    #: ``None`` while the hub has no store repository.
    tuf_root: dict[str, Any] | None = None


class IngestOut(BaseModel):
    """Which records of a batch were new and which were already known."""

    schema_version: str
    received: int
    new: list[str]
    duplicate: list[str]
    #: Records of patients who denied pooling: acknowledged, not stored.
    withheld: list[str] = []


class LoginIn(_In):
    """E-mail and password; ``organisation_id`` picks among several memberships."""

    email: Email
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    organisation_id: uuid.UUID | None = None


class LoginOut(BaseModel):
    """A web session was opened (cookie set); send ``csrf_token`` as ``X-CSRF-Token``."""

    csrf_token: str
    expires_at: datetime
    organisation_id: uuid.UUID


class TokenIn(_In):
    """Ask for a personal access token."""

    name: Name
    ttl_days: Annotated[int, Field(ge=1, le=365)] = 90
    scopes: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=20)


class TokenOut(_Out):
    """A token's public facts; ``token`` is the secret, present only on creation."""

    id: uuid.UUID
    kind: str
    name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    token: str | None = None


class MeOut(BaseModel):
    """The caller: who, in which organisation, with which roles and permissions."""

    user_id: uuid.UUID | None
    email: str | None
    display_name: str | None
    organisation_id: uuid.UUID
    organisation: str
    roles: list[str]
    permissions: list[str]
    token_kind: str


class OrganisationIn(_In):
    """A new tenant."""

    name: Name
    kind: Annotated[str, Field(pattern=r"^(hospital|vendor|platform)$")] = "hospital"
    country: Country | None = None


class OrganisationOut(_Out):
    """A tenant."""

    id: uuid.UUID
    name: str
    kind: str
    country: str | None
    created_at: datetime


class SiteIn(_In):
    """A new site; ``site_type`` e.g. university, general, private, imaging_centre."""

    name: Name
    country: Country | None = None
    site_type: Annotated[str, Field(max_length=40)] | None = None


class SiteOut(_Out):
    """A site of the caller's organisation."""

    id: uuid.UUID
    name: str
    country: str | None
    site_type: str | None
    edge_name: str | None
    enrolled_at: datetime | None
    created_at: datetime


class EnrollmentCodeOut(BaseModel):
    """A one-time code to give to the site's edge (``medcoop edge enroll CODE``)."""

    site_id: uuid.UUID
    code: str
    expires_at: datetime


class DeviceOut(_Out):
    """A device as its edge reported it."""

    id: uuid.UUID
    site_id: uuid.UUID
    device_key: str
    manufacturer: str | None
    model: str | None
    serial_number: str | None
    station_name: str | None
    software_versions: str | None
    modality: str | None
    device_class: str | None
    display_name: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class DevicePatch(_In):
    """What people may set on a device."""

    device_class: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    display_name: Name | None = None


class UserIn(_In):
    """Create a user in the caller's organisation (or add an existing one) with a role."""

    email: Email
    role: str
    password: Password | None = None
    display_name: Name | None = None


class UserOut(BaseModel):
    """A member of the caller's organisation."""

    id: uuid.UUID
    email: str
    display_name: str | None
    is_active: bool
    roles: list[str]


class InvitationIn(_In):
    """Invite someone by e-mail."""

    email: Email
    role: str


class InvitationOut(BaseModel):
    """An invitation; ``token`` is the one-time secret to send to the invitee."""

    id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    token: str


class InvitationAcceptIn(_In):
    """Accept an invitation, choosing a password."""

    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Password
    display_name: Name | None = None


class StudyOut(_Out):
    """A study, minimal (analytics extends the views)."""

    id: uuid.UUID
    site_id: uuid.UUID
    device_id: uuid.UUID
    study_uid: str
    modality: str
    study_at: datetime | None
    study_description: str | None
    age_years: float | None
    sex: str | None
    total_dlp_mgycm: float | None
    total_dap_gycm2: float | None
    number_of_events: int | None
    updated_at: datetime


class StudyDetailOut(StudyOut):
    """A study with its irradiation events (as the record carried them) and usage facts."""

    patient_id: uuid.UUID
    record_key: str
    utc_offset_min: int
    procedure_code: str | None
    modalities_in_study: list[str]
    sources: list[str]
    totals: dict[str, float | int | None]
    usage: dict[str, Any]
    events: list[dict[str, Any]]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``total`` count, ``limit`` and ``offset``."""

    items: list[T]
    total: int
    limit: int
    offset: int
