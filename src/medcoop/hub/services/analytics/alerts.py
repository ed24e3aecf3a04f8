"""Alerts in the hub: an organisation's rules, evaluation over its studies, lifecycle, notices.

Rules and lifecycle are :mod:`medcoop.analytics.alerts` (pure); this module stores them
(``analytics_alert_settings``, ``analytics_alerts``), evaluates studies (outlier medians
come from the organisation's own studies per protocol, at least ``MIN_STUDIES_FOR_MEDIAN``
of them) and opens each new alert once (its key de-duplicates).

Evaluation happens in two places: at ingest, inside the batch's transaction, for the
studies the batch created or changed (:func:`evaluate_studies`: a stored study always has
its alerts), and on request over every study (:func:`evaluate`). Neither sends anything:
an alert opened while e-mail or a webhook is configured is a due notice (``notify_after``),
which the hub's background notifier delivers with retries (:mod:`.notifier`,
:func:`deliver`), so a slow mail server never slows ingest and a crash loses no notice.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
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
    FluoroCumulativeRule,
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
from medcoop.hub.db.models import IrradiationEventRow, UsageFact
from medcoop.hub.errors import ConflictError, NotFoundError
from medcoop.hub.services.analytics.dose import load_records
from medcoop.records import StudyRecord

__all__ = [
    "MEDIAN_CACHE_TTL_S",
    "MIN_STUDIES_FOR_MEDIAN",
    "EmailSettings",
    "NotifySettings",
    "WebhookSettings",
    "deliver",
    "evaluate",
    "evaluate_studies",
    "get_settings",
    "list_alerts",
    "put_settings",
    "transition",
]

MIN_STUDIES_FOR_MEDIAN = 10
#: How long ingest reuses an organisation's protocol medians (outlier rules), per process.
MEDIAN_CACHE_TTL_S = 600.0
_medians: dict[tuple[uuid.UUID, str], tuple[float, dict[str, float]]] = {}
_medians_lock = threading.Lock()


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

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels configured: ``"email"``, ``"webhook"``."""
        return tuple(name for name in ("email", "webhook") if getattr(self, name) is not None)


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


def _protocol(record: StudyRecord) -> str | None:
    return record.usage.performed_protocol or next(
        (e.protocol for e in record.events if e.protocol), None
    )


def _protocol_medians(records: list[StudyRecord]) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in records:
        protocol = _protocol(record)
        if protocol is None:
            continue
        for metric in ("ctdivol", "dlp", "dap"):
            value = study_metric(record, metric)
            if value is not None:
                values[(protocol, metric)].append(value)
    return {
        key: statistics.median(v) for key, v in values.items() if len(v) >= MIN_STUDIES_FOR_MEDIAN
    }


def _to_row(org_id: uuid.UUID, alert: Alert, *, notify: bool) -> AlertRow:
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
        # the outbox: due now when there is somewhere to send it
        notify_after=alert.history[0].at if notify else None,
        notify_attempts=0,
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


def _senders(
    settings: NotifySettings, organisation: str
) -> dict[str, SmtpNotifier | WebhookNotifier]:
    senders: dict[str, SmtpNotifier | WebhookNotifier] = {}
    if settings.email is not None:
        e = settings.email
        senders["email"] = SmtpNotifier(
            host=e.host,
            port=e.port,
            sender=e.sender,
            recipients=tuple(e.recipients),
            organisation=organisation,
            starttls=e.starttls,
        )
    if settings.webhook is not None:
        w = settings.webhook
        senders["webhook"] = WebhookNotifier(
            url=w.url, secret=w.secret.encode(), organisation=organisation
        )
    return senders


