"""Alerts in the hub: an organisation's rules, evaluation over its studies, lifecycle, notices.

Rules and lifecycle are :mod:`medcoop.analytics.alerts` (pure); this module stores them
(``analytics_alert_settings``, ``analytics_alerts``), evaluates the organisation's studies
(outlier medians come from the organisation's own studies per protocol, at least
``MIN_STUDIES_FOR_MEDIAN`` of them), opens each new alert once (its key de-duplicates) and
sends it by e-mail and webhook as configured. A failed notice is recorded on the alert
(``notify_error``) and the alert stays open: nothing is lost.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.alerts import (
    Alert,
    AlertCandidate,
    AlertKind,
    AlertRuleSet,
    AlertState,
    AlertTransitionError,
    OutlierRule,
    Transition,
    acknowledge,
    close,
    evaluate_study,
    open_alert,
    study_metric,
)
from medcoop.analytics.exam_types import classify_record
from medcoop.analytics.notify import NotificationError, SmtpNotifier, WebhookNotifier
from medcoop.hub.db.analytics_models import AlertRow, AlertSettings
from medcoop.hub.errors import ConflictError, NotFoundError
from medcoop.hub.services.analytics_dose import load_records
from medcoop.records import StudyRecord

__all__ = [
    "MIN_STUDIES_FOR_MEDIAN",
    "EmailSettings",
    "NotifySettings",
    "WebhookSettings",
    "evaluate",
    "get_settings",
    "list_alerts",
    "put_settings",
    "transition",
]

MIN_STUDIES_FOR_MEDIAN = 10


class EmailSettings(BaseModel):
    """Where alert e-mails go (an SMTP server the organisation names)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(max_length=253)
    port: int = Field(ge=1, le=65535)
    sender: str = Field(max_length=254)
    recipients: list[str] = Field(min_length=1, max_length=50)
    starttls: bool = False


class WebhookSettings(BaseModel):
    """Where alert webhooks go, and the secret their signature uses."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, pattern=r"^https?://")
    secret: str = Field(min_length=16, max_length=200)


class NotifySettings(BaseModel):
    """Both channels are optional."""

    model_config = ConfigDict(extra="forbid")

    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None


def get_settings(session: Session) -> tuple[AlertRuleSet, NotifySettings]:
    """Return the organisation's rules and notification settings (empty when unset)."""
    row = session.scalar(select(AlertSettings))
    if row is None:
        return AlertRuleSet(), NotifySettings()
    return AlertRuleSet.model_validate(row.rules), NotifySettings.model_validate(row.notify)


def put_settings(
    session: Session, org_id: uuid.UUID, rules: AlertRuleSet, notify: NotifySettings, now: datetime
) -> None:
    """Replace the organisation's rules and notification settings (the caller commits)."""
    row = session.scalar(select(AlertSettings))
    if row is None:
        row = AlertSettings(org_id=org_id, name="default")
        session.add(row)
    row.rules = rules.model_dump(mode="json")
    row.notify = notify.model_dump(mode="json")
    row.updated_at = now


def _protocol_medians(records: list[StudyRecord]) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in records:
        protocol = record.usage.performed_protocol or next(
            (e.protocol for e in record.events if e.protocol), None
        )
        if protocol is None:
            continue
        for metric in ("ctdivol", "dlp", "dap"):
            value = study_metric(record, metric)
            if value is not None:
                values[(protocol, metric)].append(value)
    return {
        key: statistics.median(v) for key, v in values.items() if len(v) >= MIN_STUDIES_FOR_MEDIAN
    }


def _to_row(org_id: uuid.UUID, alert: Alert) -> AlertRow:
    c = alert.candidate
    return AlertRow(
        org_id=org_id,
        alert_key=c.key,
        kind=str(c.kind),
        rule_id=c.rule_id,
        study_uid=c.study_uid,
        pseudonym=c.pseudonym,
        metric=c.metric,
        value=c.value,
        threshold=c.threshold,
        message=c.message[:400],
        state=str(alert.state),
        history=[_transition_json(t) for t in alert.history],
        opened_at=alert.history[0].at,
        updated_at=alert.history[-1].at,
    )


