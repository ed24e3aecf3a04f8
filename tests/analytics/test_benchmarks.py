"""k-anonymous peer benchmarks: thresholds, narrowing, complementary suppression, attacks."""

from __future__ import annotations

import numpy as np
import pytest

from medcoop.analytics.benchmarks import (
    CellCounts,
    PrivacyPolicy,
    benchmark_site,
    breakdown,
    narrow_peers,
    suppress_cells,
)
from medcoop.analytics.sketches import (
    DoseSketch,
    SketchFormatError,
    SketchMatrix,
    merge_blocks,
    pack_block,
)

POLICY = PrivacyPolicy(min_studies=10, min_sites=5)


def _sketch(values: list[float]) -> DoseSketch:
    sketch = DoseSketch()
    sketch.add_many(values)
    return sketch


def _pool(medians: dict[str, float], n: int = 12) -> dict[str, DoseSketch]:
    # every site: n identical values, so its median is exactly known (within 1 %)
    return {site: _sketch([m] * n) for site, m in medians.items()}


def test_site_is_compared_with_quartiles_of_its_peers_medians() -> None:
    pool = _pool({"me": 30.0, "a": 10.0, "b": 20.0, "c": 40.0, "d": 50.0, "e": 60.0})
    result = benchmark_site("me", pool, policy=POLICY)
    assert result.peers is not None
    assert result.peers.n_sites == 5 and result.peers.n_studies == 60
    # medians 10, 20, 40, 50, 60 → p25 20, p50 40, p75 50 (linear interpolation), ±1 %
    assert result.peers.site_median_quartiles == pytest.approx((20, 40, 50), rel=0.011)
    assert result.own_median == pytest.approx(30, rel=0.011)
    assert result.percentile_rank == pytest.approx(2 / 5)


def test_too_few_peer_sites_or_studies_hides_the_peer_group() -> None:
    four = _pool({"me": 1.0, "a": 2.0, "b": 3.0, "c": 4.0, "d": 5.0})
    assert benchmark_site("me", four, policy=POLICY).peers is None
    thin = {s: _sketch([1.0]) for s in ("me", "a", "b", "c", "d", "e", "f")}
    hidden = benchmark_site("me", thin, policy=POLICY)
    assert hidden.peers is None and hidden.percentile_rank is None
    assert "suppressed" in hidden.notes[-1]


