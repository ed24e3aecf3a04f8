"""Rate limits: a token bucket per key (site, client address + e-mail).

:class:`MemoryRateLimiter` keeps each hub process's buckets in memory, so N instances
behind a load balancer allow up to N times the configured rate; :class:`RedisRateLimiter`
keeps them in Redis (a Lua token bucket), one limit for every instance. The settings pick
one (:func:`limiter_for`, ``HubSettings.rate_limit_redis_url``); see ``docs/operations.md``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from medcoop.hub.settings import HubSettings

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "limiter_for"]

log = logging.getLogger(__name__)

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


#: One token bucket per key in a Redis hash, refilled by the Redis server's clock (so
#: every hub instance agrees on time); returns the wait as text (Lua numbers returned to
#: a client are truncated to integers).
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """A token bucket per key in Redis, shared by every hub instance that uses the same
    Redis (one Lua script per request: atomic, one round trip).

    While Redis cannot be reached, each process falls back to its own buckets
    (:class:`MemoryRateLimiter`) and logs it: limits keep applying, per instance, and a
    Redis outage never turns into a hub outage.

    Parameters
    ----------
    url
        ``redis://host:port/db``.
    prefix
        Prepended to every key (several hubs may share one Redis).
    timeout_s
        Connect and read timeout of each call.
    """

    def __init__(self, url: str, *, prefix: str = "medcoop:rate:", timeout_s: float = 0.5) -> None:
        import redis

        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._script = self._client.register_script(_TOKEN_BUCKET)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def acquire(self, key: str, *, rate_per_s: float, burst: int) -> float:
        """Take one token from ``key``'s shared bucket (see :class:`RateLimiter`)."""
        try:
            wait = self._script(keys=[self._prefix + key], args=[rate_per_s, burst])
        except self._errors as exc:
            log.warning("rate limits: Redis unreachable (%s), this process's buckets apply",
                        type(exc).__name__)
            return self._fallback.acquire(key, rate_per_s=rate_per_s, burst=burst)
        return float(wait)


def limiter_for(settings: HubSettings) -> RateLimiter:
    """Return the rate limiter ``settings`` ask for: Redis when a URL is set, else memory."""
    if settings.rate_limit_redis_url:
        return RedisRateLimiter(settings.rate_limit_redis_url)
    return MemoryRateLimiter()