def _transition_json(t: Transition) -> dict[str, Any]:
    return {"state": str(t.state), "by": t.by, "at": t.at.isoformat(), "note": t.note}


def _from_row(row: AlertRow) -> Alert:
    candidate = AlertCandidate(
        key=row.alert_key,
        kind=AlertKind(row.kind),
        rule_id=row.rule_id,
        study_uid=row.study_uid,
        pseudonym=row.pseudonym,
        metric=row.metric,
        value=row.value,
        threshold=row.threshold,
        message=row.message,
    )
    history = tuple(
        Transition(AlertState(h["state"]), h["by"], datetime.fromisoformat(h["at"]), h["note"])
        for h in row.history
    )
    return Alert(candidate, AlertState(row.state), history)


def _notify(row: AlertRow, settings: NotifySettings, organisation: str, now: datetime) -> None:
    alert = _from_row(row)
    errors = []
    senders: list[SmtpNotifier | WebhookNotifier] = []
    if settings.email is not None:
        e = settings.email
        senders.append(
            SmtpNotifier(
                host=e.host,
                port=e.port,
                sender=e.sender,
                recipients=tuple(e.recipients),
                organisation=organisation,
                starttls=e.starttls,
            )
        )
    if settings.webhook is not None:
        w = settings.webhook
        senders.append(
            WebhookNotifier(url=w.url, secret=w.secret.encode(), organisation=organisation)
        )
    for sender in senders:
        try:
            sender.send(alert)
        except NotificationError as exc:
            errors.append(str(exc))
    if errors:
        row.notify_error = "; ".join(errors)[:400]
    elif senders:
        row.notified_at, row.notify_error = now, None


def evaluate(
    session: Session, org_id: uuid.UUID, organisation: str, *, now: datetime
) -> list[AlertRow]:
    """Evaluate the organisation's rules over its studies; open and notify new alerts.

    Returns the alerts opened by this call (the caller commits).
    """
    rules, notify = get_settings(session)
    if not rules.rules:
        return []
    records = [r for _, r in load_records(session)]
    by_patient: dict[str, list[StudyRecord]] = defaultdict(list)
    for record in records:
        by_patient[record.patient.pseudonym].append(record)
    needs_medians = any(isinstance(rule, OutlierRule) for rule in rules.rules)
    medians = _protocol_medians(records) if needs_medians else {}
    known = set(session.scalars(select(AlertRow.alert_key)))
    opened = []
    for record in records:
        exam = classify_record(record)
        found = evaluate_study(
            record,
            rules,
            history=by_patient[record.patient.pseudonym],
            protocol_medians=medians,
            body_region=exam.body_region if exam else None,
        )
        for candidate in found:
            if candidate.key in known:
                continue
            known.add(candidate.key)
            row = _to_row(org_id, open_alert(candidate, at=now))
            session.add(row)
            opened.append(row)
    for row in opened:
        _notify(row, notify, organisation, now)
    return opened


def list_alerts(session: Session, state: str | None = None) -> list[AlertRow]:
    """Return the organisation's alerts, newest first, optionally in one state."""
    query = select(AlertRow)
    if state is not None:
        query = query.where(AlertRow.state == state)
    return list(session.scalars(query.order_by(AlertRow.opened_at.desc(), AlertRow.alert_key)))


def transition(
    session: Session,
    alert_key: str,
    action: str,
    *,
    by: str,
    note: str | None,
    now: datetime,
) -> AlertRow:
    """Acknowledge or close an alert (the caller commits).

    Raises
    ------
    NotFoundError
        No such alert in the organisation.
    ConflictError
        The move is not allowed from the alert's state (or lacks a required note).
    """
    row = session.scalar(select(AlertRow).where(AlertRow.alert_key == alert_key))
    if row is None:
        raise NotFoundError("alert", alert_key)
    alert = _from_row(row)
    try:
        if action == "acknowledge":
            moved = acknowledge(alert, by=by, note=note or "", at=now)
        else:
            moved = close(alert, by=by, at=now, note=note)
    except AlertTransitionError as exc:
        raise ConflictError(str(exc)) from exc
    row.state = str(moved.state)
    row.history = [_transition_json(t) for t in moved.history]
    row.updated_at = now
    return row
