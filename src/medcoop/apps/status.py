"""What the edge's apps did: runs by state, failures by reason, exports per destination.

Read by ``medcoop edge apps runs`` and the edge's status; pure SQL over the edge's
database (schema 3), no identifying value (study keys are the edge's pseudonymous UIDs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medcoop.edge.store import EdgeStore

__all__ = ["AppRun", "AppsStatus", "apps_status", "list_runs"]


@dataclass(frozen=True, slots=True)
class AppRun:
    """One run as listed."""

    run_id: int
    app_key: str
    study_key: str
    state: str
    reason: str | None
    detail: str | None
    attempts: int
    sandbox: str | None
    duration_s: float | None
    created_at: float
    finished_at: float | None
    exports_sent: int
    exports_pending: int
    export_error: str | None


@dataclass(frozen=True, slots=True)
class AppsStatus:
    """Totals for the status page and CLI."""

    sandbox: str | None
    by_state: dict[str, int]
    failures_by_reason: dict[str, int]
    exports_pending_by_destination: dict[str, int]
    last_export_error_by_destination: dict[str, str]


def list_runs(store: EdgeStore, *, limit: int = 50, state: str | None = None) -> list[AppRun]:
    """The newest runs first (optionally of one state)."""
    where = "WHERE r.state = ?" if state else ""
    params: tuple[object, ...] = (state, limit) if state else (limit,)
    with store.reading() as conn:
        rows = conn.execute(
            "SELECT r.id, r.app_key, r.study_key, r.state, r.reason, r.detail, r.attempts, "
            "r.sandbox, r.duration_s, r.created_at, r.finished_at, "
            "(SELECT count(*) FROM app_exports e WHERE e.run_id = r.id AND e.sent_at IS NOT NULL),"
            " (SELECT count(*) FROM app_exports e WHERE e.run_id = r.id AND e.sent_at IS NULL),"
            " (SELECT e.last_error FROM app_exports e WHERE e.run_id = r.id AND e.sent_at IS NULL"
            f" AND e.last_error IS NOT NULL LIMIT 1) FROM app_runs r {where} "
            "ORDER BY r.id DESC LIMIT ?",
            params,
        ).fetchall()
    return [AppRun(*row) for row in rows]


def apps_status(store: EdgeStore) -> AppsStatus:
    """Runs by state, failures by reason, pending exports and their last error."""
    with store.reading() as conn:
        by_state = dict(conn.execute("SELECT state, count(*) FROM app_runs GROUP BY state"))
        failures = dict(conn.execute(
            "SELECT reason, count(*) FROM app_runs WHERE state = 'failed' GROUP BY reason"))
        pending = dict(conn.execute(
            "SELECT destination, count(*) FROM app_exports WHERE sent_at IS NULL "
            "GROUP BY destination"))
        errors = dict(conn.execute(
            "SELECT destination, last_error FROM app_exports WHERE sent_at IS NULL AND "
            "last_error IS NOT NULL GROUP BY destination"))
        row = conn.execute("SELECT value FROM meta WHERE key = 'apps_sandbox'").fetchone()
    return AppsStatus(row[0] if row else None, by_state, failures, pending, errors)
