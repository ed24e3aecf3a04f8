"""The per-process cache of decoded pooled blocks (LRU within :data:`BLOCK_CACHE_BYTES`).

Blocks never change once built, so a section is keyed by (database, exam type, metric,
month, ``built_at``) and a query reads only the blocks' months and times.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from medcoop.analytics.sketches import (
    DenseRows,
    unpack_rows,
)
from medcoop.hub.db.analytics_models import DoseBlock
from medcoop.hub.db.tenancy import pooled_execute

__all__ = [
    "BLOCK_CACHE_BYTES",
    "drop_block_cache",
    "load_blocks",
]

#: Decoded block sections kept per process (bytes); blocks never change once built, so
#: a query reads only their months and times, and the sections of blocks it has not seen.
BLOCK_CACHE_BYTES = 256 * 2**20
#: (database, exam type, metric, month, built_at, section) → (rows, size)
_CacheKey = tuple[str, str, str, int, datetime | None, str]
_cache: OrderedDict[_CacheKey, tuple[DenseRows, int]] = OrderedDict()
_cache_lock = threading.Lock()
_cached_bytes = 0


def drop_block_cache() -> None:
    """Forget the decoded blocks this process keeps (benchmarks measure a cold start)."""
    global _cached_bytes
    with _cache_lock:
        _cache.clear()
        _cached_bytes = 0


def load_blocks(
    session: Session,
    exam_type: str,
    metric: str,
    section: str,
    wanted: Mapping[int, datetime | None],
) -> dict[int, DenseRows] | None:
    """Return one section of the blocks ``wanted`` (month → built_at), cached or read.

    ``None`` when a block read is not the one asked for (compacted meanwhile).
    """
    global _cached_bytes
    database = session.get_bind().engine.url.render_as_string()

    def key(month: int, built_at: datetime | None) -> _CacheKey:
        return (database, exam_type, metric, month, built_at, section)

    found: dict[int, DenseRows] = {}
    with _cache_lock:
        for month, built_at in wanted.items():
            hit = _cache.get(key(month, built_at))
            if hit is not None:
                _cache.move_to_end(key(month, built_at))
                found[month] = hit[0]
    missing = [m for m in wanted if m not in found]
    if not missing:
        return found
    column = DoseBlock.sites if section == "sites" else DoseBlock.devices
    rows = pooled_execute(
        session,
        select(DoseBlock.month, DoseBlock.built_at, column).where(
            DoseBlock.exam_type == exam_type,
            DoseBlock.metric == metric,
            DoseBlock.month.in_(missing),
        )
    ).all()
    for month, built_at, data in rows:
        if built_at != wanted[month]:
            return None
        found[month] = unpack_rows(bytes(data))
        with _cache_lock:
            if key(month, built_at) not in _cache:
                _cache[key(month, built_at)] = (found[month], len(data))
                _cached_bytes += len(data)
            while _cached_bytes > BLOCK_CACHE_BYTES and _cache:
                _cached_bytes -= _cache.popitem(last=False)[1][1]
    return found if len(found) == len(wanted) else None