def test_asking_site_is_never_its_own_peer() -> None:
    pool = _pool({"me": 1000.0, "a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 1.0})
    result = benchmark_site("me", pool, policy=POLICY)
    assert result.peers is not None
    assert result.peers.pooled_quartiles[2] == pytest.approx(1.0, rel=0.011)


def test_narrowing_applies_only_when_both_sides_stay_large_enough() -> None:
    sites = {f"uk{i}": 10.0 + i for i in range(6)} | {f"fr{i}": 50.0 + i for i in range(5)}
    pool = _pool(sites)
    attributes = {s: {"country": s[:2].upper()} for s in sites}
    narrowed, applied, notes = narrow_peers(pool, attributes, {"country": "UK"}, POLICY)
    assert applied == {"country": "UK"} and set(narrowed.ids) == {f"uk{i}" for i in range(6)}
    # drop one French site: the complement would be 4 sites, so the filter is refused
    pool.pop("fr0")
    narrowed, applied, notes = narrow_peers(pool, attributes, {"country": "UK"}, POLICY)
    assert applied == {} and narrowed.ids.size == 10 and "not applied" in notes[0]


def test_difference_attack_on_narrowing_cannot_isolate_a_small_group() -> None:
    """An attacker asks for all peers and for 'country=UK' and subtracts the answers."""
    sites = {f"uk{i}": 10.0 for i in range(8)} | {"lonely-fr": 400.0}
    pool = _pool(sites) | {"attacker": _sketch([5.0] * 20)}
    attributes = {s: {"country": "FR" if s.startswith("lonely") else "UK"} for s in pool}
    wide = benchmark_site("attacker", pool, policy=POLICY)
    narrow = benchmark_site(
        "attacker", pool, policy=POLICY, attributes=attributes, filters={"country": "UK"}
    )
    assert wide.peers is not None and narrow.peers is not None
    # the filter was refused, so both answers describe the same group: the difference is empty
    assert narrow.narrowed_by == {}
    assert narrow.peers == wide.peers
    # and the lonely site's value shows nowhere: quartiles stay at the UK sites' level
    assert max(wide.peers.site_median_quartiles) < 400.0 / 2


def test_complementary_suppression_hides_a_second_cell() -> None:
    cells = {
        "A": CellCounts(500, 20),
        "B": CellCounts(300, 12),
        "C": CellCounts(40, 6),
        "D": CellCounts(4, 1),
    }
    hidden = suppress_cells(cells, POLICY)
    assert hidden == {"C", "D"}
    total = sum(c.n_studies for c in cells.values())
    recovered = total - sum(cells[k].n_studies for k in cells if k not in hidden)
    # the attacker learns only the union of C and D, which meets the thresholds
    assert recovered == 44 and POLICY.allows(CellCounts(44, 7))


def test_when_no_safe_union_exists_everything_is_hidden() -> None:
    cells = {"A": CellCounts(30, 2), "B": CellCounts(5, 1)}
    assert suppress_cells(cells, POLICY) == {"A", "B"}
    assert suppress_cells({"A": CellCounts(30, 6)}, POLICY) == set()


def test_breakdown_attack_total_minus_visible_rows_is_never_one_site() -> None:
    rng = np.random.default_rng(7)
    pool: dict[str, DoseSketch] = {"me": _sketch([10.0] * 12)}
    attributes: dict[str, dict[str, str]] = {}
    layout = {"UK": 9, "FR": 7, "DE": 5, "NL": 1}  # NL: one site, must stay hidden
    for country, n_sites in layout.items():
        for i in range(n_sites):
            site = f"{country}{i}"
            pool[site] = _sketch(list(rng.lognormal(3, 0.3, 15)))
            attributes[site] = {"country": country}
    rows, total = breakdown("me", pool, attributes, "country", policy=POLICY)
    visible = {r.value: r.distribution for r in rows if r.distribution is not None}
    assert "NL" not in visible and total is not None
    # the attacker subtracts the visible rows from the total
    left_sites = total.n_sites - sum(d.n_sites for d in visible.values())
    left_studies = total.n_studies - sum(d.n_studies for d in visible.values())
    assert left_sites >= POLICY.min_sites and left_studies >= POLICY.min_studies
    assert set(visible) == {"UK", "FR"}  # DE hidden as the complement of NL


def test_quartiles_interpolate_like_quantile_cont() -> None:
    # two sites with two values each: exact medians are the midpoints 15 and 150
    pool = {"a": _sketch([10.0, 20.0]), "b": _sketch([100.0, 200.0])}
    medians = SketchMatrix.from_sketches(pool).quantiles(0.5)
    assert medians == pytest.approx([15.0, 150.0], rel=0.011)
    assert np.isnan(SketchMatrix.from_sketches({"e": DoseSketch()}).quantiles(0.5)[0])


def test_block_path_gives_the_same_benchmark_as_sketches() -> None:
    rng = np.random.default_rng(3)
    months: list[dict[int, DoseSketch]] = []
    merged: dict[int, DoseSketch] = {}
    for _ in range(3):
        month = {site: _sketch(list(rng.lognormal(3 + site / 10, 0.4, 8))) for site in range(9)}
        months.append(month)
        for site, sketch in month.items():
            merged.setdefault(site, DoseSketch()).merge(sketch)
    matrix = merge_blocks(pack_block(m) for m in months)
    assert list(matrix.ids) == list(range(9))
    assert matrix.totals().tolist() == [24] * 9
    fast = benchmark_site(4, matrix, policy=POLICY)
    slow = benchmark_site(4, merged, policy=POLICY)
    assert fast.peers is not None and slow.peers is not None
    assert fast.peers.n_studies == slow.peers.n_studies == 192
    assert fast.peers.site_median_quartiles == pytest.approx(slow.peers.site_median_quartiles)
    assert fast.peers.pooled_quartiles == pytest.approx(slow.peers.pooled_quartiles)
    assert fast.own_median == pytest.approx(slow.own_median)


def test_malformed_blocks_are_refused() -> None:
    block = pack_block({1: _sketch([1.0, 2.0])})
    for bad in (b"", block[:-1], b"\x07" + block[1:]):
        with pytest.raises(SketchFormatError):
            merge_blocks([bad])
