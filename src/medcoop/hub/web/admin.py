"""Administration: organisation, sites and their edges, devices, members, invitations, tokens.

Every form calls the API's endpoint function behind the API's permission dependency
(sites, devices, users, auth routers), so what a page may change is what the API lets
the same person change. One-time secrets (enrollment codes, invitations, new tokens) are
shown once, on the page that answers the form, and never stored in clear.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medcoop.hub.api import auth as api_auth
from medcoop.hub.api import devices as api_devices
from medcoop.hub.api import organisations as api_orgs
from medcoop.hub.api import sites as api_sites
from medcoop.hub.api import users as api_users
from medcoop.hub.api.deps import DbSession, PageParams, Settings, UserPrincipal, WriteSession
from medcoop.hub.api.schemas import DevicePatch, InvitationIn, SiteIn, TokenIn
from medcoop.hub.db.models import Role, Study, TokenKind
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.edges import edge_overview
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
_ALL = PageParams(limit=500, offset=0)
Text = Annotated[str, Form(max_length=200)]


def _edges(db: Session, principal: Principal) -> dict[Any, dict[str, Any]]:
    """Per site: the edge's last contact and backlog (as the overview's, from the same
    service as ``GET /api/v1/edges``) and the last study received."""
    overview = edge_overview(db, principal.org_id)
    out: dict[Any, dict[str, Any]] = {
        site.id: {
            "contact": overview.last_contact(site, report),
            "backlog": report.backlog if report is not None else None,
        }
        for site, report in overview.sites
    }
    received = db.execute(select(Study.site_id, func.max(Study.created_at)).group_by(Study.site_id))
    for site_id, at in received:
        out.setdefault(site_id, {})["upload"] = at
    return out


@router.get("/admin")
def admin(request: Request, principal: api_sites.Reader, db: DbSession) -> Response:
    """The organisation's directory and the caller's own tokens."""
    notices = {
        "site": "Site created.",
        "device": "Device saved.",
        "revoked": "Token revoked.",
    }
    notice = notices.get(request.query_params.get("done", ""))
    context = _context(principal, db)
    return page(request, "admin.html", title="Administration", notice=notice, **context)


def _context(principal: Principal, db: Session) -> dict[str, Any]:
    return {
        "organisation": api_orgs.get_organisation(principal.org_id, principal, db),
        "sites": api_sites.list_sites(principal, db, _ALL).items,
        "edges": _edges(db, principal),
        "devices": api_devices.list_devices(principal, db, _ALL, None).items,
        "members": api_users.list_users(principal, db, _ALL).items,
        "tokens": [
            t
            for t in api_auth.list_tokens(principal, db)
            if t.kind == TokenKind.PERSONAL.value and t.revoked_at is None
        ],
        "roles": [r.value for r in Role if r is not Role.PLATFORM_ADMIN],
        "can_sites": principal.can(Permission.MANAGE_SITES),
        "can_devices": principal.can(Permission.MANAGE_DEVICES),
        "can_users": principal.can(Permission.MANAGE_USERS),
    }


def _secret(request: Request, what: str, secret: str, note: str) -> Response:
    return page(request, "secret.html", status_code=201, title=what, secret=secret, note=note)


@router.post("/admin/sites")
def create_site(
    principal: api_sites.Manager,
    db: WriteSession,
    name: Text,
    country: Annotated[str, Form(max_length=2)] = "",
    site_type: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Create a site (as ``POST /api/v1/sites``)."""
    body = SiteIn(name=name, country=country or None, site_type=site_type or None)
    api_sites.create_site(body, principal, db)
    return RedirectResponse("/admin?done=site#sites", status_code=303)


@router.post("/admin/sites/{site_id}/enrollment-code")
def enrollment_code(
    site_id: uuid.UUID,
    request: Request,
    principal: api_sites.Manager,
    db: WriteSession,
    settings: Settings,
) -> Response:
    """Issue a one-time enrollment code for the site's edge; shown once."""
    issued = api_sites.create_enrollment_code(site_id, principal, db, settings)
    note = f"Type it into 'medcoop edge enroll' before {issued.expires_at:%Y-%m-%d %H:%M} UTC."
    return _secret(request, "Enrollment code", issued.code, note)


@router.post("/admin/devices/{device_id}")
def edit_device(
    device_id: uuid.UUID,
    principal: api_devices.Editor,
    db: WriteSession,
    device_class: Annotated[str, Form(max_length=40)] = "",
    display_name: Text = "",
) -> Response:
    """Set a device's benchmark class and display name (as ``PATCH /api/v1/devices/{id}``)."""
    changes = {"device_class": device_class or None, "display_name": display_name or None}
    body = DevicePatch(**{k: v for k, v in changes.items() if v is not None})
    api_devices.update_device(device_id, body, principal, db)
    return RedirectResponse("/admin?done=device#devices", status_code=303)


@router.post("/admin/invitations")
def invite(
    request: Request,
    principal: api_users.Manager,
    db: WriteSession,
    settings: Settings,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(max_length=40)],
) -> Response:
    """Invite someone with a role; the one-time invitation token is shown once."""
    issued = api_users.invite(InvitationIn(email=email, role=role), principal, db, settings)
    note = (
        f"Send it to {issued.email}: it makes them {issued.role} here "
        f"and expires {issued.expires_at:%Y-%m-%d}."
    )
    return _secret(request, "Invitation", issued.token, note)


@router.post("/admin/tokens")
def create_token(
    request: Request,
    principal: UserPrincipal,
    db: WriteSession,
    settings: Settings,
    name: Text,
    ttl_days: Annotated[int, Form(ge=1, le=365)] = 90,
) -> Response:
    """Create a personal access token (as ``POST /api/v1/tokens``); shown once."""
    issued = api_auth.create_token(TokenIn(name=name, ttl_days=ttl_days), principal, db, settings)
    assert issued.token is not None
    note = "Copy it now: the hub keeps only its hash and cannot show it again."
    return _secret(request, "New personal access token", issued.token, note)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(token_id: uuid.UUID, principal: UserPrincipal, db: WriteSession) -> Response:
    """Revoke one of the caller's own tokens (as ``DELETE /api/v1/tokens/{id}``)."""
    api_auth.revoke_token(token_id, principal, db)
    return RedirectResponse("/admin?done=revoked#tokens", status_code=303)
