"""Alert endpoints: rules and notification settings, evaluation, list, acknowledge, close.

Reading needs ``studies:read``; changing rules, evaluating and moving alerts needs
``devices:write`` (medical physicists and organisation admins). The webhook secret is
write-only: reads say whether one is set, never what it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from medcoop.analytics.alerts import AlertRuleSet
from medcoop.hub.api.deps import DbSession, WriteSession, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.analytics_models import AlertRow
from medcoop.hub.db.base import utcnow
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
Physicist = Annotated[Principal, Depends(require(Permission.MANAGE_DEVICES))]
_ERRORS = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}
AlertKey = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


class AlertSettingsIn(BaseModel):
    """Rules and where to notify."""

    rules: AlertRuleSet = AlertRuleSet()
    notify: analytics.NotifySettings = analytics.NotifySettings()


class AlertSettingsOut(BaseModel):
    """Rules and notification targets (without the webhook secret)."""

    rules: AlertRuleSet
    email: analytics.EmailSettings | None
    webhook_url: str | None
    webhook_secret_set: bool


class TransitionOut(BaseModel):
    """One lifecycle move."""

    state: str
    by: str
    at: datetime
    note: str | None


class AlertOut(BaseModel):
    """An alert and its lifecycle."""

    alert_key: str
    kind: str
    rule_id: str
    study_uid: str
    pseudonym: str
    metric: str
    value: float
    threshold: float
    message: str
    state: str
    history: list[TransitionOut]
    opened_at: datetime
    notified_at: datetime | None
    notify_error: str | None


class NoteIn(BaseModel):
    """The note a lifecycle move carries."""

    note: str | None = Field(default=None, max_length=2000)


def _out(row: AlertRow) -> AlertOut:
    fields: dict[str, Any] = {name: getattr(row, name) for name in AlertOut.model_fields}
    return AlertOut.model_validate(fields)


def _settings_out(rules: AlertRuleSet, notify: analytics.NotifySettings) -> AlertSettingsOut:
    webhook = notify.webhook
    return AlertSettingsOut(
        rules=rules,
        email=notify.email,
        webhook_url=webhook.url if webhook else None,
        webhook_secret_set=webhook is not None,
    )


@router.get("/alert-settings", response_model=AlertSettingsOut, responses=_ERRORS)
def read_settings(_principal: Reader, db: DbSession) -> AlertSettingsOut:
    """The organisation's alert rules and notification targets."""
    return _settings_out(*analytics.get_settings(db))


@router.put("/alert-settings", response_model=AlertSettingsOut, responses=_ERRORS)
def write_settings(
    body: AlertSettingsIn, principal: Physicist, db: WriteSession
) -> AlertSettingsOut:
    """Replace the organisation's alert rules and notification targets."""
    analytics.put_settings(db, principal.org_id, body.rules, body.notify, utcnow())
    db.commit()
    return _settings_out(body.rules, body.notify)


@router.post("/alerts/evaluate", response_model=list[AlertOut], responses=_ERRORS)
def evaluate(request: Request, principal: Physicist, db: WriteSession) -> list[AlertOut]:
    """Re-evaluate the rules over all the organisation's studies; return new alerts.

    Ingest already evaluates the studies it writes; this catches up after rules change.
    Notices of the new alerts are sent by the hub's background notifier, shortly after.
    """
    opened = analytics.evaluate(db, principal.org_id, now=utcnow())
    db.commit()
    if opened:
        request.app.state.notifier.wake()
    return [_out(row) for row in opened]


@router.get("/alerts", response_model=list[AlertOut], responses=_ERRORS)
def list_alerts(
    _principal: Reader,
    db: DbSession,
    state: Literal["open", "acknowledged", "closed"] | None = None,
) -> list[AlertOut]:
    """The organisation's alerts, newest first."""
    return [_out(row) for row in analytics.list_alerts(db, state)]


@router.post("/alerts/{alert_key}/acknowledge", response_model=AlertOut, responses=_ERRORS)
def acknowledge(
    alert_key: AlertKey, body: NoteIn, principal: Physicist, db: WriteSession
) -> AlertOut:
    """Acknowledge an open alert; a note is required."""
    row = analytics.transition(
        db, alert_key, "acknowledge", by=str(principal.user_id), note=body.note, now=utcnow()
    )
    db.commit()
    return _out(row)


@router.post("/alerts/{alert_key}/close", response_model=AlertOut, responses=_ERRORS)
def close(alert_key: AlertKey, body: NoteIn, principal: Physicist, db: WriteSession) -> AlertOut:
    """Close an alert (an open one needs a note)."""
    row = analytics.transition(
        db, alert_key, "close", by=str(principal.user_id), note=body.note, now=utcnow()
    )
    db.commit()
    return _out(row)
