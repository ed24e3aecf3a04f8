"""The audit trail and notices of store commerce: one call per transition.

Every state change of a trial, quote, order, entitlement or service request goes through
:func:`record_transition`, which writes, in the caller's transaction, the audit event
(who: organisation and person; when; what changed) and one notice to each party (the
outbox :class:`~medcoop.hub.services.store.notices.StoreNotifier` delivers). A
transition, its audit entry and its notices are therefore committed together or not at
all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medcoop.hub.db.store_models import StoreEvent, StoreNotice
from medcoop.hub.services.accounts import Principal

__all__ = ["SYSTEM", "Actor", "events_of", "record_transition"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: an organisation and, for a person, the user (``None``: the platform's
    own clock, e.g. an expiry)."""

    org_id: uuid.UUID | None
    user_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The actor a principal is."""
        return cls(principal.org_id, principal.user_id)


#: The platform acting on its own (expiries, automatic approvals).
SYSTEM = Actor(None, None)


class _TwoParty(Protocol):
    @property
    def id(self) -> Any: ...

    @property
    def org_id(self) -> Any: ...

    @property
    def partner_org_id(self) -> Any: ...


def record_transition(
    session: Session,
    subject: str,
    obj: _TwoParty,
    *,
    action: str,
    from_state: str | None,
    to_state: str | None,
    actor: Actor,
    now: datetime,
    message: str,
    detail: dict[str, Any] | None = None,
) -> StoreEvent:
    """Add the audit event of one transition of ``obj`` and a notice to each party."""
    session.flush()  # earlier steps of this transaction count
    step = session.scalar(
        select(func.count()).select_from(StoreEvent).where(StoreEvent.subject_id == obj.id)
    )
    event = StoreEvent(
        org_id=obj.org_id,
        partner_org_id=obj.partner_org_id,
        subject=subject,
        subject_id=obj.id,
        step=(step or 0) + 1,
        action=action,
        from_state=from_state,
        to_state=to_state,
        actor_org_id=actor.org_id,
        actor_user_id=actor.user_id,
        at=now,
        detail=detail or {},
    )
    session.add(event)
    for recipient in (obj.org_id, obj.partner_org_id):
        session.add(
            StoreNotice(
                org_id=obj.org_id,
                partner_org_id=obj.partner_org_id,
                recipient_org_id=recipient,
                subject=subject,
                subject_id=obj.id,
                message=message[:400],
                created_at=now,
                notify_after=now,
            )
        )
    return event


def events_of(session: Session, subject_id: uuid.UUID) -> list[StoreEvent]:
    """The audit trail of one object, oldest first (the caller's tenancy applies)."""
    return list(
        session.scalars(
            select(StoreEvent)
            .where(StoreEvent.subject_id == subject_id)
            .order_by(StoreEvent.step)
        )
    )
