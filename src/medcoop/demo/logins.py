"""Demo logins: one person per role in two organisations, for the dashboard.

Passwords are drawn afresh for every demo run and printed once by the demo; the hub
keeps only their argon2 hashes.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from medcoop.hub.db.models import Organisation, Role

__all__ = ["DemoLogin", "create_logins"]


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A person who can sign in to the dashboard."""

    organisation: str
    org_id: uuid.UUID
    role: Role
    email: str
    password: str


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def create_logins(db_url: str, organisations: tuple[str, ...]) -> list[DemoLogin]:
    """Create one user per role in each named organisation; return their logins."""
    from medcoop.hub.db.engine import make_engine, make_session_factory
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts
    from medcoop.hub.settings import HubSettings

    engine = make_engine(HubSettings(database_url=db_url))
    logins: list[DemoLogin] = []
    try:
        with make_session_factory(engine)() as session:
            scope_session(session, ALL_TENANTS)
            for name in organisations:
                org_id = session.scalar(select(Organisation.id).where(Organisation.name == name))
                if org_id is None:
                    raise LookupError(f"no organisation {name!r} in the demo hub")
                for role in Role:
                    email = f"{role.value.replace('_', '.')}@{_slug(name)}.example"
                    password = secrets.token_urlsafe(9)
                    user = accounts.create_user(
                        session, email, password=password, display_name=f"Demo {role.value}"
                    )
                    accounts.add_membership(session, org_id, user.id, role)
                    logins.append(DemoLogin(name, org_id, role, email, password))
            session.commit()
    finally:
        engine.dispose()
    return logins
