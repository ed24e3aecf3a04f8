"""Deployment of store apps to edges over HTTP.

- ``POST /api/v1/store/installs/authorize`` (an edge, site token): may this site install
  and run the app now (the store's entitlement check)? 403 with the reason if not.
- ``POST /api/v1/store/installs/report`` (an edge): an install, upgrade, uninstall or a
  refused package, recorded as an audit row.
- ``GET /api/v1/store/installs`` (people of the organisation): installs per site with
  versions, and the latest refusals.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from medcoop.hub.api.deps import DbSession, authenticate_request, open_session, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import AuthenticationError, PermissionDeniedError
from medcoop.hub.services import store_tuf
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.store_deploy import (
    SiteInstall,
    authorize_install,
    recent_refusals,
    record_install_event,
    site_installs,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/store", tags=["store"])
_SITE = frozenset({TokenKind.SITE})
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
AppId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]


class AuthorizeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: AppId
    version: Annotated[str, Field(max_length=64)] | None = None


class AuthorizeOut(BaseModel):
    allowed: bool
    reason: str | None = None


class ReportIn(BaseModel):
    """What an edge did with an app version (or why it refused the package)."""

    model_config = ConfigDict(extra="forbid")

    app_id: AppId
    version: Annotated[str, Field(max_length=64)] | None = None
    action: Literal["installed", "upgraded", "uninstalled", "refused"]
    detail: Annotated[str, Field(max_length=1000)] | None = None


class InstallOut(BaseModel):
    site_id: str
    site: str
    app_id: str
    version: str | None
    action: str
    at: datetime
    detail: str | None = None


class InstallsOut(BaseModel):
    """Installed app versions per site, and the most recent refused packages."""

    installs: list[InstallOut]
    refusals: list[InstallOut]


def _site(request: Request) -> Principal:
    principal = authenticate_request(request, _SITE)
    if principal.site_id is None:
        raise AuthenticationError("this token belongs to no site")
    return principal


def _authorize(request: Request, body: AuthorizeIn) -> AuthorizeOut:
    principal = _site(request)
    assert principal.site_id is not None
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        decision = authorize_install(session, principal.org_id, principal.site_id, body.app_id)
    if not decision.allowed:
        raise PermissionDeniedError(f"not entitled to {body.app_id}: {decision.reason}")
    return AuthorizeOut(allowed=True, reason=decision.reason)


@router.post(
    "/installs/authorize",
    response_model=AuthorizeOut,
    responses={
        401: {"model": ErrorOut, "description": "No valid site token"},
        403: {"model": ErrorOut, "description": "No entitlement"},
    },
)
async def authorize(request: Request, body: AuthorizeIn) -> AuthorizeOut:
    """Whether this site's edge may install and run ``app_id`` now."""
    return await run_in_threadpool(_authorize, request, body)


def _vendor_org(request: Request, app_id: str) -> uuid.UUID | None:
    """The organisation of the app's vendor (its id's first part is the vendor's slug)."""
    repo = store_tuf.repository(request.app.state.settings)
    if not repo.exists:
        return None
    bound = repo.vendor_bindings().get(app_id.split(".", 1)[0])
    return uuid.UUID(bound) if bound else None


def _report(request: Request, body: ReportIn) -> None:
    principal = _site(request)
    assert principal.site_id is not None
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        begin_write(session)
        record_install_event(
            session,
            principal.org_id,
            principal.site_id,
            app_id=body.app_id,
            version=body.version,
            action=body.action,
            detail=body.detail,
            vendor_org_id=_vendor_org(request, body.app_id),
        )
        session.commit()


@router.post(
    "/installs/report",
    status_code=204,
    responses={401: {"model": ErrorOut, "description": "No valid site token"}},
)
async def report(request: Request, body: ReportIn) -> None:
    """Record what this site's edge did with an app version."""
    await run_in_threadpool(_report, request, body)


def _out(row: SiteInstall) -> InstallOut:
    return InstallOut(
        site_id=str(row.site_id),
        site=row.site,
        app_id=row.app_id,
        version=row.version,
        action=row.action,
        at=row.at,
        detail=row.detail,
    )


@router.get(
    "/installs",
    response_model=InstallsOut,
    responses={
        401: {"model": ErrorOut, "description": "Not signed in"},
        403: {"model": ErrorOut, "description": "Not allowed"},
    },
)
def installs(db: DbSession, _principal: Reader) -> InstallsOut:
    """Installed app versions per site of the caller's organisation, and refusals."""
    return InstallsOut(
        installs=[_out(r) for r in site_installs(db)],
        refusals=[_out(r) for r in recent_refusals(db)],
    )
