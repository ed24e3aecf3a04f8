"""App monitoring at the hub: store the runs edges report, and read them per app and version.

Every function takes a session already scoped to one organisation (the tenancy layer
filters every query), so an organisation sees only its own sites' runs. The statistics
(percentiles, PSI, KS, agreement) are :mod:`medcoop.apps.monitoring`'s.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.apps import monitoring as stats
from medcoop.apps.monitoring import Drift, RunReport, RunStatus, Verdict
from medcoop.hub.db.apps_models import AppReview, AppRun
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import Site
from medcoop.hub.errors import NotFoundError

__all__ = [
    "AppVersionStats",
    "RecordedRuns",
    "app_stats",
    "list_runs",
    "output_trend",
    "record_runs",
    "review_run",
]

_TOP = 8  # categories shown per input mix


@dataclass(frozen=True, slots=True)
class RecordedRuns:
    """What a report batch did: new runs stored, re-sent ones recognised."""

    accepted: int
    duplicates: int
    #: Runs stored now, per (app, version, succeeded): what metering counts.
    new_runs: tuple[AppRun, ...] = ()


def record_runs(
    session: Session, org_id: uuid.UUID, site_id: uuid.UUID, runs: tuple[RunReport, ...]
) -> RecordedRuns:
    """Store the runs of one site's report; a run already reported (same ``run_key``) is
    counted as a duplicate, never twice. Commits."""
    begin_write(session)
    keys = [r.run_key for r in runs]
    known = set(
        session.scalars(
            select(AppRun.run_key).where(AppRun.site_id == site_id, AppRun.run_key.in_(keys))
        )
    )
    fresh: list[AppRun] = []
    for report in runs:
        if report.run_key in known:
            continue
        known.add(report.run_key)
        fresh.append(
            AppRun(
                org_id=org_id,
                site_id=site_id,
                run_key=report.run_key,
                app=report.app,
                app_version=report.app_version,
                study_uid=report.study_uid,
                started_at=report.started_at,
                latency_ms=report.latency_ms,
                status=report.status.value,
                failure_reason=report.failure_reason
                if report.status is RunStatus.FAILED
                else None,
                modality=report.modality,
                device_key=report.device_key,
                protocol=report.protocol,
                outputs={k: v for k, v in report.outputs.items() if stats.is_finite(v)},
            )
        )
    session.add_all(fresh)
    session.commit()
    return RecordedRuns(len(fresh), len(runs) - len(fresh), tuple(fresh))


@dataclass(frozen=True, slots=True)
class OutputSummary:
    """One numeric output's distribution in the period."""

    name: str
    n: int
    mean: float
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True, slots=True)
class SiteAgreement:
    """Reviews of one site's results and the share judged right."""

    site: str
    reviews: int
    agreement: float | None


@dataclass
class AppVersionStats:
    """Monitoring of one app version over the period."""

    app: str
    app_version: str
    runs: int = 0
    failures: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    modality_mix: dict[str, int] = field(default_factory=dict)
    device_mix: dict[str, int] = field(default_factory=dict)
    protocol_mix: dict[str, int] = field(default_factory=dict)
    outputs: list[OutputSummary] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    reviews: int = 0
    agreement: float | None = None
    agreement_by_site: list[SiteAgreement] = field(default_factory=list)

    @property
    def drift_alerts(self) -> list[Drift]:
        """The inputs and outputs that moved."""
        return [d for d in self.drift if d.alert]


def _runs_since(session: Session, since: datetime) -> list[AppRun]:
    return list(
        session.scalars(
            select(AppRun).where(AppRun.started_at >= since).order_by(AppRun.started_at)
        )
    )


def _output_summaries(runs: list[AppRun]) -> list[OutputSummary]:
    values: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for name, value in run.outputs.items():
            values[name].append(float(value))
    summaries = []
    for name, items in sorted(values.items()):
        p10, p50, p90 = np.percentile(items, [10, 50, 90])
        summaries.append(
            OutputSummary(
                name, len(items), round(float(np.mean(items)), 4),
                round(float(p10), 4), round(float(p50), 4), round(float(p90), 4),
            )
        )
    return summaries


def _drift(runs: list[AppRun], split: datetime) -> list[Drift]:
    reference = [r for r in runs if r.started_at < split and r.status == RunStatus.SUCCEEDED]
    current = [r for r in runs if r.started_at >= split and r.status == RunStatus.SUCCEEDED]
    found = [
        stats.drift_of_categories(
            name, [getattr(r, name) for r in reference], [getattr(r, name) for r in current]
        )
        for name in ("modality", "device_key", "protocol")
    ]
    names = sorted({n for r in runs for n in r.outputs})
    for name in names:
        found.append(
            stats.drift_of_values(
                name,
                [r.outputs[name] for r in reference if name in r.outputs],
                [r.outputs[name] for r in current if name in r.outputs],
            )
        )
    return found


def _mix(values: list[str | None]) -> dict[str, int]:
    return dict(Counter(v or "unknown" for v in values).most_common(_TOP))


