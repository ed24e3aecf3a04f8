"""The store's background job: deliver commerce notices, and let the clock run out.

Every poll (:meth:`StoreNotifier.run_once`):

1. **expiries**: entitlements past their end (and their trials), quotes past their
   validity and subscriptions past their period move on (:func:`.commerce.expire_due`,
   audited and noticed like any transition), through the door for
   :attr:`~medcoop.hub.db.access.Purpose.STORE_CLOCK`;
2. **notices**: each due notice of the outbox (``store_notices``, written in the
   transaction of its transition) is sent on its recipient's notification channels —
   the same e-mail and webhook settings as alerts (``/alerts/rules``), webhooks signed
   the same way (:func:`medcoop.analytics.notify.sign_body`) — then marked sent, or
   retried with the alert notifier's backoff. A recipient without channels has nothing
   to send: the notice stays readable on its pages.
"""

from __future__ import annotations

import json
import logging
import smtplib
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from medcoop.analytics.notify import SIGNATURE_HEADER, NotificationError, sign_body
from medcoop.hub.background import PeriodicJob
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Organisation
from medcoop.hub.db.store_models import StoreNotice
from medcoop.hub.db.tenancy import pooled, scope_session
from medcoop.hub.services.analytics.alerts import NotifySettings, get_settings
from medcoop.hub.services.analytics.notifier import backoff
from medcoop.hub.services.store.commerce import expire_due

__all__ = ["StoreNotifier", "notice_payload"]

log = logging.getLogger(__name__)
_LEASE = timedelta(minutes=5)


def notice_payload(notice: StoreNotice, organisation: str) -> dict[str, Any]:
    """What a notice says (no identifying values: commerce objects only)."""
    return {
        "organisation": organisation,
        "kind": "store",
        "subject": notice.subject,
        "subject_id": str(notice.subject_id),
        "message": notice.message,
        "created_at": notice.created_at.isoformat(),
    }


def _send(payload: dict[str, Any], settings: NotifySettings, done: list[str]) -> list[str]:
    """Send on every configured channel not in ``done``; return the errors."""
    errors: list[str] = []
    body = json.dumps(payload).encode()
    if settings.webhook is not None and "webhook" not in done:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(settings.webhook.secret.encode(), body),
        }
        try:
            answer = httpx.post(settings.webhook.url, content=body, headers=headers, timeout=10)
            if not answer.is_success:
                raise NotificationError("webhook", f"HTTP {answer.status_code}")
            done.append("webhook")
        except (httpx.HTTPError, NotificationError) as exc:
            errors.append(f"webhook: {exc}")
    if settings.email is not None and "email" not in done:
        e = settings.email
        email = EmailMessage()
        email["From"] = e.sender
        email["To"] = ", ".join(e.recipients)
        email["Subject"] = f"[medcoop store] {payload['message']}"[:200]
        email.set_content(json.dumps(payload, sort_keys=True, indent=1) + "\n")
        try:
            with smtplib.SMTP(e.host, e.port, timeout=10) as smtp:
                if e.starttls:
                    smtp.starttls()
                smtp.send_message(email)
            done.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            errors.append(f"email: {exc}")
    return errors


class StoreNotifier(PeriodicJob):
    """Expires what is due and delivers the store's notices (see the module docstring)."""

    name = "store-notifier"

    def __init__(
        self, session_factory: sessionmaker[Session], *, interval_s: float = 5.0, batch: int = 50
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._factory = session_factory
        self.batch = batch

    def run_once(self, now: datetime | None = None) -> int:
        """One poll at ``now``; return the expiries plus the notices tried."""
        now = now or utcnow()
        with self._factory() as session:
            pooled(session, Purpose.STORE_CLOCK)
            begin_write(session)
            expired = expire_due(session, now)
            session.commit()
        with self._factory() as session:
            pooled(session, Purpose.STORE_NOTIFY)
            due = session.execute(
                select(StoreNotice.recipient_org_id, StoreNotice.id)
                .where(
                    StoreNotice.notified_at.is_(None),
                    StoreNotice.notify_after.is_not(None),
                    StoreNotice.notify_after <= now,
                )
                .order_by(StoreNotice.notify_after)
                .limit(self.batch)
            ).all()
        for recipient, notice_id in due:
            if self.stopping:
                break
            self._deliver(recipient, notice_id, now)
        return expired + len(due)

    def _claim(self, recipient: uuid.UUID, notice_id: uuid.UUID, now: datetime) -> bool:
        # a lease, conditional on the notice still being due: two workers never both send
        with self._factory() as session:
            scope_session(session, recipient)
            begin_write(session)
            claimed = session.execute(
                update(StoreNotice)
                .where(
                    StoreNotice.id == notice_id,
                    StoreNotice.notified_at.is_(None),
                    StoreNotice.notify_after <= now,
                )
                .values(notify_after=now + _LEASE)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return cast("CursorResult[Any]", claimed).rowcount == 1

    def _deliver(self, recipient: uuid.UUID, notice_id: uuid.UUID, now: datetime) -> None:
        if not self._claim(recipient, notice_id, now):
            return
        with self._factory() as session:
            scope_session(session, recipient)
            notice = session.scalar(select(StoreNotice).where(StoreNotice.id == notice_id))
            if notice is None:
                return
            _rules, settings = get_settings(session)
            name = session.scalar(select(Organisation.name).where(Organisation.id == recipient))
            payload = notice_payload(notice, name or "")
            done = list(notice.notify_done or ())
            attempts = notice.notify_attempts + 1
            session.rollback()  # no transaction open while sending
            errors = _send(payload, settings, done) if settings.channels else []
            begin_write(session)
            notice = session.scalar(select(StoreNotice).where(StoreNotice.id == notice_id))
            if notice is None:
                return
            notice.notify_attempts = attempts
            notice.notify_done = done
            if not settings.channels:
                notice.notify_after = None  # nowhere to send it: it stays on the pages
            elif errors:
                notice.notify_error = "; ".join(errors)[:400]
                notice.notify_after = now + backoff(attempts)
                log.warning("store notice %s: not delivered (try %d)", notice_id, attempts)
            else:
                notice.notified_at = utcnow()
                notice.notify_after = None
                notice.notify_error = None
            session.commit()
