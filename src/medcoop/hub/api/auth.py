"""Sessions and tokens: log in (cookie or personal token), log out, manage own tokens."""

from __future__ import annotations

import secrets
import uuid

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select

from medcoop.hub.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    DbSession,
    Settings,
    UserPrincipal,
    WriteSession,
    get_limiter,
    open_session,
)
from medcoop.hub.api.schemas import ErrorOut, LoginIn, LoginOut, TokenIn, TokenOut
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Token, TokenKind
from medcoop.hub.errors import NotFoundError, PermissionDeniedError, RateLimitedError
from medcoop.hub.services import accounts
from medcoop.hub.settings import HubSettings

__all__ = ["clear_session_cookies", "open_web_session", "router"]

router = APIRouter(prefix="/api/v1", tags=["authentication"])
_AUTH_ERRORS = {
    401: {"model": ErrorOut, "description": "Wrong credentials"},
    429: {"model": ErrorOut, "description": "Too many attempts; see Retry-After"},
}


def _throttle(request: Request, settings: HubSettings, email: str) -> None:
    client = request.client.host if request.client else "unknown"
    wait_s = get_limiter(request).acquire(
        f"login:{client}:{accounts.normalise_email(email)}",
        rate_per_s=settings.login_rate_per_min / 60,
        burst=settings.login_burst,
    )
    if wait_s:
        raise RateLimitedError(wait_s)


def _login(
    request: Request, settings: HubSettings, body: LoginIn, kind: TokenKind, ttl_s: int, name: str
) -> tuple[Token, str]:
    _throttle(request, settings, body.email)
    with open_session(request) as session:
        begin_write(session)
        token, secret = accounts.login(
            session,
            body.email,
            body.password,
            kind=kind,
            ttl_s=ttl_s,
            org_id=body.organisation_id,
            name=name,
        )
        session.commit()
    return token, secret


def open_web_session(
    request: Request, response: Response, settings: HubSettings, body: LoginIn
) -> LoginOut:
    """Check the password, open a web session and set its cookies on ``response``.

    The session cookie is HttpOnly; the CSRF cookie is readable by the page, which sends
    it back (header or form field) with every unsafe request (double submit).
    """
    token, secret = _login(
        request, settings, body, TokenKind.SESSION, settings.session_ttl_s, "web session"
    )
    csrf = secrets.token_urlsafe(32)
    common = {"secure": settings.cookie_secure, "samesite": "lax", "path": "/"}
    max_age = settings.session_ttl_s
    response.set_cookie(SESSION_COOKIE, secret, httponly=True, max_age=max_age, **common)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, max_age=max_age, **common)
    assert token.expires_at is not None
    return LoginOut(csrf_token=csrf, expires_at=token.expires_at, organisation_id=token.org_id)


def clear_session_cookies(response: Response) -> None:
    """Remove the session and CSRF cookies."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.post("/auth/login", response_model=LoginOut, responses=_AUTH_ERRORS)
def login(body: LoginIn, request: Request, response: Response, settings: Settings) -> LoginOut:
    """Open a web session: sets the session cookie and the CSRF cookie."""
    return open_web_session(request, response, settings, body)


@router.post("/auth/token", response_model=TokenOut, responses=_AUTH_ERRORS)
def token_from_password(body: LoginIn, request: Request, settings: Settings) -> TokenOut:
    """Exchange e-mail and password for a personal access token (for the CLI)."""
    token, secret = _login(
        request, settings, body, TokenKind.PERSONAL, settings.personal_token_ttl_s, "cli login"
    )
    return TokenOut.model_validate(token).model_copy(update={"token": secret})


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": ErrorOut, "description": "Not logged in"}},
)
def logout(principal: UserPrincipal, db: WriteSession, response: Response) -> Response:
    """Revoke the token or session used for this request and clear the cookies."""
    accounts.revoke_token(db, principal.token_id, org_id=principal.org_id)
    db.commit()
    response.status_code = status.HTTP_204_NO_CONTENT
    clear_session_cookies(response)
    return response


@router.get("/tokens", response_model=list[TokenOut], responses={401: {"model": ErrorOut}})
def list_tokens(principal: UserPrincipal, db: DbSession) -> list[Token]:
    """List the caller's own tokens in this organisation (never their secrets)."""
    if principal.user_id is None:
        return []
    return list(
        db.scalars(
            select(Token)
            .where(Token.org_id == principal.org_id, Token.user_id == principal.user_id)
            .order_by(Token.created_at)
        )
    )


@router.post(
    "/tokens",
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
def create_token(
    body: TokenIn, principal: UserPrincipal, db: WriteSession, settings: Settings
) -> TokenOut:
    """Create a personal access token for the caller (``scopes`` narrow its permissions)."""
    if principal.user_id is None:
        raise PermissionDeniedError("only people can create personal access tokens")
    unknown = [s for s in body.scopes if s not in {p.value for p in principal.permissions}]
    if unknown:
        raise PermissionDeniedError(f"scopes beyond your permissions: {', '.join(unknown)}")
    token, secret = accounts.issue_token(
        db,
        TokenKind.PERSONAL,
        principal.org_id,
        user_id=principal.user_id,
        name=body.name,
        scopes=tuple(body.scopes),
        ttl_s=min(body.ttl_days * 86400, settings.personal_token_ttl_s * 4),
    )
    db.commit()
    return TokenOut.model_validate(token).model_copy(update={"token": secret})


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
def revoke_token(token_id: uuid.UUID, principal: UserPrincipal, db: WriteSession) -> Response:
    """Revoke one of the caller's own tokens."""
    token = db.get(Token, token_id)
    if token is None or token.org_id != principal.org_id or token.user_id != principal.user_id:
        raise NotFoundError("token", token_id)
    accounts.revoke_token(db, token_id, org_id=principal.org_id)
    db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
