"""Analytics endpoints: DRL comparisons, k-anonymous peer benchmarks, device utilization.

All read-only, under ``/api/v1/analytics``, for people holding ``studies:read`` in the
organisation that owns the site asked about (another tenant's site is a 404).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from medcoop.analytics.utilization import OpeningHours
from medcoop.hub.api.deps import DbSession, actor_of, open_session, require
from medcoop.hub.api.schemas import ErrorOut, Responses
from medcoop.hub.db.tenancy import act_as
from medcoop.hub.errors import HubError
from medcoop.hub.presenters import (
    DeviceUtilizationOut,
    DrlComparisonOut,
    PeerBenchmarkOut,
    aware,
    benchmark_out,
    drl_comparisons_out,
    narrowing,
    utilization_out,
)
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.vocabulary import Metric

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
_ERRORS: Responses = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}
GroupBy = Literal["site_id", "device_key", "protocol"]


def get_pool_session(request: Request, principal: Reader) -> Iterator[Session]:
    """Dependency: a system session for pooled, k-anonymous reads across tenants, its
    reads logged as the caller's."""
    session = act_as(open_session(request), actor_of(principal))
    try:
        yield session
    finally:
        session.close()


PoolSession = Annotated[Session, Depends(get_pool_session)]


@router.get("/drl", response_model=list[DrlComparisonOut], responses=_ERRORS)
def drl(
    _principal: Reader,
    db: DbSession,
    site_id: uuid.UUID,
    group_by: Annotated[list[GroupBy] | None, Query()] = None,
    source_id: Annotated[str | None, Query(max_length=64)] = None,
    min_n: Annotated[int, Query(ge=1, le=100_000)] = 10,
    study_from_at: datetime | None = None,
    study_to_at: datetime | None = None,
) -> list[DrlComparisonOut]:
    """Compare a site's medians with national DRLs per exam type, quantity and scope."""
    found = analytics.drl_comparisons(
        db,
        site_id,
        group_by=tuple(group_by or ("site_id",)),
        source_id=source_id,
        min_n=min_n,
        from_at=aware(study_from_at),
        to_at=aware(study_to_at),
    )
    return drl_comparisons_out(found)


@router.get("/benchmark", response_model=PeerBenchmarkOut, responses=_ERRORS)
def benchmark(
    _principal: Reader,
    db: DbSession,
    pool: PoolSession,
    site_id: uuid.UUID,
    exam_type: Annotated[str, Query(max_length=64)],
    metric: Metric = "dlp",
    country: Annotated[str | None, Query(max_length=2)] = None,
    site_type: Annotated[str | None, Query(max_length=40)] = None,
    device_class: Annotated[str | None, Query(max_length=40)] = None,
    study_from_at: datetime | None = None,
    study_to_at: datetime | None = None,
) -> PeerBenchmarkOut:
    """Compare a site with its peers (groups under 5 sites or 10 studies are suppressed)."""
    filters = narrowing(country=country, site_type=site_type, device_class=device_class)
    result = analytics.peer_benchmark(
        db,
        pool,
        site_id,
        exam_type=exam_type,
        metric=metric,
        filters=filters,
        from_at=aware(study_from_at),
        to_at=aware(study_to_at),
    )
    return benchmark_out(result, exam_type=exam_type, metric=metric)


@router.get("/utilization", response_model=list[DeviceUtilizationOut], responses=_ERRORS)
def utilization(
    _principal: Reader,
    db: DbSession,
    site_id: uuid.UUID,
    first_day: date,
    last_day: date,
    opens: time = time(8),
    closes: time = time(18),
) -> list[DeviceUtilizationOut]:
    """Per-device utilization of a site between two local days (inclusive)."""
    if last_day < first_day or (last_day - first_day).days > 366:
        raise HubError("last_day must follow first_day by at most 366 days")
    found = analytics.utilization(
        db,
        site_id,
        first_day=first_day,
        last_day=last_day,
        # opening hours are local wall-clock times: an offset in the query adds nothing
        opening_hours=OpeningHours.weekdays(
            opens.replace(tzinfo=None), closes.replace(tzinfo=None)
        ),
    )
    return utilization_out(found)
