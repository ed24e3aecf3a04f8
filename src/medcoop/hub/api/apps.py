"""App monitoring over the API: edges report runs, people read monitoring and review results.

- ``POST /api/v1/apps/runs`` (an edge, site token): a batch of
  :class:`medcoop.apps.monitoring.RunReport`; idempotent by ``run_key``.
- ``GET /api/v1/apps/monitoring``: per app and version, runs, failures by reason,
  latency percentiles, input mixes, output distributions, drift, agreement.
- ``GET /api/v1/apps/runs``: the newest runs (with their reviews' verdicts).
- ``GET /api/v1/apps/{app}/trend``: one output's daily mean per device.
- ``PUT /api/v1/apps/runs/{run_id}/review``: mark a result right or wrong with a note.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from medcoop.apps.monitoring import RunReportBatch, Verdict
from medcoop.hub.api.deps import (
    DbSession,
    WriteSession,
    authenticate_request,
    open_session,
    require,
)
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import AuthenticationError
from medcoop.hub.services import apps
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/apps", tags=["apps"])
_SITE = frozenset({TokenKind.SITE})
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
Reviewer = Annotated[Principal, Depends(require(Permission.REVIEW_APP_RESULTS))]
AppName = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]


class RunsAcceptedOut(BaseModel):
    accepted: int
    duplicates: int


class OutputOut(BaseModel):
    name: str
    n: int
    mean: float
    p10: float
    p50: float
    p90: float


class DriftOut(BaseModel):
    name: str
    kind: str
    reference_n: int
    current_n: int
    psi: float | None
    ks_statistic: float | None
    ks_p_value: float | None
    alert: bool
    verdict: str


class SiteAgreementOut(BaseModel):
    site: str
    reviews: int
    agreement: float | None


class AppVersionOut(BaseModel):
    """Monitoring of one app version over the period."""

    app: str
    app_version: str
    runs: int
    failures: int
    failures_by_reason: dict[str, int]
    latency_ms: dict[str, float | None]
    modality_mix: dict[str, int]
    device_mix: dict[str, int]
    protocol_mix: dict[str, int]
    outputs: list[OutputOut]
    drift: list[DriftOut]
    drift_alerts: list[str]
    reviews: int
    agreement: float | None
    agreement_by_site: list[SiteAgreementOut]


class MonitoringOut(BaseModel):
    current_days: int
    reference_days: int
    apps: list[AppVersionOut]


class RunOut(BaseModel):
    id: uuid.UUID
    app: str
    app_version: str
    site_id: uuid.UUID
    study_uid: str | None
    started_at: datetime
    latency_ms: float
    status: str
    failure_reason: str | None
    modality: str | None
    device_key: str | None
    protocol: str | None
    outputs: dict[str, float]


class TrendPointOut(BaseModel):
    day: str
    mean: float
    n: int


class TrendOut(BaseModel):
    app: str
    output: str
    devices: dict[str, list[TrendPointOut]]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    note: Annotated[str, Field(max_length=2000)] | None = None


class ReviewOut(BaseModel):
    run_id: uuid.UUID
    verdict: str
    note: str | None
    reviewed_at: datetime


def _store(request: Request, principal: Principal, body: RunReportBatch) -> RunsAcceptedOut:
    if principal.site_id is None:
        raise AuthenticationError("this token belongs to no site")
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        recorded = apps.record_runs(session, principal.org_id, principal.site_id, body.runs)
    return RunsAcceptedOut(accepted=recorded.accepted, duplicates=recorded.duplicates)


@router.post(
    "/runs",
    response_model=RunsAcceptedOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
async def report_runs(body: RunReportBatch, request: Request) -> RunsAcceptedOut:
    """An enrolled edge reports its app runs (re-sent runs are recognised, not re-counted)."""
    principal = await run_in_threadpool(authenticate_request, request, _SITE)
    principal.require(Permission.INGEST)
    return await run_in_threadpool(_store, request, principal, body)


def monitoring_of(
    db: DbSession, current_days: int = 7, reference_days: int = 28
) -> MonitoringOut:
    """The monitoring rows as the API answers them (the dashboard's page reads these)."""
    rows = apps.app_stats(db, current_days=current_days, reference_days=reference_days)
    return MonitoringOut(
        current_days=current_days,
        reference_days=reference_days,
        apps=[
            AppVersionOut(
                app=s.app,
                app_version=s.app_version,
                runs=s.runs,
                failures=s.failures,
                failures_by_reason=s.failures_by_reason,
                latency_ms=s.latency_ms,
                modality_mix=s.modality_mix,
                device_mix=s.device_mix,
                protocol_mix=s.protocol_mix,
                outputs=[OutputOut.model_validate(o, from_attributes=True) for o in s.outputs],
                drift=[
                    DriftOut(
                        name=d.name,
                        kind=d.kind,
                        reference_n=d.reference_n,
                        current_n=d.current_n,
                        psi=d.psi,
                        ks_statistic=d.ks_statistic,
                        ks_p_value=d.ks_p_value,
                        alert=d.alert,
                        verdict=d.verdict,
                    )
                    for d in s.drift
                ],
                drift_alerts=[d.name for d in s.drift_alerts],
                reviews=s.reviews,
                agreement=s.agreement,
                agreement_by_site=[
                    SiteAgreementOut.model_validate(a, from_attributes=True)
                    for a in s.agreement_by_site
                ],
            )
            for s in rows
        ],
    )


@router.get("/monitoring", response_model=MonitoringOut, responses={401: {"model": ErrorOut}})
def monitoring(
    _principal: Reader,
    db: DbSession,
    current_days: Annotated[int, Query(ge=1, le=90)] = 7,
    reference_days: Annotated[int, Query(ge=1, le=365)] = 28,
) -> MonitoringOut:
    """Per app and version: runs, failures, latency, inputs, outputs, drift, agreement."""
    return monitoring_of(db, current_days, reference_days)


@router.get("/runs", response_model=list[RunOut], responses={401: {"model": ErrorOut}})
def runs(
    _principal: Reader,
    db: DbSession,
    app: Annotated[str | None, Query(max_length=40)] = None,
    app_version: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    """The newest runs, optionally of one app and version."""
    return [
        RunOut.model_validate(r, from_attributes=True)
        for r in apps.list_runs(db, app=app, app_version=app_version, limit=limit)
    ]


@router.get("/{app}/trend", response_model=TrendOut, responses={401: {"model": ErrorOut}})
def trend(
    app: AppName,
    _principal: Reader,
    db: DbSession,
    output: Annotated[str, Query(min_length=1, max_length=40)],
    days: Annotated[int, Query(ge=1, le=365)] = 35,
) -> TrendOut:
    """One output's daily mean per device (e.g. the exposure QA app's deviation index)."""
    found = apps.output_trend(db, app, output, days=days)
    return TrendOut(
        app=app,
        output=output,
        devices={
            device: [TrendPointOut(day=d, mean=m, n=n) for d, m, n in points]
            for device, points in found.items()
        },
    )


@router.put(
    "/runs/{run_id}/review",
    response_model=ReviewOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
def review(run_id: uuid.UUID, body: ReviewIn, principal: Reviewer, db: WriteSession) -> ReviewOut:
    """Mark a run's result right or wrong, with a note (one review per person per run)."""
    if principal.user_id is None:
        raise AuthenticationError("a review is a person's")
    saved = apps.review_run(db, run_id, principal.user_id, body.verdict, body.note)
    return ReviewOut(
        run_id=saved.run_id, verdict=saved.verdict, note=saved.note, reviewed_at=saved.reviewed_at
    )
