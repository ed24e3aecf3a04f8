"""Reading and editing a tenant's directory: organisations, sites, devices, members.

Tenant-owned rows are read through the scoped session, so another tenant's site or
device is simply not found. Organisations and users are global tables: visibility is
decided here, through the caller's memberships.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from medcoop.hub.db.models import Device, Membership, Organisation, Site, User
from medcoop.hub.db.tenancy import current_tenant
from medcoop.hub.errors import NotFoundError
from medcoop.hub.services.accounts.auth import Permission, Principal

__all__ = [
    "get_device",
    "get_member",
    "get_organisation",
    "get_site",
    "list_devices",
    "list_members",
    "list_organisations",
    "list_sites",
    "remove_member",
    "update_device",
]


def list_organisations(
    session: Session, principal: Principal, *, limit: int, offset: int
) -> tuple[list[Organisation], int]:
    """Return the organisations the caller may see (all for the platform operator)."""
    query = select(Organisation)
    if not principal.can(Permission.MANAGE_ORGANISATIONS):
        query = query.where(Organisation.id == principal.org_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Organisation.name).limit(limit).offset(offset)).all()
    return list(rows), total


def get_organisation(session: Session, principal: Principal, org_id: uuid.UUID) -> Organisation:
    """Return one organisation the caller may see, else raise :class:`NotFoundError`."""
    if org_id != principal.org_id and not principal.can(Permission.MANAGE_ORGANISATIONS):
        raise NotFoundError("organisation", org_id)
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFoundError("organisation", org_id)
    return org


def list_sites(session: Session, *, limit: int, offset: int) -> tuple[list[Site], int]:
    """Return the tenant's sites, by name."""
    total = session.scalar(select(func.count()).select_from(Site)) or 0
    rows = session.scalars(select(Site).order_by(Site.name).limit(limit).offset(offset)).all()
    return list(rows), total


def _tenant(session: Session) -> uuid.UUID:
    tenant = current_tenant(session)
    if not isinstance(tenant, uuid.UUID):
        raise RuntimeError(f"directory reads need a session scoped to one tenant, not {tenant}")
    return tenant


def get_site(session: Session, site_id: uuid.UUID) -> Site:
    """Return one of the tenant's sites, else raise :class:`NotFoundError`."""
    site = session.scalar(select(Site).where(Site.id == site_id))
    if site is None:
        raise NotFoundError("site", site_id)
    return site


def list_devices(
    session: Session, *, site_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[Device], int]:
    """Return the tenant's devices, optionally of one site."""
    query = select(Device)
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Device.first_seen_at, Device.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_device(session: Session, device_id: uuid.UUID) -> Device:
    """Return one of the tenant's devices, else raise :class:`NotFoundError`."""
    device = session.scalar(select(Device).where(Device.id == device_id))
    if device is None:
        raise NotFoundError("device", device_id)
    return device


def update_device(session: Session, device_id: uuid.UUID, changes: dict[str, Any]) -> Device:
    """Set ``device_class`` / ``display_name`` of one of the tenant's devices."""
    device = get_device(session, device_id)
    for name in ("device_class", "display_name"):
        if name in changes:
            setattr(device, name, changes[name])
    session.flush()
    return device


def _members_query(session: Session) -> Any:
    return (
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .order_by(User.email, Membership.role)
    )


def list_members(
    session: Session, *, limit: int, offset: int
) -> tuple[list[tuple[User, list[str]]], int]:
    """Return the tenant's members with their roles, by e-mail address."""
    _tenant(session)
    total = (
        session.scalar(
            select(func.count(func.distinct(Membership.user_id))).select_from(Membership)
        )
        or 0
    )
    ids = session.scalars(
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .group_by(Membership.user_id, User.email)
        .order_by(User.email)
        .limit(limit)
        .offset(offset)
    ).all()
    roles: dict[uuid.UUID, list[str]] = {user_id: [] for user_id in ids}
    users: dict[uuid.UUID, User] = {}
    for user, role in session.execute(_members_query(session).where(User.id.in_(ids))):
        users[user.id] = user
        roles[user.id].append(role)
    return [(users[user_id], sorted(roles[user_id])) for user_id in ids], total


def get_member(session: Session, user_id: uuid.UUID) -> tuple[User, list[str]]:
    """Return a member of the tenant and their roles, else raise :class:`NotFoundError`."""
    rows = session.execute(_members_query(session).where(User.id == user_id)).all()
    if not rows:
        raise NotFoundError("user", user_id)
    return rows[0][0], sorted(role for _user, role in rows)


def remove_member(session: Session, user_id: uuid.UUID) -> None:
    """Remove every role of a member from the tenant and revoke their tokens there."""
    from medcoop.hub.db.base import utcnow
    from medcoop.hub.db.models import Token

    tenant = _tenant(session)
    get_member(session, user_id)
    session.execute(delete(Membership).where(Membership.user_id == user_id))
    # Tokens are a global table: bound to (tenant, user) explicitly.
    session.query(Token).filter(
        Token.org_id == tenant, Token.user_id == user_id, Token.revoked_at.is_(None)
    ).update({Token.revoked_at: utcnow()})
    session.flush()
