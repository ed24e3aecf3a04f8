"""The interface of the hub's background work, and the thread loop most jobs share.

A :class:`BackgroundJob` does one pass of its work in :meth:`~BackgroundJob.run_once`
(deliver due notices, compact stale pooled blocks, later: run app jobs from a broker)
and runs passes in the background between :meth:`~BackgroundJob.start` and
:meth:`~BackgroundJob.stop`. Jobs are run by :class:`medcoop.hub.worker.Worker`, either in
``medcoop hub worker`` (production: outside request workers) or inside the web app's
process (the embedded demo, ``HubSettings.worker_in_process``).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Protocol

__all__ = ["BackgroundJob", "PeriodicJob"]

log = logging.getLogger(__name__)


class BackgroundJob(Protocol):
    """One kind of background work. Passes must be safe to run in several processes at
    once (claims, leases or idempotent writes): any number of workers may run a job."""

    name: str

    def run_once(self, now: datetime | None = None) -> int:
        """Do one pass of the work due at ``now``; return how many items it handled."""
        ...

    def start(self) -> None:
        """Run passes in the background until :meth:`stop` (idempotent)."""
        ...

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the pass in progress, waiting at most ``timeout_s`` seconds."""
        ...

    def wake(self) -> None:
        """Ask for a pass now (after a commit that made work due)."""
        ...


class PeriodicJob:
    """A :class:`BackgroundJob` whose passes run in one daemon thread every
    ``interval_s`` seconds, or at once when woken. Subclasses define :meth:`run_once`."""

    name = "job"
    #: Run the first pass at :meth:`start` (else after ``interval_s``).
    run_at_start = True

    def __init__(self, *, interval_s: float) -> None:
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> int:
        """One pass (see :class:`BackgroundJob`)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"medcoop-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after the pass in progress, if any."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self) -> None:
        """Ask for a pass now."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (long passes check it between items)."""
        return self._stop.is_set()

    def _loop(self) -> None:
        if not self.run_at_start:
            self._wake.wait(self.interval_s)
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake during the pass is not lost
            try:
                self.run_once()
            except Exception:  # keep the thread alive; the work stays due
                log.exception("%s: pass failed, retrying", self.name)
            self._wake.wait(self.interval_s)