def deliver(
    row: AlertRow, settings: NotifySettings, organisation: str, *, done: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Send an alert on every configured channel not in ``done`` (network I/O, no database).

    Returns the channels delivered so far (``done`` included) and the errors of this try.
    """
    alert = _from_row(row)
    delivered, errors = list(done), []
    for channel, sender in _senders(settings, organisation).items():
        if channel in delivered:
            continue
        try:
            sender.send(alert)
        except NotificationError as exc:
            errors.append(str(exc))
        else:
            delivered.append(channel)
    return delivered, errors


def _open(
    session: Session,
    org_id: uuid.UUID,
    found: list[AlertCandidate],
    known: set[str],
    notify: NotifySettings,
    now: datetime,
) -> list[AlertRow]:
    opened = []
    for candidate in found:
        if candidate.key in known:
            continue
        known.add(candidate.key)
        row = _to_row(org_id, open_alert(candidate, at=now), notify=bool(notify.channels))
        session.add(row)
        opened.append(row)
    return opened


def evaluate(session: Session, org_id: uuid.UUID, *, now: datetime) -> list[AlertRow]:
    """Re-evaluate the organisation's rules over all its studies; open new alerts.

    Returns the alerts opened by this call (the caller commits; the notifier sends them).
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
    found = _candidates(records, rules, by_patient, medians)
    opened = _open(session, org_id, found, known, notify, now)
    session.flush()
    return opened


def _candidates(
    records: list[StudyRecord],
    rules: AlertRuleSet,
    by_patient: dict[str, list[StudyRecord]],
    medians: dict[tuple[str, str], float],
) -> list[AlertCandidate]:
    """What the rules find in ``records`` (each with its patient's history)."""
    found = []
    for record in records:
        exam = classify_record(record)
        found.extend(
            evaluate_study(
                record,
                rules,
                history=by_patient[record.patient.pseudonym],
                protocol_medians=medians,
                body_region=exam.body_region if exam else None,
            )
        )
    return found


def evaluate_studies(
    session: Session, org_id: uuid.UUID, study_ids: Sequence[uuid.UUID], *, now: datetime
) -> list[AlertRow]:
    """Evaluate the organisation's rules for some studies (those a batch wrote).

    Reads only what the rules need: the studies, their patients' other studies when a
    cumulative rule exists, protocol medians when an outlier rule exists (cached per
    process for :data:`MEDIAN_CACHE_TTL_S`). With no rules this is one small query.
    """
    rules, notify = get_settings(session)
    if not rules.rules or not study_ids:
        return []
    records = [r for _, r in load_records(session, study_ids=study_ids)]
    by_patient: dict[str, list[StudyRecord]] = defaultdict(list)
    if any(isinstance(rule, FluoroCumulativeRule) for rule in rules.rules):
        pseudonyms = sorted({r.patient.pseudonym for r in records})
        for _, record in load_records(session, pseudonyms=pseudonyms):
            by_patient[record.patient.pseudonym].append(record)
    medians: dict[tuple[str, str], float] = {}
    if any(isinstance(rule, OutlierRule) for rule in rules.rules):
        wanted = {p for p in map(_protocol, records) if p is not None}
        medians = _cached_medians(session, org_id, wanted)
    found = _candidates(records, rules, by_patient, medians)
    if not found:
        return []
    keys = sorted({c.key for c in found})
    known = set(session.scalars(select(AlertRow.alert_key).where(AlertRow.alert_key.in_(keys))))
    opened = _open(session, org_id, found, known, notify, now)
    session.flush()
    return opened


def _cached_medians(
    session: Session, org_id: uuid.UUID, protocols: set[str]
) -> dict[tuple[str, str], float]:
    """Return ``(protocol, metric) → median`` of the organisation's studies, cached a while."""
    clock = time.monotonic()
    with _medians_lock:
        missing = sorted(p for p in protocols if _medians.get((org_id, p), (0.0, {}))[0] <= clock)
    if missing:
        # every study whose protocol (MPPS, else its first event's) may be one of these
        ids = set(
            session.scalars(
                select(UsageFact.study_id).where(UsageFact.performed_protocol.in_(missing))
            )
        )
        ids |= set(
            session.scalars(
                select(IrradiationEventRow.study_id)
                .where(IrradiationEventRow.protocol.in_(missing))
                .distinct()
            )
        )
        ordered = sorted(ids, key=str)
        records = [
            r
            for chunk in (ordered[i : i + 1000] for i in range(0, len(ordered), 1000))
            for _, r in load_records(session, study_ids=chunk)
        ]
        computed = _protocol_medians(records)
        with _medians_lock:
            for protocol in missing:
                found = {m: v for (p, m), v in computed.items() if p == protocol}
                _medians[(org_id, protocol)] = (clock + MEDIAN_CACHE_TTL_S, found)
    with _medians_lock:
        return {
            (p, metric): value
            for p in protocols
            for metric, value in _medians.get((org_id, p), (0.0, {}))[1].items()
        }


def list_alerts(
    session: Session,
    state: str | None = None,
    *,
    kind: str | None = None,
    limit: int | None = None,
) -> list[AlertRow]:
    """Return the organisation's alerts, newest first, optionally in one state or kind."""
    query = select(AlertRow)
    if state is not None:
        query = query.where(AlertRow.state == state)
    if kind is not None:
        query = query.where(AlertRow.kind == kind)
    query = query.order_by(AlertRow.opened_at.desc(), AlertRow.alert_key)
    return list(session.scalars(query if limit is None else query.limit(limit)))


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
