"""Tenancy and people: organisations, users, memberships, sites, enrollment, tokens.

Functions take a session already scoped by the caller (see
:mod:`medcoop.hub.db.tenancy`) and flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medcoop.hub.db.access import Purpose
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import (
    EnrollmentCode,
    Invitation,
    Membership,
    Organisation,
    OrgKind,
    Role,
    Site,
    Token,
    TokenKind,
    User,
)
from medcoop.hub.db.tenancy import pooled
from medcoop.hub.errors import AuthenticationError, ConflictError, GoneError, NotFoundError
from medcoop.hub.security import (
    hash_password,
    hash_secret,
    new_enrollment_code,
    new_token,
    normalise_code,
    verify_password,
)

__all__ = [
    "Enrollment",
    "ProvisionedSite",
    "accept_invitation",
    "add_membership",
    "create_invitation",
    "create_organisation",
    "create_site",
    "create_user",
    "enroll_edge",
    "issue_enrollment_code",
    "issue_token",
    "login",
    "normalise_email",
    "provision_site",
    "revoke_token",
]


def normalise_email(email: str) -> str:
    """Return ``email`` trimmed and lower-cased (addresses are unique case-insensitively)."""
    return email.strip().lower()


def _flush_or_conflict(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"{what} already exists") from exc


def create_organisation(
    session: Session,
    name: str,
    *,
    kind: OrgKind | str = OrgKind.HOSPITAL,
    country: str | None = None,
) -> Organisation:
    """Create a tenant; ``session`` must be pooled for administration by the caller."""
    org = Organisation(name=name.strip(), kind=OrgKind(kind).value, country=country)
    session.add(org)
    _flush_or_conflict(session, f"organisation {name!r}")
    return org


def create_user(
    session: Session,
    email: str,
    *,
    password: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a person (no organisation yet: see :func:`add_membership`)."""
    user = User(
        email=normalise_email(email),
        display_name=display_name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    _flush_or_conflict(session, "a user with this e-mail address")
    return user


def add_membership(
    session: Session, org_id: uuid.UUID, user_id: uuid.UUID, role: Role | str
) -> Membership:
    """Give ``user_id`` the ``role`` in ``org_id`` (idempotent)."""
    role_value = Role(role).value
    existing = session.get(Membership, (org_id, user_id, role_value))
    if existing is not None:
        return existing
    membership = Membership(org_id=org_id, user_id=user_id, role=role_value)
    session.add(membership)
    session.flush()
    return membership


def create_site(
    session: Session,
    org_id: uuid.UUID,
    name: str,
    *,
    country: str | None = None,
    site_type: str | None = None,
) -> Site:
    """Create a site (hospital) of ``org_id``."""
    site = Site(
        org_id=org_id,
        name=name.strip(),
        country=country.upper() if country else None,
        site_type=site_type,
    )
    session.add(site)
    _flush_or_conflict(session, f"site {name!r}")
    return site


def issue_enrollment_code(
    session: Session, org_id: uuid.UUID, site_id: uuid.UUID, *, ttl_s: int
) -> str:
    """Return a new one-time enrollment code for a site (stored only as its hash)."""
    if session.get(Site, (org_id, site_id)) is None:
        raise NotFoundError("site", site_id)
    code = new_enrollment_code()
    session.add(
        EnrollmentCode(
            org_id=org_id,
            site_id=site_id,
            code_hash=hash_secret(code),
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return code


def issue_token(
    session: Session,
    kind: TokenKind,
    org_id: uuid.UUID,
    *,
    ttl_s: int | None,
    user_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    name: str | None = None,
    scopes: tuple[str, ...] = (),
) -> tuple[Token, str]:
    """Create a token; return its row and the secret (shown once, stored only hashed)."""
    secret = new_token(kind)
    token = Token(
        token_hash=hash_secret(secret),
        kind=kind.value,
        org_id=org_id,
        user_id=user_id,
        site_id=site_id,
        name=name,
        scopes=list(scopes),
        expires_at=utcnow() + timedelta(seconds=ttl_s) if ttl_s else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def revoke_token(session: Session, token_id: uuid.UUID, *, org_id: uuid.UUID) -> None:
    """Revoke a token of ``org_id`` (a no-op when already revoked)."""
    done = cast(
        "CursorResult[Any]",
        session.execute(
            update(Token)
            .where(Token.id == token_id, Token.org_id == org_id, Token.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ),
    )
    if done.rowcount == 0 and session.get(Token, token_id) is None:
        raise NotFoundError("token", token_id)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What an edge receives in exchange for its enrollment code."""

    site_id: uuid.UUID
    site_token: str
    organisation: str
    site: str


def enroll_edge(session: Session, code: str, edge_name: str, *, token_ttl_s: int) -> Enrollment:
    """Exchange a one-time enrollment code for a site token.

    Raises
    ------
    AuthenticationError
        The code is unknown.
    GoneError
        The code was already used or has expired.
    """
    pooled(session, Purpose.ENROLL)
    row = session.scalar(
        select(EnrollmentCode).where(EnrollmentCode.code_hash == hash_secret(normalise_code(code)))
    )
    if row is None:
        raise AuthenticationError("unknown enrollment code")
    now = utcnow()
    # Claim the code with a conditional UPDATE so two racing edges cannot both use it.
    claimed = session.execute(
        update(EnrollmentCode)
        .where(
            EnrollmentCode.org_id == row.org_id,
            EnrollmentCode.id == row.id,
            EnrollmentCode.used_at.is_(None),
            EnrollmentCode.expires_at > now,
        )
        .values(used_at=now)
    )
    if cast("CursorResult[Any]", claimed).rowcount != 1:
        raise GoneError("enrollment code already used or expired")
    site = session.get(Site, (row.org_id, row.site_id))
    org = session.get(Organisation, row.org_id)
    if site is None or org is None:
        raise GoneError("the site of this enrollment code no longer exists")
    site.edge_name = edge_name[:200]
    site.enrolled_at = now
    _token, secret = issue_token(
        session,
        TokenKind.SITE,
        row.org_id,
        site_id=row.site_id,
        ttl_s=token_ttl_s,
        name=f"edge {edge_name[:180]}",
    )
    return Enrollment(site_id=site.id, site_token=secret, organisation=org.name, site=site.name)


def login(
    session: Session,
    email: str,
    password: str,
    *,
    kind: TokenKind,
    ttl_s: int,
    org_id: uuid.UUID | None = None,
    name: str | None = None,
) -> tuple[Token, str]:
    """Check a password and return a new session or personal token for the user.

    The token is bound to ``org_id``, or to the user's first organisation.
    """
    pooled(session, Purpose.LOGIN)
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise AuthenticationError("wrong e-mail address or password")
    if not user.is_active:
        raise AuthenticationError("wrong e-mail address or password")
    query = select(Membership.org_id).where(Membership.user_id == user.id)
    if org_id is not None:
        query = query.where(Membership.org_id == org_id)
    member_of = session.scalars(query.order_by(Membership.created_at)).first()
    if member_of is None:
        raise AuthenticationError("this user belongs to no such organisation")
    return issue_token(session, kind, member_of, user_id=user.id, ttl_s=ttl_s, name=name)


def create_invitation(
    session: Session,
    org_id: uuid.UUID,
    email: str,
    role: Role | str,
    *,
    created_by: uuid.UUID | None,
    ttl_s: int,
) -> tuple[Invitation, str]:
    """Invite an e-mail address to join ``org_id``; return the row and the one-time secret."""
    secret = new_token(TokenKind.PERSONAL).replace("mcp_", "mci_", 1)
    invitation = Invitation(
        org_id=org_id,
        email=normalise_email(email),
        role=Role(role).value,
        token_hash=hash_secret(secret),
        created_by=created_by,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(invitation)
    session.flush()
    return invitation, secret


def accept_invitation(
    session: Session, secret: str, *, password: str, display_name: str | None = None
) -> User:
    """Accept an invitation: create (or reuse) the user and add the membership."""
    pooled(session, Purpose.ACCEPT_INVITATION)
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_secret(secret))
    )
    if invitation is None:
        raise AuthenticationError("unknown invitation")
    if invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        raise GoneError("invitation already used or expired")
    user = session.scalar(select(User).where(User.email == invitation.email))
    if user is None:
        user = create_user(session, invitation.email, password=password, display_name=display_name)
    add_membership(session, invitation.org_id, user.id, invitation.role)
    invitation.accepted_at = utcnow()
    session.flush()
    return user


@dataclass(frozen=True, slots=True)
class ProvisionedSite:
    """A site ready for its edge: ids and the one-time enrollment code."""

    org_id: uuid.UUID
    site_id: uuid.UUID
    enrollment_code: str


def provision_site(
    session: Session,
    org_name: str,
    site_name: str,
    *,
    country: str | None = None,
    site_type: str | None = None,
    code_ttl_s: int = 7 * 86400,
) -> ProvisionedSite:
    """Create (or reuse) an organisation, create a site and return its enrollment code.

    The programmatic form of ``create-org`` + ``create-site`` for demos and tests; the
    caller commits.
    """
    # it reads before it writes: on SQLite a deferred transaction whose read snapshot another
    # writer (the access log's batch, ingest) has moved past fails at once, not after waiting
    begin_write(session)
    pooled(session, Purpose.ADMINISTER)
    org = session.scalar(select(Organisation).where(Organisation.name == org_name.strip()))
    if org is None:
        org = create_organisation(session, org_name, country=country)
    site = create_site(session, org.id, site_name, country=country, site_type=site_type)
    code = issue_enrollment_code(session, org.id, site.id, ttl_s=code_ttl_s)
    return ProvisionedSite(org_id=org.id, site_id=site.id, enrollment_code=code)
