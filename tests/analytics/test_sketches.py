"""Mergeable DDSketch summaries: same answers as ddsketch, compact bytes, exact merges."""

from __future__ import annotations

import numpy as np
import pytest
from ddsketch import DDSketch

from medcoop.analytics.sketches import (
    DoseSketch,
    SketchFormatError,
    merge_all,
    merge_grouped,
)

QS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def _values(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(3.0, 0.7, n)


def test_quantiles_equal_ddsketch_on_the_same_values() -> None:
    values = _values(1, 2_000)
    ours, theirs = DoseSketch(), DDSketch(0.01)
    ours.add_many(values)
    for value in values:
        theirs.add(float(value))
    for q in QS:
        assert ours.quantile(q) == pytest.approx(theirs.get_quantile_value(q), rel=1e-12)
    assert ours.to_ddsketch().get_quantile_value(0.5) == pytest.approx(ours.quantile(0.5))


def test_quantiles_are_within_one_percent_of_exact_order_statistics() -> None:
    values = np.sort(_values(2, 5_001))
    sketch = DoseSketch()
    sketch.add_many(values)
    for q in (0.25, 0.5, 0.75, 0.95):
        exact = values[int(q * (values.size - 1))]  # the rank DDSketch uses
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.0101)
    assert sketch.min == values[0] and sketch.max == values[-1]
    assert sketch.sum == pytest.approx(values.sum())


def test_merge_equals_adding_everything_to_one_sketch() -> None:
    a, b = _values(3, 700), _values(4, 300) * 10
    left, right, both = DoseSketch(), DoseSketch(), DoseSketch()
    left.add_many(a)
    right.add_many(b)
    both.add_many(np.concatenate([a, b]))
    left.merge(right)
    assert left == both
    assert merge_all([DoseSketch(), right]).count == 300


def test_bytes_round_trip_and_stay_compact() -> None:
    sketch = DoseSketch()
    sketch.add_many(np.concatenate([_values(5, 40), [0.0, 0.0]]))
    data = sketch.to_bytes()
    again = DoseSketch.from_bytes(data)
    assert again == sketch
    assert again.count == 42 and again.quantile(0.0) == 0.0
    # 40 studies over a few dozen 2 % wide bins: one byte per bin plus a 36-byte header.
    assert len(data) < 36 + 200


def test_counts_beyond_one_byte_widen_the_encoding() -> None:
    sketch = DoseSketch()
    sketch.add_many(np.full(70_000, 12.0))
    again = DoseSketch.from_bytes(sketch.to_bytes())
    assert again.count == 70_000
    assert again.quantile(0.5) == pytest.approx(12.0, rel=0.01)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x09" + b"\x00" * 40, DoseSketch().to_bytes()[:-1] + b"\x00\x00"],
)
def test_malformed_bytes_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(SketchFormatError):
        DoseSketch.from_bytes(data)


def test_negative_and_missing_values_are_refused_and_nothing_is_added() -> None:
    sketch = DoseSketch()
    sketch.add(5.0)
    for bad in ([1.0, -2.0], [float("nan")], [float("inf")]):
        with pytest.raises(ValueError):
            sketch.add_many(bad)
    assert sketch.count == 1


def test_merge_grouped_matches_merging_sketch_by_sketch() -> None:
    items, expected = [], {"s1": DoseSketch(), "s2": DoseSketch()}
    for month in range(12):
        for site, scale in (("s1", 1.0), ("s2", 3.0)):
            part = DoseSketch()
            part.add_many(_values(100 + month, 30) * scale)
            items.append((site, part.to_bytes()))
            expected[site].merge(part)
    merged = merge_grouped(items)
    assert set(merged) == {"s1", "s2"}
    for site in merged:
        assert merged[site].count == 360
        for q in QS:
            assert merged[site].quantile(q) == expected[site].quantile(q)
        assert merged[site].sum == pytest.approx(expected[site].sum)


