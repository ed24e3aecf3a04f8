"""Analytics endpoints: DRL comparisons, k-anonymous peer benchmarks, device utilization.

All read-only, under ``/api/v1/analytics``, for people holding ``studies:read`` in the
organisation that owns the site asked about (another tenant's site is a 404).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from medcoop.analytics.utilization import OpeningHours
from medcoop.hub.api.deps import DbSession, open_session, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.errors import HubError
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
Metric = Literal["ctdivol", "dlp", "dap"]
GroupBy = Literal["site_id", "device_key", "protocol"]


class DrlComparisonOut(BaseModel):
    """A group's median against one national DRL (with the DRL's source)."""

    group: list[str | None]
    exam_type: str
    quantity: str
    scope: str
    phantom: str | None
    n: int
    median: float
    p75: float
    drl_value: float
    unit: str
    ratio_to_drl: float
    exceeds: bool
    source_id: str
    source: str
    #: What was compared: for per-acquisition CT DRLs, which acquisition types.
    acquisitions: str


class PeerDistributionOut(BaseModel):
    """Counts and quartiles of a peer group that met the privacy thresholds."""

    n_sites: int
    n_studies: int
    site_median_quartiles: tuple[float, float, float]
    pooled_quartiles: tuple[float, float, float]


class PeerBenchmarkOut(BaseModel):
    """A site's position among its peers."""

    site_id: str
    exam_type: str
    metric: str
    own_n_studies: int
    own_median: float | None
    own_p75: float | None
    peers: PeerDistributionOut | None
    percentile_rank: float | None
    notes: list[str]
    narrowed_by: dict[str, str]


class ProtocolUsageOut(BaseModel):
    """Exams and median duration of one protocol on one device."""

    exams: int
    median_duration_min: float


class DeviceUtilizationOut(BaseModel):
    """One device's utilization over the period."""

    device_key: str
    exams: int
    median_duration_min: float
    median_change_min: float | None
    exams_per_open_hour: float
    occupancy: float
    utilization: float
    available_min: float
    busy_open_min: float
    idle_min: float
    clamped_gaps: int
    heatmap: list[list[int]]
    #: Protocol → exams and median exam duration (minutes).
    by_protocol: dict[str, ProtocolUsageOut]


def get_pool_session(request: Request, _principal: Reader) -> Iterator[Session]:
    """Dependency: a system session for pooled, k-anonymous reads across tenants."""
    session = open_session(request)
    try:
        yield session
    finally:
        session.close()


PoolSession = Annotated[Session, Depends(get_pool_session)]


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # a time without zone is read as UTC


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
        from_at=_aware(study_from_at),
        to_at=_aware(study_to_at),
    )
    return [
        DrlComparisonOut(
            group=list(c.group),
            exam_type=c.entry.exam_type,
            quantity=c.entry.quantity,
            scope=c.entry.scope,
            phantom=c.entry.phantom,
            n=c.n,
            median=c.median,
            p75=c.p75,
            drl_value=c.entry.value_si,
            unit=c.entry.unit_si,
            ratio_to_drl=c.ratio_to_drl,
            exceeds=c.exceeds,
            source_id=c.entry.source_id,
            source=c.entry.source,
            acquisitions=c.entry.acquisitions,
        )
        for c in found
    ]


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
    narrowing = (("country", country), ("site_type", site_type), ("device_class", device_class))
    filters = {k: v for k, v in narrowing if v}
    result = analytics.peer_benchmark(
        db,
        pool,
        site_id,
        exam_type=exam_type,
        metric=metric,
        filters=filters,
        from_at=_aware(study_from_at),
        to_at=_aware(study_to_at),
    )
    peers = result.peers
    return PeerBenchmarkOut(
        site_id=result.site_id,
        exam_type=exam_type,
        metric=metric,
        own_n_studies=result.own_n_studies,
        own_median=result.own_median,
        own_p75=result.own_p75,
        peers=None
        if peers is None
        else PeerDistributionOut(
            n_sites=peers.n_sites,
            n_studies=peers.n_studies,
            site_median_quartiles=peers.site_median_quartiles,
            pooled_quartiles=peers.pooled_quartiles,
        ),
        percentile_rank=result.percentile_rank,
        notes=list(result.notes),
        narrowed_by=dict(result.narrowed_by),
    )


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
    return [
        DeviceUtilizationOut(
            device_key=u.device_key,
            exams=u.exams,
            median_duration_min=u.median_duration_min,
            median_change_min=u.median_change_min,
            exams_per_open_hour=u.exams_per_open_hour,
            occupancy=u.occupancy,
            utilization=u.utilization,
            available_min=u.available_min,
            busy_open_min=u.busy_open_min,
            idle_min=u.idle_min,
            clamped_gaps=u.clamped_gaps,
            heatmap=[list(row) for row in u.heatmap],
            by_protocol={
                name: ProtocolUsageOut(exams=p.exams, median_duration_min=p.median_duration_min)
                for name, p in u.by_protocol.items()
            },
        )
        for u in found.values()
    ]
