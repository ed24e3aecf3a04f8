"""FastAPI dependencies: settings, database sessions scoped by tenant, the caller.

Authentication: ``Authorization: Bearer <token>`` (site, personal and app tokens), or
the ``medcoop_session`` cookie for the web. Cookie-authenticated unsafe requests must
pass the CSRF check: the ``X-CSRF-Token`` header (or, for the dashboard's plain HTML
forms, the ``csrf_token`` form field) equals the ``medcoop_csrf`` cookie (double submit)
and any ``Origin`` header is the hub's own or a trusted one. The API and the web
dashboard share these dependencies, so a page enforces exactly its endpoint's permission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from medcoop.hub.db.access import Actor
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import AuthenticationError, PermissionDeniedError
from medcoop.hub.ratelimit import RateLimiter
from medcoop.hub.security import constant_time_equal
from medcoop.hub.services.accounts import Permission, Principal, authenticate_token
from medcoop.hub.settings import HubSettings

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "DbSession",
    "PageParams",
    "Paging",
    "Settings",
    "UserPrincipal",
    "WriteSession",
    "actor_of",
    "get_principal",
    "require",
]

SESSION_COOKIE = "medcoop_session"
CSRF_COOKIE = "medcoop_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PEOPLE = frozenset({TokenKind.SESSION, TokenKind.PERSONAL, TokenKind.APP})


def get_settings(request: Request) -> HubSettings:
    """Return the settings the app was built with."""
    return request.app.state.settings


def get_limiter(request: Request) -> RateLimiter:
    """Return the app's rate limiter."""
    return request.app.state.limiter


def open_session(request: Request) -> Session:
    """Return a new (unscoped) session of the app's database."""
    return request.app.state.session_factory()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return value.strip()


def _check_csrf(request: Request, settings: HubSettings, submitted: str | None) -> None:
    if request.method in _SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    header = request.headers.get(CSRF_HEADER) or submitted
    if not cookie or not header or not constant_time_equal(cookie, header):
        raise PermissionDeniedError(
            "CSRF check failed: the form was stale or not sent by this hub; "
            "reload the page and try again (API: send the X-CSRF-Token header)"
        )
    origin = request.headers.get("origin")
    if origin:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own and origin not in settings.trusted_origins:
            raise PermissionDeniedError("CSRF check failed: cross-origin request")


def authenticate_request(
    request: Request, kinds: frozenset[TokenKind], csrf_field: str | None = None
) -> Principal:
    """Return the caller of ``request`` among token ``kinds`` (401 when there is none).

    ``csrf_field`` is the CSRF token a form submitted, for requests without the header.
    """
    settings = get_settings(request)
    secret = _bearer(request)
    from_cookie = False
    if secret is None and TokenKind.SESSION in kinds:
        secret = request.cookies.get(SESSION_COOKIE)
        from_cookie = secret is not None
    if secret is None:
        raise AuthenticationError("authentication required")
    with open_session(request) as session:
        principal = authenticate_token(session, secret, kinds=kinds)
    if from_cookie:
        _check_csrf(request, settings, csrf_field)
    request.state.principal = principal
    return principal


async def get_principal(request: Request) -> Principal:
    """Dependency: the person (session, personal or app token) calling."""
    submitted = None
    content_type = request.headers.get("content-type", "")
    if request.method not in _SAFE_METHODS and content_type.startswith(_FORMS):
        # the form is parsed once per request (Starlette caches it for the endpoint)
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    return await run_in_threadpool(authenticate_request, request, _PEOPLE, submitted)


UserPrincipal = Annotated[Principal, Depends(get_principal)]


def actor_of(principal: Principal) -> Actor:
    """Who ``principal`` is in the access log: a person, an app token or an edge."""
    if principal.kind is TokenKind.SITE:
        who = f"site:{principal.site_id}"
    elif principal.kind is TokenKind.APP:
        who = f"app:{principal.token_id}"
    else:
        who = f"user:{principal.user_id}"
    return Actor(who, str(principal.org_id))
Settings = Annotated[HubSettings, Depends(get_settings)]


def get_db(request: Request, principal: UserPrincipal) -> Iterator[Session]:
    """Dependency: a session scoped to the caller's organisation, closed after the request."""
    session = scope_session(open_session(request), principal.org_id)
    try:
        yield session
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_db)]


def get_write_db(request: Request, principal: UserPrincipal) -> Iterator[Session]:
    """Dependency: like :func:`get_db`, with the transaction opened as a writer."""
    session = scope_session(open_session(request), principal.org_id)
    try:
        begin_write(session)
        yield session
    finally:
        session.close()


WriteSession = Annotated[Session, Depends(get_write_db)]


@dataclass(frozen=True, slots=True)
class PageParams:
    """``limit`` and ``offset`` of a list endpoint."""

    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")] = 0,
) -> PageParams:
    """Dependency: pagination parameters."""
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller, who must hold ``permission`` (else 403)."""

    def _check(principal: UserPrincipal) -> Principal:
        principal.require(permission)
        return principal

    return _check