def test_bulk_built_sketch_equals_one_built_value_by_value() -> None:
    from medcoop.analytics.sketches import bin_keys

    values = _values(9, 500)
    keys = bin_keys(values)
    counts = np.bincount(keys - keys.min())
    bulk = DoseSketch.from_bins(
        int(keys.min()),
        counts,
        total=float(values.sum()),
        min_value=float(values.min()),
        max_value=float(values.max()),
    )
    one = DoseSketch()
    one.add_many(values)
    assert bulk == one


def test_merge_rows_equals_merging_sketch_by_sketch_in_every_width() -> None:
    from medcoop.analytics.sketches import merge_rows

    rng = np.random.default_rng(7)
    groups, blobs = [], []
    expected = [DoseSketch() for _ in range(5)]
    for i in range(60):
        part = DoseSketch()
        # widths 1, 2 and 4 bytes: up to 300 and 70,000 identical values in one bin
        repeat = {0: 1, 1: 300, 2: 70_000}[i % 3] if i < 6 else 1
        part.add_many(np.repeat(rng.lognormal(5, 1, 20), repeat))
        part.add_many([0.0] * (i % 4))
        groups.append(i % 4)  # row 4 stays empty
        blobs.append(part.to_bytes())
        expected[i % 4].merge(part)
    matrix = merge_rows([*groups, 4], [*blobs, DoseSketch().to_bytes()])
    assert matrix.counts.shape[0] == 5
    for row, sketch in enumerate(expected):
        assert matrix.row(row).same_counts(sketch)
        assert matrix.sums[row] == pytest.approx(sketch.sum)
    assert matrix.totals()[4] == 0
    with pytest.raises(SketchFormatError):
        merge_rows([0], [blobs[0][:-1]])


def test_dense_rows_round_trip_and_sums_add_and_subtract_exactly() -> None:
    from medcoop.analytics.sketches import SketchSum, merge_rows, pack_rows, unpack_rows

    rng = np.random.default_rng(11)
    parts = []
    for i in range(12):
        part = DoseSketch()
        # widths 1, 2 and 4 bytes, and rows far apart on the key axis
        part.add_many(np.repeat(rng.lognormal(3 + i % 3, 0.5, 30), (1, 300, 70_000)[i % 3]))
        part.add_many([0.0] * (i % 2))
        parts.append(part)
    blobs = [p.to_bytes() for p in parts]
    ids = np.arange(12 * 4, dtype=np.uint8).reshape(12, 4)
    rows = unpack_rows(pack_rows(ids, merge_rows(np.arange(12), blobs)))
    assert np.array_equal(rows.ids, ids)
    for i, part in enumerate(parts):
        got = DoseSketch.from_bins(
            rows.min_key,
            rows.counts[i].astype(np.int64),
            zero_count=int(rows.zeros[i]),
            total=float(rows.sums[i]),
            min_value=0.0,
            max_value=0.0,
        )
        assert got.same_counts(part) and got.sum == pytest.approx(part.sum)
    # three groups; rows 0-5 added (groups repeat), then rows 0 and 3 taken away again,
    # plus a matrix of one row per group
    groups = np.asarray([0, 1, 0, 2, 0, 1])
    total = SketchSum(3)
    total.add(groups, rows.min_key, rows.counts[:6], rows.zeros[:6], rows.sums[:6])
    total.add(
        groups[[0, 3]],
        rows.min_key,
        rows.counts[[0, 3]],
        rows.zeros[[0, 3]],
        rows.sums[[0, 3]],
        sign=-1,
    )
    total.add_matrix(None, merge_rows([0, 1, 2], blobs[6:9]))
    result = total.matrix(np.asarray(["a", "b", "c"], dtype=object))
    expected = [DoseSketch() for _ in range(3)]
    for i in (2, 4):
        expected[0].merge(parts[i])
    for i in (1, 5):
        expected[1].merge(parts[i])
    for group, i in enumerate(range(6, 9)):
        expected[group].merge(parts[i])
    for group, sketch in zip("abc", expected, strict=True):
        assert result.row(group).same_counts(sketch)
    with pytest.raises(SketchFormatError):
        unpack_rows(pack_rows(ids, merge_rows(np.arange(12), blobs))[:-1])
