"""The edge's app runs, reported to the hub's monitoring (``POST /api/v1/apps/runs``).

When a run finishes, :func:`queue_report` writes its :class:`~medcoop.apps.monitoring.
RunReport` into ``app_monitor`` in the same transaction that records the run (so a crash
never loses or half-records one); :class:`MonitorReporter` sends the queued reports in
batches from a thread of its own, with backoff while the hub is away. Reports are
idempotent at the hub by ``run_key`` (the one the run is metered under), so a batch sent
twice is counted once. A report is de-identified by construction (remapped study UID,
reason codes, numeric outputs); a batch the hub refuses as invalid (422) is marked refused
with the hub's reason and not retried, so one bad report never blocks the others.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime
from typing import Final

import httpx

from medcoop.apps.monitoring import OutcomeLike, RunReport, RunReportBatch, report_of
from medcoop.apps.reporter import QueueReporter

__all__ = ["MonitorReporter", "queue_report", "run_report"]

log = logging.getLogger(__name__)
_BATCH: Final = 500
_POLL_S: Final = 5.0


def run_report(
    *,
    edge_name: str,
    run_id: int,
    study_key: str,
    app_id: str,
    app_version: str,
    outcome: OutcomeLike | None,
    reason: str | None,
    started_at_s: float | None,
    finished_at_s: float,
    modality: str | None = None,
) -> RunReport:
    """The report of one finished edge run (``outcome`` None: it failed before running,
    for ``reason``)."""
    key = re.sub(r"[^A-Za-z0-9\-]", "-", f"{edge_name}-{run_id}")[-64:].strip("-")
    started = datetime.fromtimestamp(started_at_s or finished_at_s, UTC)
    if outcome is None:
        outcome = _NotRun(reason or "unknown")
    report = report_of(
        outcome, run_key=key.rjust(8, "0"), app=app_id[:40], app_version=app_version[:40],
        started_at=started, study_uid=study_key if study_key.startswith("2.25.") else None,
        modality=modality,
    )
    return report


class _NotRun:
    """The outcome of a run that never started (uninstalled app, no entitlement...)."""

    succeeded = False
    duration_s = 0.0
    result = None

    def __init__(self, reason: str) -> None:
        self.reason = re.sub(r"[^A-Za-z0-9_.\-]", "_", reason)[:40]


def queue_report(conn: sqlite3.Connection, run_id: int, report: RunReport, now: float) -> None:
    """Queue ``report`` of edge run ``run_id`` (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR IGNORE INTO app_monitor (run_id, report, created_at, next_at) "
        "VALUES (?, ?, ?, ?)",
        (run_id, report.model_dump_json(), now, now),
    )


class MonitorReporter(QueueReporter):
    """Sends queued run reports to the hub, in a thread of its own."""

    thread_name = "medcoop-monitor"
    failure_message = "monitoring report failed"
    poll_s = _POLL_S

    def send_due(self) -> int:
        """Send one batch of due reports; return how many the hub took."""
        from medcoop.edge.store import now_s

        if not self.hub.url or not self.hub.site_token:
            return 0
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT run_id, report, attempts FROM app_monitor WHERE reported_at IS NULL "
                "AND refused IS NULL AND next_at <= ? ORDER BY run_id LIMIT ?",
                (now_s(), _BATCH),
            ).fetchall()
        if not rows:
            return 0
        ids = [run_id for run_id, _, _ in rows]
        attempts = max(a for _, _, a in rows)
        batch = RunReportBatch(runs=tuple(RunReport.model_validate_json(r) for _, r, _ in rows))
        try:
            answer = httpx.post(
                self.hub.url.rstrip("/") + "/api/v1/apps/runs",
                content=batch.model_dump_json(),
                headers={
                    "Authorization": f"Bearer {self.hub.site_token}",
                    "Content-Type": "application/json",
                },
                timeout=self.hub.timeout_s,
            )
        except httpx.HTTPError as exc:
            self._retry(ids, attempts, type(exc).__name__)
            return 0
        if answer.status_code == 200:
            self._mark(ids, "reported_at = ?", now_s())
            return len(ids)
        if answer.status_code == 422:
            self._mark(ids, "refused = ?", answer.text[:200])
            return 0
        self._retry(ids, attempts, f"HTTP {answer.status_code}")
        return 0

    def _mark(self, ids: list[int], assignment: str, value: object) -> None:
        marks = ",".join("?" * len(ids))
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE app_monitor SET {assignment}, attempts = attempts + 1 "
                f"WHERE run_id IN ({marks})",
                (value, *ids),
            )

    def _retry(self, ids: list[int], attempts: int, error: str) -> None:
        from medcoop.edge.store import now_s

        delay = min(self.cap_s, self.base_s * 2 ** min(attempts, 20))
        marks = ",".join("?" * len(ids))
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE app_monitor SET attempts = attempts + 1, last_error = ?, next_at = ? "
                f"WHERE run_id IN ({marks})",
                (error, now_s() + delay, *ids),
            )
