"""Store apps' entitlements and usage, between the edge and the hub (site token).

Before a run of an app installed from the store, the worker asks the hub whether this
site may start one (``POST /api/v1/store/entitlements/check``; answers cached for
:data:`CHECK_TTL_S`). A "no" fails the run as ``not_entitled`` with the hub's reason (an
expired trial or entitlement stops new runs). When the hub cannot be reached, or the edge is
not enrolled, the run goes ahead and the log says so: a hospital's care must not stop
because its internet link did; the run is metered later all the same.

Each succeeded run of a store app is a row of ``app_usage`` (written in the transaction that
records the run) that :class:`UsageReporter` sends as ``POST /api/v1/store/usage`` — one
run, one study, an idempotent ``run_key`` — retried with backoff until the hub has it. A
hub refusal (409: no entitlement allows it) is recorded on the row and not retried.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from medcoop.apps.reporter import QueueReporter

if TYPE_CHECKING:
    from medcoop.edge.config import EdgeSettings

__all__ = ["CHECK_TTL_S", "Decision", "EntitlementChecker", "UsageReporter"]

log = logging.getLogger("medcoop.apps.metering")

CHECK_TTL_S = 60.0
_POLL_S = 1.0
_BATCH = 50


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a run may start, and why (the hub's reason, or why it is not known)."""

    allowed: bool
    reason: str


class EntitlementChecker:
    """Asks the hub, caching each app's answer for :data:`CHECK_TTL_S` seconds."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.hub = settings.hub
        self._cache: dict[str, tuple[float, Decision]] = {}
        self._lock = threading.Lock()

    def check(self, app_id: str) -> Decision:
        """The hub's decision for a new run of ``app_id`` at this site."""
        with self._lock:
            cached = self._cache.get(app_id)
            if cached is not None and time.monotonic() - cached[0] < CHECK_TTL_S:
                return cached[1]
        decision = self._ask(app_id)
        with self._lock:
            self._cache[app_id] = (time.monotonic(), decision)
        return decision

    def forget(self, app_id: str) -> None:
        """Drop the cached answer (a metered run used up part of an entitlement)."""
        with self._lock:
            self._cache.pop(app_id, None)

    def _ask(self, app_id: str) -> Decision:
        if not self.hub.url or not self.hub.site_token:
            return Decision(True, "not enrolled with a hub: not checked")
        try:
            answer = httpx.post(
                self.hub.url.rstrip("/") + "/api/v1/store/entitlements/check",
                json={"app_id": app_id}, timeout=self.hub.timeout_s,
                headers={"Authorization": f"Bearer {self.hub.site_token}"},
            )
        except httpx.HTTPError as exc:
            log.warning("entitlement unknown (hub unreachable): the run goes ahead",
                        extra={"app": app_id, "error": type(exc).__name__})
            return Decision(True, f"hub unreachable ({type(exc).__name__}): not checked")
        if answer.status_code != 200:
            log.warning("entitlement unknown: the run goes ahead",
                        extra={"app": app_id, "status": answer.status_code})
            return Decision(True, f"hub answered HTTP {answer.status_code}: not checked")
        body = answer.json()
        return Decision(bool(body.get("allowed")), str(body.get("reason") or "")[:200])


class UsageReporter(QueueReporter):
    """Sends the metered runs to the hub, in a thread of its own."""

    thread_name = "medcoop-usage"
    failure_message = "usage report failed"
    poll_s = _POLL_S

    def send_due(self) -> int:
        """Send the due usage rows; return how many the hub took."""
        from medcoop.edge.store import now_s

        if not self.hub.url or not self.hub.site_token:
            return 0
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT run_id, app_id, run_key, attempts FROM app_usage WHERE reported_at IS "
                "NULL AND refused IS NULL AND next_at <= ? ORDER BY run_id LIMIT ?",
                (now_s(), _BATCH),
            ).fetchall()
        sent = 0
        for run_id, app_id, run_key, attempts in rows:
            try:
                answer = httpx.post(
                    self.hub.url.rstrip("/") + "/api/v1/store/usage",
                    json={"app_id": app_id, "run_key": run_key, "studies": 1, "runs": 1},
                    headers={"Authorization": f"Bearer {self.hub.site_token}"},
                    timeout=self.hub.timeout_s,
                )
            except httpx.HTTPError as exc:
                self._retry(run_id, attempts, type(exc).__name__)
                break  # the hub is down: the others wait for the next try
            if answer.status_code == 200:
                self._mark(run_id, "reported_at = ?", now_s())
                sent += 1
            elif answer.status_code == 409:
                detail = str(answer.json().get("detail", "refused"))[:200]
                self._mark(run_id, "refused = ?", detail)
            else:
                self._retry(run_id, attempts, f"HTTP {answer.status_code}")
        return sent

    def _mark(self, run_id: int, assignment: str, value: object) -> None:
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE app_usage SET {assignment}, attempts = attempts + 1 "
                         "WHERE run_id = ?", (value, run_id))

    def _retry(self, run_id: int, attempts: int, error: str) -> None:
        from medcoop.edge.store import now_s

        delay = min(self.cap_s, self.base_s * 2 ** min(attempts, 20))
        with self.store.transaction() as conn:
            conn.execute("UPDATE app_usage SET attempts = attempts + 1, last_error = ?, "
                         "next_at = ? WHERE run_id = ?", (error, now_s() + delay, run_id))
