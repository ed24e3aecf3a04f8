"""Mergeable percentile sketches for per site × exam type × month dose summaries.

A :class:`DoseSketch` is a DDSketch (relative accuracy 1 %, logarithmic mapping, as the
``ddsketch`` package defines it) over non-negative dose values. Summaries are built at
ingest and merged at query time, so a peer-benchmark query reads summaries instead of
studies. Two things are added on top of ``ddsketch``:

- a vectorised bulk insert (``add_many``) that computes keys with numpy, identical to
  ``ddsketch.mapping.LogarithmicMapping.key``, so loading millions of values is fast;
- a compact, versioned binary form (``to_bytes`` / ``from_bytes``): a 36-byte header and
  one dense run of integer bin counts stored in the narrowest unsigned width that holds
  them (1, 2 or 4 bytes). Decoding is one ``numpy.frombuffer``;
- dense row blocks (``pack_rows`` / ``unpack_rows``): many sketches over one shared key
  range, so a query adds whole matrices (``SketchSum``) instead of scattering bins.

Counts are integers (one per study), which is what lets the width shrink.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

__all__ = [
    "RELATIVE_ACCURACY",
    "DenseRows",
    "DoseSketch",
    "SketchFormatError",
    "SketchMatrix",
    "SketchSum",
    "bin_keys",
    "merge_all",
    "merge_blocks",
    "merge_grouped",
    "merge_rows",
    "pack_block",
    "pack_rows",
    "unpack_rows",
]

#: The relative accuracy every summary in medcoop uses (sketches must share it to merge).
RELATIVE_ACCURACY = 0.01

_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# ddsketch computes key = ceil(log2(v) * multiplier); multiplier is private there, so
# recompute it the same way to stay bit-for-bit compatible.
_MULTIPLIER = math.log(2) / math.log1p(2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY))
_FORMAT_VERSION = 1
# version, count width, min key, bin count, zero count, sum, min, max
_HEADER = struct.Struct("<BBiIIddd")
_WIDTHS: dict[int, type[np.unsignedinteger]] = {1: np.uint8, 2: np.uint16, 4: np.uint32}


class SketchFormatError(ValueError):
    """Raised when bytes do not decode to a :class:`DoseSketch`; carries the reason."""


def bin_keys(values: np.ndarray) -> np.ndarray:
    """Return the DDSketch bin key of each positive value (vectorised, same as ddsketch)."""
    return np.ceil(np.log2(values) * _MULTIPLIER).astype(np.int64)


def _checked(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return ``values`` as float64, refusing negative, NaN and infinite ones."""
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError("sketch values must be finite and non-negative")
    return array