def app_stats(
    session: Session,
    *,
    now: datetime | None = None,
    current_days: int = 7,
    reference_days: int = 28,
) -> list[AppVersionStats]:
    """Return the monitoring of every app version with runs in the last
    ``reference_days + current_days`` days, drift of the last ``current_days`` against the
    ``reference_days`` before them (sorted by app, then version)."""
    now = now or utcnow()
    split = now - timedelta(days=current_days)
    runs = _runs_since(session, split - timedelta(days=reference_days))
    groups: dict[tuple[str, str], list[AppRun]] = defaultdict(list)
    for run in runs:
        groups[(run.app, run.app_version)].append(run)
    reviews = _reviews_by_run(session, [r.id for r in runs])
    sites: dict[uuid.UUID, str] = {
        site_id: name for site_id, name in session.execute(select(Site.id, Site.name))
    }
    result = []
    for (app, version), items in sorted(groups.items()):
        failed = [r for r in items if r.status == RunStatus.FAILED]
        ok = [r for r in items if r.status == RunStatus.SUCCEEDED]
        verdicts = [v for r in items for v in reviews.get(r.id, [])]
        n_reviews, agreement = stats.agreement_rate(verdicts)
        by_site: dict[uuid.UUID, list[str]] = defaultdict(list)
        for r in items:
            by_site[r.site_id].extend(reviews.get(r.id, []))
        result.append(
            AppVersionStats(
                app=app,
                app_version=version,
                runs=len(items),
                failures=len(failed),
                failures_by_reason=dict(
                    Counter(r.failure_reason or "unknown" for r in failed).most_common()
                ),
                latency_ms=stats.latency_percentiles([r.latency_ms for r in ok]),
                modality_mix=_mix([r.modality for r in items]),
                device_mix=_mix([r.device_key for r in items]),
                protocol_mix=_mix([r.protocol for r in items]),
                outputs=_output_summaries(ok),
                drift=_drift(items, split),
                reviews=n_reviews,
                agreement=agreement,
                agreement_by_site=[
                    SiteAgreement(sites.get(site_id, "?"), *stats.agreement_rate(v))
                    for site_id, v in sorted(by_site.items(), key=lambda kv: str(kv[0]))
                    if v
                ],
            )
        )
    return result


def _reviews_by_run(session: Session, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not run_ids:
        return found
    for chunk in range(0, len(run_ids), 500):
        rows = session.execute(
            select(AppReview.run_id, AppReview.verdict).where(
                AppReview.run_id.in_(run_ids[chunk : chunk + 500])
            )
        )
        for run_id, verdict in rows:
            found[run_id].append(verdict)
    return found


def list_runs(
    session: Session,
    *,
    app: str | None = None,
    app_version: str | None = None,
    limit: int = 50,
) -> list[AppRun]:
    """Return the newest runs, optionally of one app (and version)."""
    statement = select(AppRun).order_by(AppRun.started_at.desc()).limit(limit)
    if app is not None:
        statement = statement.where(AppRun.app == app)
    if app_version is not None:
        statement = statement.where(AppRun.app_version == app_version)
    return list(session.scalars(statement))


def output_trend(
    session: Session, app: str, output: str, *, days: int = 35, now: datetime | None = None
) -> dict[str, list[tuple[str, float, int]]]:
    """Return the daily mean of one output per device: ``{device: [(day, mean, n)]}``."""
    since = (now or utcnow()) - timedelta(days=days)
    runs = session.scalars(
        select(AppRun).where(
            AppRun.app == app, AppRun.started_at >= since, AppRun.status == RunStatus.SUCCEEDED
        )
    )
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for run in runs:
        if output in run.outputs:
            cells[(run.device_key or "unknown", stats.day_of(run.started_at))].append(
                float(run.outputs[output])
            )
    trend: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for (device, day), values in sorted(cells.items()):
        trend[device].append((day, round(float(np.mean(values)), 4), len(values)))
    return dict(trend)


def review_run(
    session: Session,
    run_id: uuid.UUID,
    reviewer_id: uuid.UUID,
    verdict: Verdict,
    note: str | None,
) -> AppReview:
    """Record (or replace) ``reviewer_id``'s judgement of a run's result. Commits.

    Raises
    ------
    NotFoundError
        If the run is not the caller's organisation's (another tenant's looks the same).
    """
    if not session.in_transaction():  # the API's WriteSession has begun it already
        begin_write(session)
    run = session.scalar(select(AppRun).where(AppRun.id == run_id))
    if run is None:
        raise NotFoundError("app run", run_id)
    review = session.scalar(
        select(AppReview).where(AppReview.run_id == run_id, AppReview.reviewer_id == reviewer_id)
    )
    if review is None:
        review = AppReview(org_id=run.org_id, run_id=run_id, reviewer_id=reviewer_id)
        session.add(review)
    review.verdict = Verdict(verdict).value
    review.note = (note or "").strip() or None
    review.reviewed_at = utcnow()
    session.commit()
    return review
