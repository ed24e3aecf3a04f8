"""Rate limits: an in-process token bucket per key (site, client address + e-mail).

Each hub process keeps its own buckets, so N instances behind a load balancer allow up
to N times the configured rate; deployments that need one global limit put a shared
store (Redis ``INCR``/``EXPIRE`` per window, or a Lua token bucket) behind the same
:class:`RateLimiter` protocol — see ``docs/operations.md``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MemoryRateLimiter", "RateLimiter"]

_MAX_KEYS = 100_000


class RateLimiter(Protocol):
    """Decides whether one more request under ``key`` may proceed."""

    def acquire(self, key: str, *, rate_per_s: float, burst: int) -> float:
        """Take one token; return 0 when allowed, else the seconds to wait before retrying."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class MemoryRateLimiter:
    """A thread-safe token bucket per key, in this process's memory."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, *, rate_per_s: float, burst: int) -> float:
        """Take one token from ``key``'s bucket (``burst`` deep, refilled at ``rate_per_s``)."""
        now_s = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_KEYS:
                    self._buckets.clear()  # bounded memory; a reset only forgives
                bucket = self._buckets[key] = _Bucket(tokens=float(burst), updated_s=now_s)
            bucket.tokens = min(burst, bucket.tokens + (now_s - bucket.updated_s) * rate_per_s)
            bucket.updated_s = now_s
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate_per_s
