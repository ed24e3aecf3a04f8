"""Studies of the caller's organisation: a paginated list and a detail with events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from medcoop.hub.api.deps import DbSession, Paging, require
from medcoop.hub.api.schemas import ErrorOut, Page, StudyDetailOut, StudyOut
from medcoop.hub.services import ingest
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


@router.get("", response_model=Page[StudyOut], responses=_ERRORS)
def list_studies(
    _principal: Reader,
    db: DbSession,
    paging: Paging,
    site_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    study_from_at: Annotated[datetime | None, Query(description="Inclusive, ISO 8601")] = None,
    study_to_at: Annotated[datetime | None, Query(description="Exclusive, ISO 8601")] = None,
) -> Page[StudyOut]:
    """List the organisation's studies, newest first."""
    filters = ingest.StudyFilter(
        site_id=site_id,
        device_id=device_id,
        modality=modality,
        study_from_at=_aware(study_from_at),
        study_to_at=_aware(study_to_at),
    )
    rows, total = ingest.list_studies(db, filters, limit=paging.limit, offset=paging.offset)
    return Page[StudyOut](
        items=[StudyOut.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/{study_id}", response_model=StudyDetailOut, responses={**_ERRORS, 404: {"model": ErrorOut}}
)
def get_study(study_id: uuid.UUID, _principal: Reader, db: DbSession) -> dict[str, Any]:
    """Return one study with its totals, usage facts and irradiation events."""
    return ingest.get_study(db, study_id)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # a time without zone is read as UTC
