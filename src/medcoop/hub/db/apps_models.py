"""App monitoring at the hub: each reported app run and clinicians' reviews of results.

Rows are the edges' :class:`medcoop.apps.monitoring.RunReport` values (de-identified by
construction) and the reviews people add; both are owned by the site's organisation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, new_id, utcnow

__all__ = ["AppCloudRun", "AppReview", "AppRun"]


class AppRun(TenantOwned, Base):
    """One app run at a site's edge, as the edge reported it."""

    __tablename__ = "app_runs"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "site_id"], ["sites.org_id", "sites.id"]),
        UniqueConstraint("org_id", "site_id", "run_key"),
        Index("ix_app_runs_app", "org_id", "app", "app_version", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    site_id: Mapped[uuid.UUID]
    run_key: Mapped[str] = mapped_column(String(64))
    app: Mapped[str] = mapped_column(String(40))
    app_version: Mapped[str] = mapped_column(String(40))
    study_uid: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    modality: Mapped[str | None] = mapped_column(String(16))
    device_key: Mapped[str | None] = mapped_column(String(64))
    protocol: Mapped[str | None] = mapped_column(String(128))
    #: ``{output name: value}``.
    outputs: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppReview(TenantOwned, Base):
    """A clinician's judgement of one run's result: right or wrong, with a note.

    One per run and reviewer: a second review by the same person replaces the first.
    """

    __tablename__ = "app_reviews"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "run_id"], ["app_runs.org_id", "app_runs.id"]),
        UniqueConstraint("org_id", "run_id", "reviewer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID]
    reviewer_id: Mapped[uuid.UUID]
    verdict: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppCloudRun(TenantOwned, Base):
    """One cloud run of an app on pooled records, claimed by the worker that runs it.

    The job id is the key: a job delivered twice is claimed once, so it runs once.
    """

    __tablename__ = "app_cloud_runs"

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    app: Mapped[str] = mapped_column(String(40))
    app_version: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str] = mapped_column(String(80))
    records: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_left_out: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
