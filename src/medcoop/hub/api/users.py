"""Members of the caller's organisation, and invitations to join it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import select

from medcoop.hub.api.deps import (
    DbSession,
    Paging,
    Settings,
    WriteSession,
    open_session,
    require,
)
from medcoop.hub.api.schemas import (
    ErrorOut,
    InvitationAcceptIn,
    InvitationIn,
    InvitationOut,
    Page,
    UserIn,
    UserOut,
)
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Role, User
from medcoop.hub.errors import ConflictError, InvalidRecordError, PermissionDeniedError
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["people"])
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}
_ERRORS_404 = {**_ERRORS, 404: {"model": ErrorOut}}


def _out(user: User, roles: list[str]) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_active=user.is_active,
        roles=roles,
    )


def _grantable(principal: Principal, role: str) -> Role:
    if role not in Role._value2member_map_:
        raise InvalidRecordError(f"unknown role {role!r}")
    if role == Role.PLATFORM_ADMIN and Role.PLATFORM_ADMIN not in principal.roles:
        raise PermissionDeniedError("only platform administrators grant platform_admin")
    return Role(role)


@router.get("/users", response_model=Page[UserOut], responses=_ERRORS)
def list_users(_principal: Reader, db: DbSession, paging: Paging) -> Page[UserOut]:
    """List the organisation's members and their roles."""
    members, total = accounts.list_members(db, limit=paging.limit, offset=paging.offset)
    return Page[UserOut](
        items=[_out(user, roles) for user, roles in members],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/users/{user_id}", response_model=UserOut, responses=_ERRORS_404)
def get_user(user_id: uuid.UUID, _principal: Reader, db: DbSession) -> UserOut:
    """Return one member of the organisation."""
    return _out(*accounts.get_member(db, user_id))


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def create_user(body: UserIn, principal: Manager, db: WriteSession) -> UserOut:
    """Create a new user with a role in the organisation (existing people: invite them)."""
    role = _grantable(principal, body.role)
    exists = db.scalar(select(User.id).where(User.email == accounts.normalise_email(body.email)))
    if exists is not None:
        raise ConflictError("this e-mail address has an account: send an invitation instead")
    user = accounts.create_user(
        db, body.email, password=body.password, display_name=body.display_name
    )
    accounts.add_membership(db, principal.org_id, user.id, role)
    db.commit()
    return _out(user, [role.value])


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS_404)
def remove_user(user_id: uuid.UUID, principal: Manager, db: WriteSession) -> Response:
    """Remove a member from the organisation (their tokens here are revoked)."""
    if user_id == principal.user_id:
        raise PermissionDeniedError("you cannot remove yourself")
    accounts.remove_member(db, user_id)
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/invitations",
    response_model=InvitationOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 422: {"model": ErrorOut}},
)
def invite(
    body: InvitationIn, principal: Manager, db: WriteSession, settings: Settings
) -> InvitationOut:
    """Invite someone to the organisation; send them the returned one-time token."""
    role = _grantable(principal, body.role)
    invitation, secret = accounts.create_invitation(
        db,
        principal.org_id,
        body.email,
        role,
        created_by=principal.user_id,
        ttl_s=settings.invitation_ttl_s,
    )
    db.commit()
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        expires_at=invitation.expires_at,
        token=secret,
    )


@router.post(
    "/invitations/accept",
    response_model=UserOut,
    responses={401: {"model": ErrorOut}, 410: {"model": ErrorOut}},
)
def accept_invitation(body: InvitationAcceptIn, request: Request) -> UserOut:
    """Accept an invitation (no login needed: the token is the credential)."""
    with open_session(request) as session:
        begin_write(session)
        user = accounts.accept_invitation(
            session, body.token, password=body.password, display_name=body.display_name
        )
        session.commit()
        return UserOut(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            is_active=user.is_active,
            roles=[],
        )
