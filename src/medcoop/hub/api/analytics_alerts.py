"""Alert endpoints: rules and notification settings, evaluation, list, acknowledge, close.

Reading needs ``studies:read``; changing rules, evaluating and moving alerts needs
``devices:write`` (medical physicists and organisation admins). The webhook secret is
write-only: reads say whether one is set, never what it is.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from medcoop.analytics.alerts import AlertRuleSet
from medcoop.hub.api.deps import DbSession, WriteSession, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.base import utcnow
from medcoop.hub.presenters import AlertOut, alert_out
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


class NoteIn(BaseModel):
    """The note a lifecycle move carries."""

    note: str | None = Field(default=None, max_length=2000)


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
    return [alert_out(row) for row in opened]


@router.get("/alerts", response_model=list[AlertOut], responses=_ERRORS)
def list_alerts(
    _principal: Reader,
    db: DbSession,
    response: Response,
    state: Literal["open", "acknowledged", "closed"] | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500, description="Alerts per page")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Alerts to skip")] = 0,
) -> list[AlertOut]:
    """The organisation's alerts, newest first; one page with ``limit`` (all without).

    The ``X-Total-Count`` header holds how many alerts there are in all.
    """
    rows = analytics.list_alerts(db, state)
    response.headers["X-Total-Count"] = str(len(rows))
    end = None if limit is None else offset + limit
    return [alert_out(row) for row in rows[offset:end]]


@router.post("/alerts/{alert_key}/acknowledge", response_model=AlertOut, responses=_ERRORS)
def acknowledge(
    alert_key: AlertKey, body: NoteIn, principal: Physicist, db: WriteSession
) -> AlertOut:
    """Acknowledge an open alert; a note is required."""
    row = analytics.transition(
        db, alert_key, "acknowledge", by=str(principal.user_id), note=body.note, now=utcnow()
    )
    db.commit()
    return alert_out(row)


@router.post("/alerts/{alert_key}/close", response_model=AlertOut, responses=_ERRORS)
def close(alert_key: AlertKey, body: NoteIn, principal: Physicist, db: WriteSession) -> AlertOut:
    """Close an alert (an open one needs a note)."""
    row = analytics.transition(
        db, alert_key, "close", by=str(principal.user_id), note=body.note, now=utcnow()
    )
    db.commit()
    return alert_out(row)
