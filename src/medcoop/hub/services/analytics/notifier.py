"""The background notifier: delivers due alert notices (e-mail, webhook) with retries.

The alerts table is the outbox. An alert opened while the organisation has a channel
configured gets ``notify_after`` (due now), in the same transaction that opened it, so a
crash never loses a notice. The :class:`AlertNotifier` is a background job
(:mod:`medcoop.hub.background`), run by ``medcoop hub worker`` or in the web app's
process; it polls every few seconds, or at once when woken after a commit that opened
alerts. Per alert:

1. **claim** in a short write: ``notify_after`` moves a lease ahead and the attempt is
   counted, conditionally on the value just read, so two workers never both claim it;
2. **send** outside any transaction (a slow SMTP server holds no lock and no request);
3. **record**: ``notified_at`` on success; else the error, the channels already
   delivered (``notify_done``, not repeated) and the next try after an exponential
   backoff (30 s doubling, at most an hour). A worker that dies between 1 and 3 leaves
   the lease to expire, and another retries: delivery is at least once.

Closed alerts are not notified any more; an organisation without channels has nothing due.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from medcoop.hub.background import PeriodicJob
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Organisation
from medcoop.hub.db.tenancy import pooled, scope_session
from medcoop.hub.services.analytics.alerts import deliver, get_settings

__all__ = ["AlertNotifier", "backoff"]

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 30.0
_MAX_RETRY_S = 3600.0


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next try after ``attempts`` failed ones."""
    return timedelta(seconds=min(_FIRST_RETRY_S * 2 ** max(attempts - 1, 0), _MAX_RETRY_S))


class AlertNotifier(PeriodicJob):
    """Delivers due alert notices in the background (see the module docstring).

    Parameters
    ----------
    session_factory
        The app's session factory (sessions are scoped here: the scan spans tenants,
        each delivery reads one organisation's settings through its own scope).
    interval_s
        Seconds between polls when not woken.
    lease_s
        How long a claim holds an alert; longer than the slowest delivery.
    batch
        Alerts handled per poll at most.
    """

    name = "notifier"

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        interval_s: float = 5.0,
        lease_s: float = 300.0,
        batch: int = 50,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self._factory = session_factory
        self.lease = timedelta(seconds=lease_s)
        self.batch = batch

    # -- one poll ------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> int:
        """Deliver the alerts due at ``now``; return how many were tried."""
        now = now or utcnow()
        with self._factory() as session:
            pooled(session, Purpose.NOTIFY)  # the scan spans tenants; each send is in one
            due = session.execute(
                select(AlertRow.org_id, AlertRow.alert_key, AlertRow.notify_after)
                .where(
                    AlertRow.notified_at.is_(None),
                    AlertRow.notify_after.is_not(None),
                    AlertRow.notify_after <= now,
                    AlertRow.state != "closed",
                )
                .order_by(AlertRow.notify_after)
                .limit(self.batch)
            ).all()
        tried = 0
        for org_id, key, after in due:
            if self.stopping:
                break
            if self._claim(org_id, key, after, now):
                self._deliver(org_id, key, now)
                tried += 1
        return tried

    def _claim(
        self, org_id: uuid.UUID, key: str, after: datetime | None, now: datetime
    ) -> bool:
        with self._factory() as session:
            scope_session(session, org_id)
            begin_write(session)
            claimed = session.execute(
                update(AlertRow)
                .where(
                    AlertRow.alert_key == key,
                    AlertRow.notify_after == after,
                    AlertRow.notified_at.is_(None),
                )
                .values(notify_after=now + self.lease, notify_attempts=AlertRow.notify_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return cast("CursorResult[Any]", claimed).rowcount == 1

    def _deliver(self, org_id: uuid.UUID, key: str, now: datetime) -> None:
        with self._factory() as session:
            scope_session(session, org_id)
            row = session.scalar(select(AlertRow).where(AlertRow.alert_key == key))
            if row is None:
                return
            _rules, settings = get_settings(session)
            organisation = session.scalar(
                select(Organisation.name).where(Organisation.id == org_id)
            )
            attempts, done = row.notify_attempts, list(row.notify_done or ())
            session.expunge(row)
            session.rollback()  # no transaction open while sending
            delivered, errors = deliver(row, settings, organisation or "", done=done)
            values: dict[str, object] = {"notify_done": delivered}
            if not settings.channels:
                values.update(notify_after=None)  # channels removed since: nothing to send
            elif errors:
                values.update(
                    notify_error="; ".join(errors)[:400], notify_after=now + backoff(attempts)
                )
                log.warning("alert %s: notice failed (try %d): %s", key, attempts, errors)
            else:
                values.update(notified_at=utcnow(), notify_after=None, notify_error=None)
            begin_write(session)
            session.execute(
                update(AlertRow)
                .where(AlertRow.alert_key == key)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            session.commit()
