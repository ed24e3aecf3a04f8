"""``GET /api/v1/me``: who the caller is, where, and what they may do."""

from __future__ import annotations

from fastapi import APIRouter

from medcoop.hub.api.deps import DbSession, UserPrincipal
from medcoop.hub.api.schemas import ErrorOut, MeOut
from medcoop.hub.db.models import Organisation, User

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["people"])


@router.get("/me", response_model=MeOut, responses={401: {"model": ErrorOut}})
def me(principal: UserPrincipal, db: DbSession) -> MeOut:
    """Describe the caller: user, organisation, roles and permissions."""
    org = db.get(Organisation, principal.org_id)
    user = db.get(User, principal.user_id) if principal.user_id else None
    return MeOut(
        user_id=principal.user_id,
        email=user.email if user else None,
        display_name=user.display_name if user else None,
        organisation_id=principal.org_id,
        organisation=org.name if org else "",
        roles=sorted(role.value for role in principal.roles),
        permissions=sorted(p.value for p in principal.permissions),
        token_kind=principal.kind.value,
    )
