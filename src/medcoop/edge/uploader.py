"""The uploader: delivers the outbox to the hub's ingest API in batches, and never gives up.

While the hub is down it retries with exponential backoff and full jitter (AWS's
"full jitter": sleep a uniform random time up to the capped exponential), resumes from the
outbox after a restart, and treats each answer of ``POST /api/v1/ingest`` as the interface
describes: 200 marks the batch sent (new and duplicate keys alike), 401/403 stop blind
retries and are shown by status, 413 halves the batch, 422 sets the named record aside,
429 honours ``Retry-After``.

It also reports the edge's own state to ``POST /api/v1/edge/status`` (quarantine counts
by reason, counters, open studies, backlog: counts only) at most every
:data:`REPORT_INTERVAL_S` and when that state changed, so the hub's overview shows what each
site holds back. A hub without that endpoint (404) is not asked again by this uploader.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from medcoop import __version__
from medcoop.edge.config import HubSettings
from medcoop.edge.outbox import Outbox, PendingRecord
from medcoop.records import SCHEMA_VERSION

__all__ = ["DeliveryResult", "Uploader", "full_jitter_delay_s"]

log = logging.getLogger("medcoop.edge.uploader")

_AUTH_RETRY_S = 60.0
#: After a batch that was not full, wait this long for more records before the next one:
#: fewer, larger batches (one commit and one hub request each) for at most this much delay.
_LINGER_S = 0.2
#: The longest time between two status reports to the hub (sooner when the state changes).
REPORT_INTERVAL_S = 60.0
#: Between two reports at least this long, however often the state changes.
_REPORT_MIN_S = 5.0


def full_jitter_delay_s(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Return the delay before retry ``attempt`` (0-based): uniform in [0, min(max, base·2^n)].

    Parameters
    ----------
    attempt : int
        How many attempts have failed in a row, minus one.
    base_s, max_s : float
        The first cap and the largest cap, in seconds.
    rng : random.Random
        The random source (seedable in tests).
    """
    cap_s = min(max_s, base_s * (2 ** min(attempt, 32)))
    return rng.uniform(0.0, cap_s)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one delivery attempt did."""

    sent: int = 0
    rejected: int = 0
    retry_after_s: float | None = None
    error: str | None = None
    auth_failed: bool = False


class Uploader:
    """Sends the outbox to the hub from a background thread.

    Parameters
    ----------
    outbox : Outbox
        Where records wait.
    settings : HubSettings
        Hub URL, site token, batch size and backoff.
    wake : threading.Event, optional
        Set by the pipeline when records are queued, so they go out without polling delay.
    """

    def __init__(
        self,
        outbox: Outbox,
        settings: HubSettings,
        *,
        wake: threading.Event | None = None,
        rng: random.Random | None = None,
        status_report: Callable[[], dict[str, object]] | None = None,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.wake = wake or threading.Event()
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=settings.timeout_s)
        self._failures = 0
        self._meta: dict[str, str | None] = {}  # what this uploader last stored
        self._status_report = status_report
        self._reported: dict[str, object] | None = None
        self._reported_at = 0.0
        self._report_supported = True

    def start(self) -> None:
        """Start delivering in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="medcoop-uploader", daemon=True)
        self._thread.start()

    def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        """Stop the thread after a last delivery attempt of at most ``flush_timeout_s``."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=flush_timeout_s + self.settings.timeout_s)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay_s = self._cycle()
            if delay_s == _LINGER_S:
                self._stop.wait(_LINGER_S)  # not cut short by wake: let records gather
            else:
                self.wake.wait(timeout=delay_s)
            self.wake.clear()
        if self.settings.url and self.settings.site_token:
            self.deliver_once()  # flush what is ready on the way out
            self.report_status(force=True)

    def _cycle(self) -> float:
        if not self.settings.url or not self.settings.site_token:
            self._store_meta({"upload_error": "no hub URL or site token configured"})
            return 5.0
        result = self.deliver_once()
        if result.error is None:
            self.report_status()
            self._failures = 0
            if result.sent >= self.settings.batch_size:
                return 0.0  # more may be waiting
            return _LINGER_S if result.sent else 1.0
        if result.auth_failed:
            return _AUTH_RETRY_S  # a bad token will not fix itself: retry slowly, status shows it
        if result.retry_after_s is not None:
            return result.retry_after_s
        delay_s = full_jitter_delay_s(
            self._failures,
            base_s=self.settings.backoff_base_s,
            max_s=self.settings.backoff_max_s,
            rng=self._rng,
        )
        self._failures += 1
        return delay_s

    def report_status(self, *, force: bool = False) -> bool:
        """Send the edge's status to the hub when due; return whether it was sent."""
        if self._status_report is None or not self._report_supported:
            return False
        since = time.monotonic() - self._reported_at
        if not force and since < _REPORT_MIN_S:
            return False
        try:
            body = self._status_report()
        except Exception:  # a status read must never stop deliveries
            log.exception("cannot read the edge status for the hub")
            return False
        if not force and body == self._reported and since < REPORT_INTERVAL_S:
            return False
        url = self.settings.url.rstrip("/") + "/api/v1/edge/status"  # type: ignore[union-attr]
        try:
            response = self._client.post(
                url,
                json={**body, "edge_version": __version__},
                headers={"Authorization": f"Bearer {self.settings.site_token}"},
            )
        except httpx.HTTPError:
            return False  # deliveries report the hub's state; retried next cycle
        if response.status_code == 404:
            self._report_supported = False  # an older hub
            log.info("the hub takes no edge status reports")
            return False
        if response.status_code >= 300:
            log.warning("hub refused the status report", extra={"status": response.status_code})
            return False
        self._reported, self._reported_at = body, time.monotonic()
        return True

    def deliver_once(self) -> DeliveryResult:
        """Send one batch of pending records (halving it on 413); return what happened."""
        batch = self.outbox.pending(self.settings.batch_size)
        if not batch:
            return DeliveryResult()
        result = self._post(batch)
        while result.error == "413" and len(batch) > 1:
            batch = batch[: len(batch) // 2]
            result = self._post(batch)
        if result.error is not None or result.rejected:  # success stored it with the batch
            self._store_meta(self._status_meta(result))
        return result

    def _status_meta(self, result: DeliveryResult) -> dict[str, str | None]:
        meta = {
            "upload_error": result.error,
            "upload_auth_failed": "1" if result.auth_failed else None,
        }
        if result.error is None:
            meta["last_upload_at"] = datetime.now(UTC).isoformat()
        return meta

    def _changed_meta(self, meta: dict[str, str | None]) -> dict[str, str | None]:
        # Values unchanged since this uploader stored them are not written again.
        return {k: v for k, v in meta.items() if self._meta.get(k, "?") != v}

    def _store_meta(self, meta: dict[str, str | None]) -> None:
        changed = self._changed_meta(meta)
        if changed:
            self.outbox.store.set_metas(changed)
            self._meta.update(changed)

    def _post(self, batch: list[PendingRecord]) -> DeliveryResult:
        body = _batch_body(batch)
        url = self.settings.url.rstrip("/") + "/api/v1/ingest"  # type: ignore[union-attr]
        headers = {
            "Authorization": f"Bearer {self.settings.site_token}",
            "Content-Type": "application/json",
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.outbox.note_attempt([p.row_id for p in batch])
            log.warning("hub unreachable", extra={"error": type(exc).__name__})
            return DeliveryResult(error=f"hub unreachable: {type(exc).__name__}")
        return self._handle(response, batch)

    def _handle(self, response: httpx.Response, batch: list[PendingRecord]) -> DeliveryResult:
        code = response.status_code
        if code == 200:
            result = DeliveryResult(sent=len(batch))
            # The status values go in the same commit as the rows (one fsync per batch).
            changed = self._changed_meta(self._status_meta(result))
            self.outbox.mark_sent([p.row_id for p in batch], meta=changed)
            self._meta.update(changed)
            log.info("batch delivered", extra={"records": len(batch)})
            return result
        self.outbox.note_attempt([p.row_id for p in batch])
        if code in (401, 403):
            log.error("hub refused the site token", extra={"status": code})
            return DeliveryResult(error=f"hub refused the site token ({code})", auth_failed=True)
        if code == 413:
            return DeliveryResult(error="413")
        if code == 422:
            return self._reject_one(response, batch)
        if code == 429:
            return DeliveryResult(
                error="rate limited (429)", retry_after_s=_retry_after_s(response)
            )
        log.warning("hub error", extra={"status": code})
        return DeliveryResult(error=f"hub answered {code}")

    def _reject_one(self, response: httpx.Response, batch: list[PendingRecord]) -> DeliveryResult:
        try:
            payload = response.json()
            index = int(payload["record_index"])
            detail = json.dumps(payload.get("detail"))[:500]
        except (ValueError, KeyError, TypeError):
            return DeliveryResult(error="hub answered 422 without a record index")
        if not 0 <= index < len(batch):
            return DeliveryResult(error="hub answered 422 with an out-of-range record index")
        self.outbox.mark_rejected(batch[index].row_id, detail)
        log.error("hub rejected a record", extra={"record_key": batch[index].record_key})
        return DeliveryResult(rejected=1, retry_after_s=0.0, error="a record was rejected (422)")


def _batch_body(batch: list[PendingRecord]) -> bytes:
    # Records are stored as validated JSON already: splice them rather than re-validate.
    sent_at = datetime.now(UTC).isoformat()
    head = json.dumps(
        {"schema_version": SCHEMA_VERSION, "sent_at": sent_at, "edge_version": __version__}
    )
    return (head[:-1] + ', "records": [' + ",".join(p.body for p in batch) + "]}").encode()


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return max(0.0, min(3600.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0
