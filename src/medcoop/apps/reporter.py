"""The edge's background senders of queued app facts to the hub (usage, monitoring).

Owns one thing: the thread that calls ``send_due`` until stopped, sleeping ``poll_s``
between empty rounds unless woken. What is queued and how it is sent stays with each
subclass; rows stay queued in the edge's SQLite when the thread stops.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medcoop.edge.config import EdgeSettings
    from medcoop.edge.store import EdgeStore

__all__ = ["QueueReporter"]

log = logging.getLogger(__name__)


class QueueReporter:
    """A thread that sends what ``send_due`` finds queued, with the hub's backoff settings."""

    #: The thread's name (seen in thread dumps and logs).
    thread_name = "medcoop-reporter"
    #: What a failed round is logged as.
    failure_message = "report failed"
    #: Seconds between rounds that sent nothing.
    poll_s = 1.0

    def __init__(self, settings: EdgeSettings, store: EdgeStore) -> None:
        self.hub = settings.hub
        self.store = store
        self.base_s = settings.apps.export_backoff_base_s
        self.cap_s = settings.apps.export_backoff_max_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reporter thread."""
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop (what is unsent stays queued)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def wake(self) -> None:
        """Something was queued: send now."""
        self._wake.set()

    def send_due(self) -> int:
        """Send one batch of what is due; return how many the hub took."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.send_due()
            except Exception:  # the reporter outlives a bad row or answer; it is logged
                log.exception(self.failure_message)
                sent = 0
            if not sent:
                self._wake.wait(self.poll_s)
                self._wake.clear()
