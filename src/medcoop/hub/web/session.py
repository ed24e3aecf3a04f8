"""Signing in and out of the dashboard, its front door and its static files.

Sign-in opens the same web session as ``POST /api/v1/auth/login`` (one function,
:func:`medcoop.hub.api.auth.open_web_session`): an HttpOnly session cookie and a CSRF
cookie that every form sends back as a hidden field (double submit).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from medcoop.hub.api.auth import clear_session_cookies, open_web_session
from medcoop.hub.api.deps import Settings, UserPrincipal, WriteSession
from medcoop.hub.api.schemas import LoginIn
from medcoop.hub.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from medcoop.hub.services import accounts
from medcoop.hub.services.accounts import Permission
from medcoop.hub.web.routing import PageRoute, page, static_file

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str) -> str:
    # only a path on this hub: never an open redirect to another site
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/")
def front(principal: UserPrincipal) -> RedirectResponse:
    """The dashboard starts at the overview (administration for those without studies)."""
    start = "/overview" if principal.can(Permission.READ_STUDIES) else "/admin"
    return RedirectResponse(start, status_code=303)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's own CSS and scripts, and plotly.js from the installed package."""
    return static_file(name)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return page(request, "login.html", title="Sign in", next=_safe_next(next), email="", error=None)


@router.post("/login")
def login(
    request: Request,
    settings: Settings,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; on success open a session and go where the user was headed."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin and origin != own and origin not in settings.trusted_origins:
        raise PermissionDeniedError("sign-in from another site is refused")
    target = _safe_next(next)
    try:
        body = LoginIn(email=email, password=password)
        response = RedirectResponse(target, status_code=303)
        open_web_session(request, response, settings, body)
        return response
    except (ValidationError, AuthenticationError, RateLimitedError) as exc:
        message = (
            "Too many attempts: wait a minute and try again."
            if isinstance(exc, RateLimitedError)
            else "Wrong e-mail address or password."
        )
        return page(
            request,
            "login.html",
            status_code=429 if isinstance(exc, RateLimitedError) else 401,
            title="Sign in",
            next=target,
            email=email,
            error=message,
        )


@router.post("/logout")
def logout(principal: UserPrincipal, db: WriteSession) -> Response:
    """Revoke this session (as ``POST /api/v1/auth/logout``) and return to the sign-in page."""
    accounts.revoke_token(db, principal.token_id, org_id=principal.org_id)
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookies(response)
    return response