class DoseSketch:
    """A DDSketch over non-negative values with integer counts and a compact byte form.

    Values at or below the smallest value DDSketch can tell from zero are counted as
    zeros. Negative and non-finite values are refused: a dose is never negative, and a
    missing value must stay missing, not become zero.
    """

    __slots__ = ("_bins", "_max", "_min", "_min_key", "_sum", "_zero_count")

    def __init__(self) -> None:
        self._min_key = 0
        self._bins = np.zeros(0, dtype=np.int64)
        self._zero_count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    # -- building ------------------------------------------------------------------------
    def add(self, value: float) -> None:
        """Add one value (a dose in the unit the summary is kept in)."""
        self.add_many(np.asarray([value], dtype=np.float64))

    def add_many(self, values: Sequence[float] | np.ndarray) -> None:
        """Add many values at once (vectorised).

        Raises
        ------
        ValueError
            If any value is negative, NaN or infinite; nothing is added then.
        """
        array = _checked(values)
        if array.size == 0:
            return
        positive = array[array > _MAPPING.min_possible]
        self._zero_count += int(array.size - positive.size)
        self._sum += float(array.sum())
        self._min = min(self._min, float(array.min()))
        self._max = max(self._max, float(array.max()))
        if positive.size:
            keys = bin_keys(positive)
            low = int(keys.min())
            counts = np.bincount(keys - low)
            self._add_counts(low, counts)

    def _add_counts(self, low: int, counts: np.ndarray) -> None:
        if self._bins.size == 0:
            self._min_key, self._bins = low, counts.astype(np.int64)
            return
        new_low = min(low, self._min_key)
        new_high = max(low + counts.size, self._min_key + self._bins.size)
        if new_low != self._min_key or new_high != self._min_key + self._bins.size:
            grown = np.zeros(new_high - new_low, dtype=np.int64)
            start = self._min_key - new_low
            grown[start : start + self._bins.size] = self._bins
            self._min_key, self._bins = new_low, grown
        start = low - self._min_key
        self._bins[start : start + counts.size] += counts

    def remove_many(self, values: Sequence[float] | np.ndarray) -> int:
        """Remove values added before (the inverse of :meth:`add_many`).

        Counts stay exact, so a sketch summary can follow a study whose dose changed:
        remove the old value, add the new one. The sum is adjusted (exact up to float
        rounding); when a removed value was the smallest or largest, ``min``/``max``
        become the representative values of the outermost remaining bins (within 1 %).

        Returns
        -------
        int
            How many values were not in the sketch (0 when the caller's bookkeeping is
            right); those are skipped, the others removed.

        Raises
        ------
        ValueError
            If any value is negative, NaN or infinite; nothing is removed then.
        """
        array = _checked(values)
        if array.size == 0:
            return 0
        positive = array[array > _MAPPING.min_possible]
        zeros = int(array.size - positive.size)
        taken_zeros = min(zeros, self._zero_count)
        self._zero_count -= taken_zeros
        missing = zeros - taken_zeros
        if positive.size:
            keys, wanted = np.unique(bin_keys(positive), return_counts=True)
            index = keys - self._min_key
            inside = (index >= 0) & (index < self._bins.size)
            available = np.zeros(keys.size, dtype=np.int64)
            available[inside] = self._bins[index[inside]]
            taken = np.minimum(wanted, available)
            self._bins[index[inside]] -= taken[inside]
            missing += int((wanted - taken).sum())
        if self.count == 0:
            self._bins = np.zeros(0, dtype=np.int64)
            self._sum, self._min, self._max = 0.0, math.inf, -math.inf
            return missing
        self._sum = max(0.0, self._sum - float(array.sum()))
        nonzero = np.flatnonzero(self._bins)
        if float(array.min()) <= self._min:
            self._min = (
                0.0 if self._zero_count else float(_bin_values(self._min_key + nonzero[:1])[0])
            )
        if float(array.max()) >= self._max:
            self._max = float(_bin_values(self._min_key + nonzero[-1:])[0]) if nonzero.size else 0.0
        return missing

    def same_counts(self, other: DoseSketch) -> bool:
        """Return whether both sketches hold the same count in every bin and at zero.

        This is the exact part of a sketch; ``sum``, ``min`` and ``max`` may differ after
        removals (see :meth:`remove_many`) without changing any quantile.
        """
        return (
            self._zero_count == other._zero_count
            and np.array_equal(self._trimmed_bins(), other._trimmed_bins())
            and self._low_key() == other._low_key()
        )

    def _low_key(self) -> int:
        nonzero = np.flatnonzero(self._bins)
        return self._min_key + int(nonzero[0]) if nonzero.size else 0

    def merge(self, other: DoseSketch) -> None:
        """Merge ``other`` into this sketch (the result is as if all values were added here)."""
        if other.count == 0:
            return
        if other._bins.size:
            self._add_counts(other._min_key, other._bins)
        self._zero_count += other._zero_count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    @classmethod
    def from_bins(
        cls,
        min_key: int,
        counts: np.ndarray,
        *,
        zero_count: int = 0,
        total: float,
        min_value: float,
        max_value: float,
    ) -> Self:
        """Build a sketch from precomputed bin counts (bulk loads group keys themselves).

        ``counts[i]`` is the number of values whose :func:`bin_keys` is ``min_key + i``.
        """
        sketch = cls()
        sketch._min_key, sketch._bins = min_key, np.asarray(counts, dtype=np.int64)
        sketch._zero_count, sketch._sum = zero_count, total
        sketch._min, sketch._max = min_value, max_value
        return sketch

    # -- reading -------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of values added."""
        return int(self._bins.sum()) + self._zero_count

    @property
    def sum(self) -> float:
        """Sum of the values added (exact)."""
        return self._sum

    @property
    def min(self) -> float | None:
        """Smallest value added (exact), or ``None`` when empty."""
        return None if self.count == 0 else self._min

    @property
    def max(self) -> float | None:
        """Largest value added (exact), or ``None`` when empty."""
        return None if self.count == 0 else self._max

    def quantile(self, q: float) -> float | None:
        """Return the ``q``-quantile (0 ≤ q ≤ 1) within 1 % relative error, or ``None`` if empty.

        The rank rule is DDSketch's (``rank = q × (n − 1)``, lower bin), so the answer is the
        same as ``ddsketch.DDSketch.get_quantile_value`` on the same values.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        n = self.count
        if n == 0:
            return None
        rank = q * (n - 1)
        if rank < self._zero_count:
            return 0.0
        cumulative = np.cumsum(self._bins)
        index = int(np.searchsorted(cumulative, rank - self._zero_count, side="right"))
        return float(_MAPPING.value(self._min_key + index))

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Return several quantiles at once (see :meth:`quantile`)."""
        return [self.quantile(q) for q in qs]

    # -- interop and bytes ---------------------------------------------------------------
    def to_ddsketch(self) -> DDSketch:
        """Return an equivalent ``ddsketch.DDSketch`` (for interoperability checks)."""
        sketch = DDSketch(RELATIVE_ACCURACY)
        for offset, weight in enumerate(self._bins.tolist()):
            if weight:
                sketch._store.add(self._min_key + offset, float(weight))
        sketch._zero_count = float(self._zero_count)
        sketch._count = float(self.count)
        sketch._sum, sketch._min, sketch._max = self._sum, self._min, self._max
        return sketch

    def to_bytes(self) -> bytes:
        """Serialise compactly: header + bin counts in the narrowest width that fits."""
        bins = self._trimmed_bins()
        low = self._min_key + (int(np.argmax(self._bins > 0)) if self._bins.any() else 0)
        top = int(bins.max()) if bins.size else 0
        width = 1 if top < 2**8 else 2 if top < 2**16 else 4
        header = _HEADER.pack(
            _FORMAT_VERSION,
            width,
            low,
            bins.size,
            self._zero_count,
            self._sum,
            self._min,
            self._max,
        )
        return header + bins.astype(_WIDTHS[width]).tobytes()

    def _trimmed_bins(self) -> np.ndarray:
        nonzero = np.flatnonzero(self._bins)
        if nonzero.size == 0:
            return np.zeros(0, dtype=np.int64)
        return self._bins[nonzero[0] : nonzero[-1] + 1]

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode bytes written by :meth:`to_bytes`.

        Raises
        ------
        SketchFormatError
            If the bytes are truncated, of an unknown version or otherwise malformed.
        """
        low, counts, zeros, total, low_value, high_value = _decode(data)
        sketch = cls()
        sketch._min_key, sketch._bins = low, counts.astype(np.int64)
        sketch._zero_count, sketch._sum = zeros, total
        sketch._min, sketch._max = low_value, high_value
        return sketch

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DoseSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __repr__(self) -> str:
        return f"DoseSketch(count={self.count}, median={self.quantile(0.5)})"


def merge_all(sketches: Iterable[DoseSketch]) -> DoseSketch:
    """Return a new sketch that merges all ``sketches``."""
    merged = DoseSketch()
    for sketch in sketches:
        merged.merge(sketch)
    return merged


def merge_grouped(items: Iterable[tuple[str, bytes]]) -> dict[str, DoseSketch]:
    """Decode serialised sketches and merge them per group key in one pass.

    This is the query-time hot path (e.g. month summaries → one sketch per site): it
    accumulates bin counts straight from the bytes without building a sketch per blob.

    Parameters
    ----------
    items
        ``(group_key, sketch_bytes)`` pairs, bytes as written by :meth:`DoseSketch.to_bytes`.
    """
    parts: list[tuple[int, int, np.ndarray]] = []
    extras: dict[str, list[float]] = {}
    index: dict[str, int] = {}
    for group, data in items:
        row = index.setdefault(group, len(index))
        stats = extras.setdefault(group, [0.0, 0.0, math.inf, -math.inf])
        low, counts, zeros, total, low_value, high_value = _decode(data)
        stats[0] += zeros
        stats[1] += total
        stats[2] = min(stats[2], low_value)
        stats[3] = max(stats[3], high_value)
        if counts.size:
            parts.append((row, low, counts))
    merged: dict[str, DoseSketch] = {}
    if parts:
        base = min(low for _, low, _ in parts)
        width = max(low + counts.size for _, low, counts in parts) - base
        matrix = np.zeros((len(index), width), dtype=np.int64)
        for row, low, counts in parts:
            matrix[row, low - base : low - base + counts.size] += counts
    for group, row in index.items():
        sketch = DoseSketch()
        if parts:
            sketch._min_key, sketch._bins = base, matrix[row]
        zeros, total, low_value, high_value = extras[group]  # type: ignore[assignment]
        sketch._zero_count, sketch._sum = int(zeros), total
        sketch._min, sketch._max = low_value, high_value
        merged[group] = sketch
    return merged


_HEADER_DTYPE = np.dtype(
    [
        ("version", "u1"),
        ("width", "u1"),
        ("low", "<i4"),
        ("size", "<u4"),
        ("zeros", "<u4"),
        ("sum", "<f8"),
        ("min", "<f8"),
        ("max", "<f8"),
    ]
)
assert _HEADER_DTYPE.itemsize == _HEADER.size


def merge_rows(groups: Sequence[int] | np.ndarray, blobs: Sequence[bytes]) -> SketchMatrix:
    """Merge serialised sketches into one :class:`SketchMatrix` row per group, vectorised.

    The query-time path for summaries stored one sketch per row (e.g. site × device ×
    month): tens of thousands of blobs are decoded with a handful of numpy operations
    instead of a Python loop per blob.

    Parameters
    ----------
    groups
        The matrix row (0 … n-1) each blob merges into; the matrix has ``max + 1`` rows.
    blobs
        Bytes written by :meth:`DoseSketch.to_bytes`.

    Raises
    ------
    SketchFormatError
        If any blob is malformed.
    """
    group = np.asarray(groups, dtype=np.int64)
    n_groups = int(group.max()) + 1 if group.size else 0
    empty = np.zeros(n_groups, dtype=np.int64)
    if not blobs:
        return SketchMatrix(
            np.arange(n_groups), 0, np.zeros((n_groups, 0), np.int64), empty, empty * 1.0
        )
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    if np.any(lengths < _HEADER.size):
        raise SketchFormatError("sketch too short")
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths
    header = data[starts[:, None] + np.arange(_HEADER.size)].view(_HEADER_DTYPE).ravel()
    if np.any(header["version"] != _FORMAT_VERSION):
        raise SketchFormatError("unknown sketch format version")
    widths = header["width"].astype(np.int64)
    sizes = header["size"].astype(np.int64)
    if not np.all(np.isin(widths, list(_WIDTHS))) or np.any(
        lengths != _HEADER.size + sizes * widths
    ):
        raise SketchFormatError("sketch length does not match its bins")
    lows = header["low"].astype(np.int64)
    used = sizes > 0
    base = int(lows[used].min()) if used.any() else 0
    span = int((lows + sizes)[used].max()) - base if used.any() else 0
    matrix = np.zeros(n_groups * span, dtype=np.int64)
    # int32 positions (half the memory traffic of int64): a query's bins fit easily
    if data.size >= 2**31 or n_groups * span >= 2**31:
        raise SketchFormatError("too many sketches to merge at once")
    for width in _WIDTHS:
        rows = np.flatnonzero(used & (widths == width))
        if rows.size == 0:
            continue
        count = sizes[rows]
        first = np.repeat((np.cumsum(count) - count).astype(np.int32), count)
        ramp = np.arange(first.size, dtype=np.int32) - first  # bin index within its sketch
        byte = np.repeat((starts[rows] + _HEADER.size).astype(np.int32), count) + ramp * width
        values = data[byte].astype(np.int64)
        for shift in range(1, width):  # little endian, one byte plane at a time
            values |= data[byte + shift].astype(np.int64) << (8 * shift)
        offset = (group[rows] * span + lows[rows] - base).astype(np.int32)
        cells = np.repeat(offset, count) + ramp
        matrix += np.bincount(cells, weights=values, minlength=matrix.size).astype(np.int64)
    return SketchMatrix(
        np.arange(n_groups),
        base,
        matrix.reshape(n_groups, span),
        np.bincount(group, weights=header["zeros"], minlength=n_groups).astype(np.int64),
        np.bincount(group, weights=header["sum"], minlength=n_groups),
    )


def _decode(data: bytes) -> tuple[int, np.ndarray, int, float, float, float]:
    if len(data) < _HEADER.size:
        raise SketchFormatError(f"sketch too short: {len(data)} bytes")
    version, width, low, size, zeros, total, low_value, high_value = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION:
        raise SketchFormatError(f"unknown sketch format version {version}")
    if width not in _WIDTHS:
        raise SketchFormatError(f"bad count width {width}")
    if len(data) != _HEADER.size + size * width:
        raise SketchFormatError(
            f"sketch length {len(data)} does not match {size} bins of {width} bytes"
        )
    counts = np.frombuffer(data, dtype=_WIDTHS[width], offset=_HEADER.size)
    return low, counts, zeros, total, low_value, high_value


def _bin_values(keys: np.ndarray) -> np.ndarray:
    # the representative value of a bin, exactly as LogarithmicMapping.value computes it
    return np.power(2.0, keys / _MULTIPLIER) * (2.0 / (1.0 + _MAPPING.gamma))


class SketchMatrix:
    """Many sketches over one key range, one row per group, for vectorised queries.

    Row ``i`` holds the bin counts of group ``ids[i]`` for keys ``min_key + j``. Quantiles
    here interpolate between the two ranks around ``q × (n − 1)`` (like DuckDB's
    ``quantile_cont`` or numpy's default), each rank read from its bin within 1 %.
    """

    __slots__ = ("counts", "ids", "min_key", "sums", "zeros")

    def __init__(
        self,
        ids: np.ndarray,
        min_key: int,
        counts: np.ndarray,
        zeros: np.ndarray,
        sums: np.ndarray,
    ) -> None:
        self.ids, self.min_key, self.counts = ids, min_key, counts
        self.zeros, self.sums = zeros, sums

    @classmethod
    def from_sketches(cls, sketches: Mapping[Any, DoseSketch]) -> SketchMatrix:
        """Stack sketches (group id → sketch) into one matrix."""
        ids = np.empty(len(sketches), dtype=object)
        ids[:] = list(sketches)
        parts = [s for s in sketches.values() if s._bins.size]
        low = min((s._min_key for s in parts), default=0)
        high = max((s._min_key + s._bins.size for s in parts), default=0)
        counts = np.zeros((len(sketches), high - low), dtype=np.int64)
        for row, sketch in enumerate(sketches.values()):
            start = sketch._min_key - low
            counts[row, start : start + sketch._bins.size] = sketch._bins
        zeros = np.asarray([s._zero_count for s in sketches.values()], dtype=np.int64)
        sums = np.asarray([s._sum for s in sketches.values()], dtype=np.float64)
        return cls(ids, low, counts, zeros, sums)

    def totals(self) -> np.ndarray:
        """Values per row."""
        return self.counts.sum(axis=1) + self.zeros

    def subset(self, mask: np.ndarray) -> SketchMatrix:
        """Return the rows where ``mask`` is true."""
        return SketchMatrix(
            self.ids[mask], self.min_key, self.counts[mask], self.zeros[mask], self.sums[mask]
        )

    def row(self, group: Any) -> DoseSketch:
        """Return one group's sketch (empty when the group has no row)."""
        found = np.flatnonzero(self.ids == group)
        if found.size == 0:
            return DoseSketch()
        i = int(found[0])
        return DoseSketch.from_bins(
            self.min_key,
            self.counts[i],
            zero_count=int(self.zeros[i]),
            total=float(self.sums[i]),
            min_value=math.nan,
            max_value=math.nan,
        )

    def quantiles(self, q: float) -> np.ndarray:
        """Return the interpolated ``q``-quantile of every row (NaN for empty rows)."""
        return _row_quantiles(self.counts, self.zeros, self.min_key, q)

    def pooled_quantiles(self, qs: Sequence[float]) -> list[float]:
        """Return interpolated quantiles of all rows pooled together."""
        counts = self.counts.sum(axis=0, keepdims=True)
        zeros = np.asarray([self.zeros.sum()])
        return [float(_row_quantiles(counts, zeros, self.min_key, q)[0]) for q in qs]


def _row_quantiles(counts: np.ndarray, zeros: np.ndarray, min_key: int, q: float) -> np.ndarray:
    n = counts.sum(axis=1) + zeros
    rank = q * np.maximum(n - 1, 0)
    cumulative = np.cumsum(counts, axis=1)

    def value_at(r: np.ndarray) -> np.ndarray:
        index = (cumulative <= (r - zeros)[:, None]).sum(axis=1)
        index = np.minimum(index, max(counts.shape[1] - 1, 0))
        return np.where(r < zeros, 0.0, _bin_values(min_key + index))

    low, high = np.floor(rank), np.ceil(rank)
    below, above = value_at(low), value_at(high)
    result = below + (rank - low) * (above - below)
    return np.where(n > 0, result, np.nan)


_BLOCK_HEADER = struct.Struct("<BBI")


def pack_block(sketches: Mapping[int, DoseSketch]) -> bytes:
    """Pack many sketches (integer group id → sketch) into one compact block.

    A block holds e.g. every site's sketch for one exam type and month, so a query reads a
    handful of blocks instead of thousands of rows. Layout: header, then ids (int64), low
    keys (int32), bin counts per sketch (uint32), zero counts (uint32), sums (float64), then
    every sketch's trimmed bins in the narrowest unsigned width that holds them.
    """
    ids = np.fromiter(sketches, dtype=np.int64, count=len(sketches))
    trimmed = [s._trimmed_bins() for s in sketches.values()]
    lows = np.asarray(
        [
            s._min_key + (int(np.argmax(s._bins > 0)) if s._bins.any() else 0)
            for s in sketches.values()
        ],
        dtype=np.int32,
    )
    sizes = np.asarray([t.size for t in trimmed], dtype=np.uint32)
    zeros = np.asarray([s._zero_count for s in sketches.values()], dtype=np.uint32)
    sums = np.asarray([s._sum for s in sketches.values()], dtype=np.float64)
    counts = np.concatenate(trimmed) if trimmed else np.zeros(0, dtype=np.int64)
    top = int(counts.max()) if counts.size else 0
    width = 1 if top < 2**8 else 2 if top < 2**16 else 4
    header = _BLOCK_HEADER.pack(_FORMAT_VERSION, width, ids.size)
    columns = (ids, lows, sizes, zeros, sums, counts.astype(_WIDTHS[width]))
    return header + b"".join(c.tobytes() for c in columns)


def _unpack_block(data: bytes) -> tuple[np.ndarray, ...]:
    if len(data) < _BLOCK_HEADER.size:
        raise SketchFormatError(f"block too short: {len(data)} bytes")
    version, width, n = _BLOCK_HEADER.unpack_from(data)
    if version != _FORMAT_VERSION or width not in _WIDTHS:
        raise SketchFormatError(f"unknown block version {version} or width {width}")
    offset, columns = _BLOCK_HEADER.size, []
    for dtype in (np.int64, np.int32, np.uint32, np.uint32, np.float64):
        size = n * np.dtype(dtype).itemsize
        if len(data) < offset + size:
            raise SketchFormatError("block truncated")
        columns.append(np.frombuffer(data, dtype=dtype, count=n, offset=offset))
        offset += size
    total = int(columns[2].sum())
    if len(data) != offset + total * width:
        raise SketchFormatError("block length does not match its bin counts")
    columns.append(np.frombuffer(data, dtype=_WIDTHS[width], count=total, offset=offset))
    return tuple(columns)


def merge_blocks(blocks: Iterable[bytes]) -> SketchMatrix:
    """Decode blocks and merge them per group id into one :class:`SketchMatrix` (vectorised)."""
    decoded = [_unpack_block(b) for b in blocks]
    if not decoded:
        empty = np.zeros(0, dtype=np.int64)
        return SketchMatrix(empty, 0, np.zeros((0, 0), dtype=np.int64), empty, empty * 1.0)
    ids, lows, sizes, zeros, sums, counts = (np.concatenate(c) for c in zip(*decoded, strict=True))
    groups, row = np.unique(ids, return_inverse=True)
    sizes = sizes.astype(np.int64)
    used = sizes > 0
    base = int(lows[used].min()) if used.any() else 0
    width = int((lows.astype(np.int64) + sizes)[used].max()) - base if used.any() else 0
    starts = np.cumsum(sizes) - sizes
    flat_row = np.repeat(row, sizes)
    position = np.repeat(lows.astype(np.int64) - base - starts, sizes) + np.arange(sizes.sum())
    matrix = np.bincount(
        flat_row * width + position, weights=counts, minlength=groups.size * width
    ).reshape(groups.size, width)
    return SketchMatrix(
        groups,
        base,
        matrix.astype(np.int64),
        np.bincount(row, weights=zeros, minlength=groups.size).astype(np.int64),
        np.bincount(row, weights=sums, minlength=groups.size),
    )


# version, count width, id width, rows, bins, min key
_ROWS_HEADER = struct.Struct("<BBHIIi")


@dataclass(frozen=True, slots=True)
class DenseRows:
    """Sketches as dense rows over one key range (decoded by :func:`unpack_rows`).

    Row ``i`` is the sketch of ``ids[i]`` (opaque fixed-width bytes, e.g. a site's UUID):
    ``counts[i, j]`` values in bin ``min_key + j``, ``zeros[i]`` values at zero.
    """

    ids: np.ndarray  # (rows, id width) uint8
    min_key: int
    counts: np.ndarray  # (rows, bins), unsigned, the narrowest width that held them
    zeros: np.ndarray
    sums: np.ndarray


def pack_rows(ids: np.ndarray, matrix: SketchMatrix) -> bytes:
    """Pack a matrix's rows densely, each under its id (a row of the ``(rows, w)`` uint8
    ``ids``).

    Dense rows over the block's own key range cost some zeros around each row's values,
    but merging blocks is then a matrix addition rather than a scatter of every bin.
    Layout: header, ids, zero counts (uint32), sums (float64), counts row-major in the
    narrowest unsigned width that holds them.
    """
    ids = np.ascontiguousarray(ids, dtype=np.uint8)
    counts = matrix.counts
    if ids.ndim != 2 or len(ids) != len(counts):
        raise ValueError("ids must be one row of bytes per matrix row")
    used = np.flatnonzero(counts.any(axis=0)) if counts.size else np.zeros(0, dtype=np.int64)
    if used.size:
        counts = counts[:, used[0] : used[-1] + 1]
        low = matrix.min_key + int(used[0])
    else:
        counts, low = counts[:, :0], 0
    top = int(counts.max()) if counts.size else 0
    width = 1 if top < 2**8 else 2 if top < 2**16 else 4
    header = _ROWS_HEADER.pack(
        _FORMAT_VERSION, width, ids.shape[1], ids.shape[0], counts.shape[1], low
    )
    return b"".join(
        (
            header,
            ids.tobytes(),
            np.asarray(matrix.zeros, dtype=np.uint32).tobytes(),
            np.asarray(matrix.sums, dtype=np.float64).tobytes(),
            np.ascontiguousarray(counts, dtype=_WIDTHS[width]).tobytes(),
        )
    )


def unpack_rows(data: bytes) -> DenseRows:
    """Decode :func:`pack_rows` without copying (views on ``data``).

    Raises
    ------
    SketchFormatError
        If the bytes are truncated or of an unknown version.
    """
    if len(data) < _ROWS_HEADER.size:
        raise SketchFormatError(f"row block too short: {len(data)} bytes")
    version, width, id_width, rows, bins, low = _ROWS_HEADER.unpack_from(data)
    if version != _FORMAT_VERSION or width not in _WIDTHS:
        raise SketchFormatError(f"unknown row block version {version} or width {width}")
    sizes = (rows * id_width, rows * 4, rows * 8, rows * bins * width)
    if len(data) != _ROWS_HEADER.size + sum(sizes):
        raise SketchFormatError("row block length does not match its header")
    offset = _ROWS_HEADER.size
    ids = np.frombuffer(data, dtype=np.uint8, count=sizes[0], offset=offset)
    offset += sizes[0]
    zeros = np.frombuffer(data, dtype=np.uint32, count=rows, offset=offset)
    offset += sizes[1]
    sums = np.frombuffer(data, dtype=np.float64, count=rows, offset=offset)
    offset += sizes[2]
    counts = np.frombuffer(data, dtype=_WIDTHS[width], count=rows * bins, offset=offset)
    return DenseRows(ids.reshape(rows, id_width), low, counts.reshape(rows, bins), zeros, sums)


@dataclass(frozen=True, slots=True)
class _Part:
    groups: np.ndarray | None  # target row of each row; None: row i is group i
    min_key: int
    counts: np.ndarray
    zeros: np.ndarray
    sums: np.ndarray
    sign: int


class SketchSum:
    """Adds (and subtracts) dense rows of several sources into one row per group.

    Counts are integers, so subtracting rows added before is exact: a query can take a
    month's block and swap the rows of a few groups for their current values.
    """

    __slots__ = ("_parts", "n_groups")

    def __init__(self, n_groups: int) -> None:
        self.n_groups = n_groups
        self._parts: list[_Part] = []

    def add(
        self,
        groups: np.ndarray | None,
        min_key: int,
        counts: np.ndarray,
        zeros: np.ndarray,
        sums: np.ndarray,
        *,
        sign: int = 1,
    ) -> None:
        """Add rows ``counts`` (bins from ``min_key``) to the groups ``groups`` (``None``:
        row ``i`` to group ``i``); ``sign=-1`` subtracts them. Groups may repeat."""
        if groups is not None and groups.size == self.n_groups:
            if np.array_equal(groups, np.arange(self.n_groups)):
                groups = None
        elif groups is None and len(counts) != self.n_groups:
            raise ValueError("rows without groups must be one per group")
        self._parts.append(_Part(groups, min_key, counts, zeros, sums, sign))

    def add_matrix(self, groups: np.ndarray | None, matrix: SketchMatrix, *, sign: int = 1) -> None:
        """Add every row of ``matrix`` (see :meth:`add`)."""
        self.add(groups, matrix.min_key, matrix.counts, matrix.zeros, matrix.sums, sign=sign)

    def matrix(self, ids: np.ndarray) -> SketchMatrix:
        """Return the sums as a :class:`SketchMatrix` whose rows are ``ids``."""
        n = self.n_groups
        spans = [(p.min_key, p.min_key + p.counts.shape[1]) for p in self._parts]
        spans = [s for s, p in zip(spans, self._parts, strict=True) if p.counts.size]
        low = min((a for a, _ in spans), default=0)
        high = max((b for _, b in spans), default=0)
        # int32: half the memory traffic of int64 for the additions, which are the work
        # here; one group's count in one bin stays far below 2**31 (numpy sums and
        # cumulates int32 in int64)
        counts = np.zeros((n, high - low), dtype=np.int32)
        zeros = np.zeros(n, dtype=np.int64)
        sums = np.zeros(n, dtype=np.float64)
        for part in self._parts:
            add = np.add if part.sign > 0 else np.subtract
            if part.groups is None:
                add(zeros, part.zeros, out=zeros, casting="unsafe")
                add(sums, part.sums, out=sums)
            else:
                np.add.at(zeros, part.groups, part.sign * part.zeros.astype(np.int64))
                np.add.at(sums, part.groups, part.sign * part.sums)
            if not part.counts.size:
                continue
            start = part.min_key - low
            columns = slice(start, start + part.counts.shape[1])
            if part.groups is None:
                target = counts[:, columns]
                add(target, part.counts, out=target, casting="unsafe")
                continue
            # fancy-indexed updates are only right when no group repeats: one layer per
            # repeat (e.g. the first device of every site, then the second, ...)
            for layer in _layers(part.groups):
                rows = part.groups[layer]
                counts[rows, columns] = add(counts[rows, columns], part.counts[layer])
        return SketchMatrix(ids, low, counts, zeros, sums)


def _layers(groups: np.ndarray) -> Iterator[np.ndarray]:
    """Yield index arrays over ``groups`` in which no group repeats, covering every index."""
    if groups.size == 0:
        return
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    if first.size == groups.size:
        yield np.arange(groups.size)
        return
    rank = np.arange(groups.size) - np.repeat(first, np.diff(np.r_[first, groups.size]))
    for k in range(int(rank.max()) + 1):
        yield order[rank == k]
