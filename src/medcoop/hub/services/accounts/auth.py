"""Who is calling, and what they may do: principals, roles, permissions, token checks.

Role → permission mapping lives here and only here; routers ask for a permission
(``require(Permission.MANAGE_SITES)``), never for a role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from medcoop.hub.db.access import Purpose
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Membership, Role, Token, TokenKind, User
from medcoop.hub.db.tenancy import pooled
from medcoop.hub.errors import AuthenticationError, PermissionDeniedError
from medcoop.hub.security import hash_secret, token_kind_of

__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "authenticate_token",
    "roles_of",
]

#: Don't rewrite ``last_used_at`` on every request: once a minute is precise enough.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


class Permission(StrEnum):
    """What a principal may do inside its organisation."""

    READ_DIRECTORY = "directory:read"  # own organisation, sites, devices, members
    READ_STUDIES = "studies:read"
    MANAGE_DEVICES = "devices:write"
    MANAGE_SITES = "sites:write"
    MANAGE_USERS = "users:write"
    MANAGE_ORGANISATIONS = "organisations:write"  # platform operator: create tenants
    INGEST = "records:ingest"  # edges only
    REVIEW_APP_RESULTS = "apps:review"  # mark an app's result right or wrong
    # the app store (hub/services/store/policy.py maps each store action to one of these)
    STORE_BROWSE = "store:browse"  # search the catalogue, read listings
    STORE_BUY = "store:buy"  # request trials, quotes, services; order; review
    STORE_READ_ORDERS = "store:orders:read"  # own requests, orders, entitlements, usage
    STORE_SELL = "store:sell"  # a vendor's listings, quotes, trials, metering
    STORE_APPROVE_VENDORS = "store:vendors:approve"  # platform operator
    STORE_METER = "store:meter"  # edges only: entitlement checks, usage records


_READER = frozenset(
    {
        Permission.READ_DIRECTORY,
        Permission.READ_STUDIES,
        Permission.STORE_BROWSE,
        Permission.STORE_READ_ORDERS,
    }
)
_BUYER = frozenset({Permission.STORE_BUY})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: frozenset(
        {
            Permission.READ_DIRECTORY,
            Permission.MANAGE_ORGANISATIONS,
            Permission.MANAGE_USERS,
            Permission.MANAGE_SITES,
            Permission.STORE_BROWSE,
            Permission.STORE_APPROVE_VENDORS,
        }
    ),
    Role.ORG_ADMIN: _READER
    | _BUYER
    | {Permission.MANAGE_SITES, Permission.MANAGE_USERS, Permission.MANAGE_DEVICES},
    Role.MEDICAL_PHYSICIST: _READER
    | {Permission.MANAGE_DEVICES, Permission.REVIEW_APP_RESULTS},
    Role.RADIOLOGY_MANAGER: _READER | _BUYER | {Permission.REVIEW_APP_RESULTS},
    Role.VENDOR_PUBLISHER: frozenset(
        {Permission.READ_DIRECTORY, Permission.STORE_BROWSE, Permission.STORE_SELL}
    ),
    Role.VIEWER: _READER,
}
_SITE_PERMISSIONS = frozenset({Permission.INGEST, Permission.STORE_METER})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a person (session, personal or app token) or an edge."""

    kind: TokenKind
    org_id: uuid.UUID
    token_id: uuid.UUID
    user_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    roles: frozenset[Role] = frozenset()
    scopes: tuple[str, ...] = ()
    permissions: frozenset[Permission] = field(default_factory=frozenset)

    def can(self, permission: Permission) -> bool:
        """Return whether this principal holds ``permission``."""
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise :class:`PermissionDeniedError` unless this principal holds ``permission``."""
        if permission not in self.permissions:
            raise PermissionDeniedError(f"this action needs the {permission.value} permission")


def roles_of(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> frozenset[Role]:
    """Return the roles ``user_id`` holds in ``org_id``."""
    rows = session.scalars(
        select(Membership.role).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )
    return frozenset(Role(role) for role in rows)


def _permissions_for(roles: frozenset[Role], scopes: tuple[str, ...]) -> frozenset[Permission]:
    granted = frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))
    if scopes:  # a scoped token narrows, never widens, what its owner may do
        granted = granted & {Permission(s) for s in scopes if s in Permission._value2member_map_}
    return granted


def _record_use(session: Session, token_id: uuid.UUID) -> None:
    # End the read transaction first: upgrading it to a writer fails at once on SQLite
    # when another process wrote meanwhile. The timestamp is best effort, never an error.
    session.rollback()
    try:
        begin_write(session)
        session.execute(update(Token).where(Token.id == token_id).values(last_used_at=utcnow()))
        session.commit()
    except OperationalError:
        session.rollback()


def authenticate_token(
    session: Session, secret: str, *, kinds: frozenset[TokenKind] | None = None
) -> Principal:
    """Return the principal a bearer secret stands for, recording its use.

    Parameters
    ----------
    session
        A session of its own: this function scopes it to all tenants and commits.
    secret
        The token as presented (``mcs_...``, ``mcp_...``...).
    kinds
        Token kinds acceptable here; others are refused as if unknown.

    Raises
    ------
    AuthenticationError
        Unknown, wrong kind, revoked or expired token, or a disabled user.
    """
    kind = token_kind_of(secret)
    if kind is None or (kinds is not None and kind not in kinds):
        raise AuthenticationError("invalid token")
    pooled(session, Purpose.AUTHENTICATE)
    token = session.scalar(select(Token).where(Token.token_hash == hash_secret(secret)))
    now = utcnow()
    if token is None or token.kind != kind.value:
        raise AuthenticationError("invalid token")
    if token.revoked_at is not None:
        raise AuthenticationError("token revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthenticationError("token expired")
    roles: frozenset[Role] = frozenset()
    if token.user_id is not None:
        user = session.get(User, token.user_id)
        if user is None or not user.is_active:
            raise AuthenticationError("user disabled")
        roles = roles_of(session, token.org_id, token.user_id)
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        session.expunge(token)  # keep its loaded values through the rollback below
        _record_use(session, token.id)
    scopes = tuple(token.scopes or ())
    if kind is TokenKind.SITE:
        permissions = _SITE_PERMISSIONS
    elif kind is TokenKind.APP and token.user_id is None:
        # An app acting for an organisation holds exactly its scopes, minus ingest.
        permissions = (
            frozenset(Permission(s) for s in scopes if s in Permission._value2member_map_)
            - _SITE_PERMISSIONS
        )
    else:
        permissions = _permissions_for(roles, scopes)
    return Principal(
        kind=kind,
        org_id=token.org_id,
        token_id=token.id,
        user_id=token.user_id,
        site_id=token.site_id,
        roles=roles,
        scopes=scopes,
        permissions=permissions,
    )
