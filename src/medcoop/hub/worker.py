"""The hub's worker: runs the background jobs outside (or, for the demo, inside) the web app.

``medcoop hub worker`` runs :func:`hub_jobs` (the alert notifier, summary compaction;
later the app runtime's jobs from a real broker) in their own process, so request
workers only serve requests. The web app runs the same :class:`Worker` in its process
when ``HubSettings.worker_in_process`` is on (the default, for the embedded demo).
Every job is safe to run in several workers at once (claims, leases, idempotent writes).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from medcoop.hub.background import BackgroundJob
from medcoop.hub.services.analytics import AlertNotifier
from medcoop.hub.services.analytics.summaries import SummaryCompactor
from medcoop.hub.settings import HubSettings

__all__ = ["Worker", "hub_jobs"]


def hub_jobs(settings: HubSettings, session_factory: sessionmaker[Session]) -> list[BackgroundJob]:
    """Return the hub's background jobs for ``settings``."""
    jobs: list[BackgroundJob] = []
    if settings.notifier_enabled:
        jobs.append(AlertNotifier(session_factory, interval_s=settings.notifier_interval_s))
    if settings.notifier_enabled:
        from medcoop.hub.services.store.notices import StoreNotifier

        jobs.append(StoreNotifier(session_factory, interval_s=settings.notifier_interval_s))
    if settings.compaction_interval_s > 0:
        jobs.append(SummaryCompactor(session_factory, interval_s=settings.compaction_interval_s))
    if settings.store_tuf_refresh_interval_s > 0:
        from medcoop.hub.services.store_tuf import TufRefresher

        jobs.append(TufRefresher(settings, interval_s=settings.store_tuf_refresh_interval_s))
    return jobs


class Worker:
    """Runs background jobs: all passes once (:meth:`run_once`), or each in the
    background until stopped (:meth:`start`/:meth:`stop`, :meth:`run_until`)."""

    def __init__(self, jobs: Sequence[BackgroundJob]) -> None:
        self.jobs = tuple(jobs)

    def job(self, name: str) -> BackgroundJob | None:
        """Return the job called ``name``, if this worker runs it."""
        return next((job for job in self.jobs if job.name == name), None)

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass of every job, in order; return what each handled."""
        return {job.name: job.run_once(now) for job in self.jobs}

    def start(self) -> None:
        """Start every job in the background."""
        for job in self.jobs:
            job.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every job after its pass in progress."""
        for job in self.jobs:
            job.stop(timeout_s)

    def run_until(self, stop: threading.Event) -> None:
        """Run in the background until ``stop`` is set (the CLI sets it on a signal)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
