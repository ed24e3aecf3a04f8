"""Alerts: the API's answer for an alert and its lifecycle, and the paginated alerts list."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from medcoop.hub.db.analytics_models import AlertRow
from medcoop.output import DASH, Column, View, fixed

__all__ = ["AlertOut", "TransitionOut", "alert_out", "alerts_by_rule", "alerts_view"]


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


def alert_out(row: AlertRow) -> AlertOut:
    """The API's answer for one stored alert."""
    fields: dict[str, Any] = {name: getattr(row, name) for name in AlertOut.model_fields}
    return AlertOut.model_validate(fields)


def alerts_by_rule(alerts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many of ``alerts`` each rule raised, by rule id."""
    return dict(sorted(Counter(a["rule_id"] for a in alerts).items()))


def _notified(alert: Mapping[str, Any]) -> str:
    if alert["notified_at"]:
        return "yes"
    return alert["notify_error"] or DASH


def _opened(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else DASH


def alerts_view(
    alerts: Sequence[Mapping[str, Any]],
    *,
    state: str | None,
    offset: int = 0,
    total: int | None = None,
    title: str | None = None,
) -> View:
    """One page of alerts (the API's JSON, newest first) as a table.

    ``offset`` is the page's first alert in the whole list and ``total`` its length
    (``None``: this page is the whole list).
    """
    records = [
        {
            "opened_at": a["opened_at"],
            "kind": a["kind"],
            "rule_id": a["rule_id"],
            "metric": a["metric"],
            "value": a["value"],
            "threshold": a["threshold"],
            "message": a["message"],
            "state": a["state"],
            "notified": _notified(a),
            "alert_key": a["alert_key"],
        }
        for a in alerts
    ]
    columns = (
        Column("opened_at", "opened (UTC)", _opened),
        Column("kind", "kind"),
        Column("rule_id", "rule"),
        Column("metric", "metric", hidden=True),
        Column("value", "value", lambda v: fixed(v, 2), "right", hidden=True),
        Column("threshold", "threshold", lambda v: fixed(v, 2), "right", hidden=True),
        Column("message", "message"),
        Column("state", "state"),
        Column("notified", "notified"),
        Column("alert_key", "alert key", hidden=True),
    )
    whole = len(records) if total is None else total
    return View(
        title or f"Alerts ({state or 'all'})",
        columns,
        records,
        page=(offset, len(records), whole),
    )
