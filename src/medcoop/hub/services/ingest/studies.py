"""Reading a tenant's studies (minimal list and detail; analytics builds richer views)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medcoop.hub.db.models import IrradiationEventRow, Study, UsageFact
from medcoop.hub.errors import NotFoundError
from medcoop.hub.services.ingest.merge import TOTAL_FIELDS

__all__ = ["StudyFilter", "get_study", "list_studies"]


class StudyFilter:
    """Filters of ``GET /api/v1/studies`` (all optional)."""

    def __init__(
        self,
        *,
        site_id: uuid.UUID | None = None,
        device_id: uuid.UUID | None = None,
        modality: str | None = None,
        study_from_at: datetime | None = None,
        study_to_at: datetime | None = None,
    ) -> None:
        self.site_id = site_id
        self.device_id = device_id
        self.modality = modality
        self.study_from_at = study_from_at
        self.study_to_at = study_to_at

    def apply(self, query: Any) -> Any:
        """Return ``query`` narrowed by the filters that are set."""
        if self.site_id is not None:
            query = query.where(Study.site_id == self.site_id)
        if self.device_id is not None:
            query = query.where(Study.device_id == self.device_id)
        if self.modality is not None:
            query = query.where(Study.modality == self.modality)
        if self.study_from_at is not None:
            query = query.where(Study.study_at >= self.study_from_at)
        if self.study_to_at is not None:
            query = query.where(Study.study_at < self.study_to_at)
        return query


def _columns(model: type[Any]) -> list[str]:
    return [column.key for column in model.__table__.columns]


def list_studies(
    session: Session, filters: StudyFilter, *, limit: int, offset: int
) -> tuple[list[Study], int]:
    """Return one page of the tenant's studies, newest first, and the total count."""
    query = filters.apply(select(Study))
    total = session.scalar(filters.apply(select(func.count()).select_from(Study))) or 0
    rows = session.scalars(
        query.order_by(Study.study_at.desc(), Study.id).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def get_study(session: Session, study_id: uuid.UUID) -> dict[str, Any]:
    """Return a study with its totals, usage facts and events, else raise NotFoundError."""
    study = session.scalar(select(Study).where(Study.id == study_id))
    if study is None:
        raise NotFoundError("study", study_id)
    usage = session.scalar(select(UsageFact).where(UsageFact.study_id == study_id))
    events = session.scalars(
        select(IrradiationEventRow)
        .where(IrradiationEventRow.study_id == study_id)
        .order_by(IrradiationEventRow.started_at, IrradiationEventRow.event_uid)
    ).all()
    detail = {name: getattr(study, name) for name in _columns(Study)}
    detail["totals"] = {name: getattr(study, name) for name in (*TOTAL_FIELDS, "number_of_events")}
    detail["usage"] = (
        {
            name: getattr(usage, name)
            for name in _columns(UsageFact)
            if name not in ("org_id", "study_id", "device_id")
        }
        if usage
        else {}
    )
    detail["events"] = [{"event_uid": e.event_uid, **e.details} for e in events]
    return detail
