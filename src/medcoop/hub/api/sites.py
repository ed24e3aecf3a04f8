"""Sites (hospitals) of the caller's organisation, and their enrollment codes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, status

from medcoop.hub.api.deps import DbSession, Paging, Settings, WriteSession, require
from medcoop.hub.api.schemas import EnrollmentCodeOut, ErrorOut, Page, SiteIn, SiteOut
from medcoop.hub.db.base import utcnow
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/sites", tags=["sites"])
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_SITES))]
_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}
_ERRORS_404 = {**_ERRORS, 404: {"model": ErrorOut}}


@router.get("", response_model=Page[SiteOut], responses=_ERRORS)
def list_sites(_principal: Reader, db: DbSession, paging: Paging) -> Page[SiteOut]:
    """List the organisation's sites."""
    rows, total = accounts.list_sites(db, limit=paging.limit, offset=paging.offset)
    return Page[SiteOut](
        items=[SiteOut.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{site_id}", response_model=SiteOut, responses=_ERRORS_404)
def get_site(site_id: uuid.UUID, _principal: Reader, db: DbSession) -> SiteOut:
    """Return one of the organisation's sites."""
    return SiteOut.model_validate(accounts.get_site(db, site_id))


@router.post(
    "",
    response_model=SiteOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def create_site(body: SiteIn, principal: Manager, db: WriteSession) -> SiteOut:
    """Create a site in the caller's organisation."""
    site = accounts.create_site(
        db, principal.org_id, body.name, country=body.country, site_type=body.site_type
    )
    db.commit()
    return SiteOut.model_validate(site)


@router.post(
    "/{site_id}/enrollment-codes",
    response_model=EnrollmentCodeOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS_404,
)
def create_enrollment_code(
    site_id: uuid.UUID, principal: Manager, db: WriteSession, settings: Settings
) -> EnrollmentCodeOut:
    """Issue a one-time enrollment code for the site's edge (shown once)."""
    accounts.get_site(db, site_id)
    code = accounts.issue_enrollment_code(
        db, principal.org_id, site_id, ttl_s=settings.enrollment_code_ttl_s
    )
    db.commit()
    return EnrollmentCodeOut(
        site_id=site_id,
        code=code,
        expires_at=utcnow() + timedelta(seconds=settings.enrollment_code_ttl_s),
    )
