"""Organisations (tenants): members see their own; the platform operator sees and creates all."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from medcoop.hub.api.deps import DbSession, Paging, WriteSession, require
from medcoop.hub.api.schemas import ErrorOut, OrganisationIn, OrganisationOut, Page
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
Creator = Annotated[Principal, Depends(require(Permission.MANAGE_ORGANISATIONS))]
_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


@router.get("", response_model=Page[OrganisationOut], responses=_ERRORS)
def list_organisations(principal: Reader, db: DbSession, paging: Paging) -> Page[OrganisationOut]:
    """List the organisations the caller may see."""
    rows, total = accounts.list_organisations(
        db, principal, limit=paging.limit, offset=paging.offset
    )
    return Page[OrganisationOut](
        items=[OrganisationOut.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/{org_id}", response_model=OrganisationOut, responses={**_ERRORS, 404: {"model": ErrorOut}}
)
def get_organisation(org_id: uuid.UUID, principal: Reader, db: DbSession) -> OrganisationOut:
    """Return one organisation (404 when the caller may not see it)."""
    return OrganisationOut.model_validate(accounts.get_organisation(db, principal, org_id))


@router.post(
    "",
    response_model=OrganisationOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 409: {"model": ErrorOut}},
)
def create_organisation(
    body: OrganisationIn, _principal: Creator, db: WriteSession
) -> OrganisationOut:
    """Create a tenant (platform operators only)."""
    org = accounts.create_organisation(
        db, body.name, kind=body.kind, country=body.country.upper() if body.country else None
    )
    db.commit()
    return OrganisationOut.model_validate(org)
