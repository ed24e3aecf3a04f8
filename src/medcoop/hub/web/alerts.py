"""Alert pages: the list with filters, acknowledge with a note, close, history, rules.

Moves and rule edits call the API's own endpoint functions with the API's own
permission dependencies (:mod:`medcoop.hub.api.analytics_alerts`), so a page can do
exactly what the API lets the same person do, with the same checks and errors.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from medcoop.analytics.alerts import AlertKind
from medcoop.hub.api import analytics_alerts as api
from medcoop.hub.api.deps import DbSession, WriteSession
from medcoop.hub.db.models import Study
from medcoop.hub.errors import HubError
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission
from medcoop.hub.web.forms import parse_query
from medcoop.hub.web.routing import PageRoute, page

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
AlertKey = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]
Note = Annotated[str, Form(max_length=2000)]
SHOWN = 200


class AlertFilters(BaseModel):
    """The list's filters."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: Literal["open", "acknowledged", "closed"] | None = None
    kind: Literal[tuple(k.value for k in AlertKind)] | None = None  # type: ignore[valid-type]
    done: Annotated[str | None, Field(max_length=40)] = None


@router.get("/alerts")
def alerts(request: Request, _principal: api.Reader, db: DbSession) -> Response:
    """The organisation's alerts (newest first), each with its history."""
    filters = parse_query(request, AlertFilters)
    rows = analytics.list_alerts(db, filters.state, kind=filters.kind, limit=SHOWN)
    uids = sorted({r.study_uid for r in rows})
    study_ids = dict(
        db.execute(select(Study.study_uid, Study.id).where(Study.study_uid.in_(uids))).all()
    )
    notices = {
        "acknowledge": "Alert acknowledged.",
        "close": "Alert closed.",
        "rules": "Rules saved.",
    }
    return page(
        request,
        "alerts.html",
        title="Alerts",
        filters=filters,
        rows=rows,
        study_ids=study_ids,
        kinds=[k.value for k in AlertKind],
        shown=SHOWN,
        notice=notices.get(filters.done or ""),
    )


@router.post("/alerts/{alert_key}/acknowledge")
def acknowledge(
    alert_key: AlertKey, principal: api.Physicist, db: WriteSession, note: Note = ""
) -> Response:
    """Acknowledge an open alert (a note is required, as in the API)."""
    api.acknowledge(alert_key, api.NoteIn(note=note or None), principal, db)
    return RedirectResponse("/alerts?done=acknowledge", status_code=303)


@router.post("/alerts/{alert_key}/close")
def close(
    alert_key: AlertKey, principal: api.Physicist, db: WriteSession, note: Note = ""
) -> Response:
    """Close an alert (an open one needs a note)."""
    api.close(alert_key, api.NoteIn(note=note or None), principal, db)
    return RedirectResponse("/alerts?done=close", status_code=303)


@router.get("/alerts/rules")
def rules(request: Request, principal: api.Reader, db: DbSession) -> Response:
    """The organisation's rules and notification targets; editable by those allowed."""
    current = api.read_settings(principal, db)
    return page(
        request,
        "rules.html",
        title="Alert rules",
        settings=current,
        rules_json=json.dumps(current.rules.model_dump(mode="json"), indent=2),
        editable=principal.can(Permission.MANAGE_DEVICES),
        error=None,
    )


@router.post("/alerts/rules")
def save_rules(
    principal: api.Physicist,
    db: WriteSession,
    rules_json: Annotated[str, Form(max_length=100_000)],
) -> Response:
    """Replace the rules (JSON, validated as the API validates it); notify targets kept."""
    try:
        parsed = json.loads(rules_json)
    except json.JSONDecodeError as exc:
        raise HubError(f"the rules are not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    _rules, notify = analytics.get_settings(db)
    body = api.AlertSettingsIn.model_validate({"rules": parsed, "notify": notify.model_dump()})
    api.write_settings(body, principal, db)
    return RedirectResponse("/alerts?done=rules", status_code=303)
