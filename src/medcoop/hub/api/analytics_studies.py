"""Dose-monitoring study queries: filtered, sorted, paginated, JSON or CSV; patient history.

Everything here reads only the caller's organisation (tenant-scoped session). Rows carry
pseudonymous keys and dose facts, never identifying values (the hub has none).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from medcoop.analytics.query import ROW_COLUMNS, rows_to_csv
from medcoop.hub.api.deps import DbSession, Paging, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.errors import HubError
from medcoop.hub.presenters import study_query
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
_ERRORS = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}
SortKey = Literal[tuple(c for c in ROW_COLUMNS) + tuple(f"-{c}" for c in ROW_COLUMNS)]  # type: ignore[valid-type]


class StudyRowOut(BaseModel):
    """One study, flattened for dose monitoring."""

    study_uid: str
    site_id: str
    device_key: str
    modality: str
    study_at: datetime | None
    exam_type: str | None
    body_region: str | None
    protocol: str | None
    age_years: float | None
    sex: str | None
    weight_kg: float | None
    diameter_cm: float | None
    events: int
    max_ctdivol_mgy: float | None
    max_ssde_mgy: float | None
    total_dlp_mgycm: float | None
    total_dap_gycm2: float | None
    total_rp_dose_mgy: float | None
    total_fluoro_time_s: float | None
    #: Average glandular dose per breast and for both (mammography).
    total_agd_left_mgy: float | None
    total_agd_right_mgy: float | None
    total_agd_mgy: float | None
    #: Nuclear medicine: activity administered in the study.
    total_administered_activity_mbq: float | None


class StudyPageOut(BaseModel):
    """A page of study rows."""

    items: list[StudyRowOut]
    total: int
    limit: int
    offset: int


class HistoryPointOut(BaseModel):
    """One study of a patient's history with running totals."""

    study_uid: str
    study_at: datetime | None
    modality: str
    dlp_mgycm: float | None
    dap_gycm2: float | None
    effective_dose_msv: float | None
    cumulative_dlp_mgycm: float
    cumulative_dap_gycm2: float
    cumulative_effective_dose_msv: float


@router.get(
    "/studies",
    response_model=StudyPageOut,
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
)
def studies(
    _principal: Reader,
    db: DbSession,
    paging: Paging,
    site_id: uuid.UUID | None = None,
    device_key: Annotated[str | None, Query(max_length=64)] = None,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    protocol: Annotated[str | None, Query(max_length=128)] = None,
    exam_type: Annotated[str | None, Query(max_length=64)] = None,
    body_region: Annotated[str | None, Query(max_length=64)] = None,
    study_from_at: datetime | None = None,
    study_to_at: datetime | None = None,
    min_age_years: Annotated[float | None, Query(ge=0, le=150)] = None,
    max_age_years: Annotated[float | None, Query(ge=0, le=150)] = None,
    sex: Literal["M", "F", "O", "U"] | None = None,
    min_weight_kg: Annotated[float | None, Query(ge=0, le=700)] = None,
    max_weight_kg: Annotated[float | None, Query(ge=0, le=700)] = None,
    min_diameter_cm: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_diameter_cm: Annotated[float | None, Query(ge=0, le=100)] = None,
    sort: SortKey = "-study_at",
    format: Literal["json", "csv"] = "json",
) -> StudyPageOut | Response:
    """Query the organisation's studies with dose-monitoring filters; JSON page or CSV."""
    if site_id is not None:
        analytics.require_site(db, site_id)
    query = study_query(
        site_id=site_id,
        device_key=device_key,
        modality=modality,
        protocol=protocol,
        exam_type=exam_type,
        body_region=body_region,
        study_from_at=study_from_at,
        study_to_at=study_to_at,
        min_age_years=min_age_years,
        max_age_years=max_age_years,
        sex=sex,
        min_weight_kg=min_weight_kg,
        max_weight_kg=max_weight_kg,
        min_diameter_cm=min_diameter_cm,
        max_diameter_cm=max_diameter_cm,
    )
    try:
        rows, total = analytics.query_studies(
            db, query, sort=sort, limit=paging.limit, offset=paging.offset
        )
    except ValueError as exc:
        raise HubError(str(exc)) from exc
    if format == "csv":
        return Response(rows_to_csv(rows), media_type="text/csv")
    return StudyPageOut(
        items=[StudyRowOut(**row) for row in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/patients/{pseudonym}/history", response_model=list[HistoryPointOut], responses=_ERRORS
)
def history(
    _principal: Reader,
    db: DbSession,
    pseudonym: Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[0-9a-f]+$")],
) -> list[HistoryPointOut]:
    """A patient's cumulative dose over time (by pseudonym, within the organisation)."""
    points = analytics.patient_history(db, pseudonym)
    return [HistoryPointOut.model_validate(p, from_attributes=True) for p in points]
