"""k-anonymous peer benchmarks: a site's doses against its peers', never exposing one peer.

Inputs are per-site :class:`~medcoop.analytics.sketches.DoseSketch` summaries for one exam
type and metric (already merged over the months asked for). The rules:

- **Thresholds.** A peer group is shown only when it holds at least ``min_studies`` studies
  from at least ``min_sites`` sites (defaults 10 and 5). The asking site is never its own
  peer, so "pool minus me" cannot be formed from the answer.
- **Narrowing** (country, device class, site type) is allowed only when the narrowed group
  *and* its complement within the wider group both meet the thresholds; otherwise
  differencing the wide and the narrow answers would reveal the few sites left out.
- **Tables** (breakdowns with a total) use complementary suppression: once a cell is hidden,
  more cells are hidden until the hidden cells together meet the thresholds, so a hidden
  cell cannot be derived as "total minus the visible cells".
- Peer distributions are reported as quartiles of the per-site medians (ICRP 135: the
  75th percentile is the DRL-like line, the median the achievable-dose-like line) and of
  the pooled studies; never a minimum, a maximum or a single site's value. Quantiles
  interpolate between ranks like DuckDB's ``quantile_cont``, each rank within 1 %.

The work is vectorised over a :class:`~medcoop.analytics.sketches.SketchMatrix` (one row
per site), so a query over thousands of sites stays in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from medcoop.analytics.sketches import DoseSketch, SketchMatrix

__all__ = [
    "BreakdownRow",
    "CellCounts",
    "PeerBenchmark",
    "PeerDistribution",
    "PrivacyPolicy",
    "benchmark_site",
    "breakdown",
    "narrow_peers",
    "suppress_cells",
]

_QUARTILES = (0.25, 0.5, 0.75)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """Thresholds a peer group must meet to be shown (configuration is data)."""

    min_studies: int = 10
    min_sites: int = 5

    def allows(self, counts: CellCounts) -> bool:
        """Return whether a group with these counts may be shown."""
        return counts.n_studies >= self.min_studies and counts.n_sites >= self.min_sites


@dataclass(frozen=True, slots=True)
class CellCounts:
    """How many studies and distinct sites a group (a table cell) holds."""

    n_studies: int
    n_sites: int


@dataclass(frozen=True, slots=True)
class PeerDistribution:
    """What may be shown of a peer group: counts and quartiles, nothing per site."""

    n_sites: int
    n_studies: int
    #: Quartiles (p25, p50, p75) of the per-site medians: p75 is the ICRP 135 DRL-like line.
    site_median_quartiles: tuple[float, float, float]
    #: Quartiles of all pooled studies (from the merged sketch, within 1 % relative error).
    pooled_quartiles: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class PeerBenchmark:
    """One site's position among its peers for one exam type and metric."""

    site_id: str
    own_n_studies: int
    own_median: float | None
    own_p75: float | None
    peers: PeerDistribution | None
    #: Fraction of peer sites whose median is below this site's median (0..1).
    percentile_rank: float | None
    #: Why ``peers`` is ``None``, or why a narrowing asked for was not applied.
    notes: tuple[str, ...] = field(default=())
    narrowed_by: Mapping[str, str] = field(default_factory=dict)


Pool = Mapping[Any, DoseSketch] | SketchMatrix


def _matrix(pool: Pool) -> SketchMatrix:
    return pool if isinstance(pool, SketchMatrix) else SketchMatrix.from_sketches(pool)


def _counts(matrix: SketchMatrix) -> CellCounts:
    totals = matrix.totals()
    return CellCounts(n_studies=int(totals.sum()), n_sites=int((totals > 0).sum()))


def _attribute_mask(
    matrix: SketchMatrix, attributes: Mapping[Any, Mapping[str, str]], name: str, wanted: str
) -> np.ndarray:
    return np.fromiter(
        (attributes.get(site, {}).get(name) == wanted for site in matrix.ids),
        dtype=bool,
        count=matrix.ids.size,
    )


def narrow_peers(
    peers: Pool,
    attributes: Mapping[Any, Mapping[str, str]],
    filters: Mapping[str, str],
    policy: PrivacyPolicy,
) -> tuple[SketchMatrix, dict[str, str], tuple[str, ...]]:
    """Narrow ``peers`` by site attributes, one filter at a time, where privacy allows.

    Parameters
    ----------
    peers
        Site id → sketch (or a matrix of them), the wider peer group (the asking site
        already left out).
    attributes
        Site id → attributes such as ``{"country": "UK", "device_class": "CT-64"}``.
    filters
        Attribute → wanted value.
    policy
        Thresholds both the narrowed group and its complement must meet.

    Returns
    -------
    tuple
        The peer group used, the filters actually applied, and notes on filters refused.
    """
    current = _matrix(peers)
    applied: dict[str, str] = {}
    notes: list[str] = []
    for name, wanted in sorted(filters.items()):
        inside = _attribute_mask(current, attributes, name, wanted)
        narrowed, rest = current.subset(inside), current.subset(~inside)
        if policy.allows(_counts(narrowed)) and policy.allows(_counts(rest)):
            current, applied[name] = narrowed, wanted
        else:
            notes.append(f"{name}={wanted} not applied: too few peers would remain on one side")
    return current, applied, tuple(notes)


def _site_medians(peers: SketchMatrix) -> np.ndarray:
    medians = peers.quantiles(0.5)
    return medians[~np.isnan(medians)]


def _distribution(peers: SketchMatrix) -> PeerDistribution:
    site_q = [float(v) for v in np.quantile(_site_medians(peers), _QUARTILES)]
    pooled_q = peers.pooled_quantiles(_QUARTILES)
    counts = _counts(peers)
    return PeerDistribution(
        n_sites=counts.n_sites,
        n_studies=counts.n_studies,
        site_median_quartiles=(site_q[0], site_q[1], site_q[2]),
        pooled_quartiles=(pooled_q[0], pooled_q[1], pooled_q[2]),
    )


def _peers_of(site_id: Any, pool: SketchMatrix) -> SketchMatrix:
    return pool.subset((pool.ids != site_id) & (pool.totals() > 0))


def benchmark_site(
    site_id: Any,
    per_site: Pool,
    *,
    policy: PrivacyPolicy | None = None,
    attributes: Mapping[Any, Mapping[str, str]] | None = None,
    filters: Mapping[str, str] | None = None,
) -> PeerBenchmark:
    """Compare ``site_id``'s distribution with its peers' for one exam type and metric.

    Parameters
    ----------
    site_id
        The asking site; it is left out of its own peer group.
    per_site
        Site id → sketch of the metric (one exam type, the period asked for), or a
        :class:`~medcoop.analytics.sketches.SketchMatrix` of them (the fast path).
    policy
        Privacy thresholds (default: 10 studies from 5 sites).
    attributes, filters
        Optional narrowing of peers (see :func:`narrow_peers`).
    """
    policy = policy or PrivacyPolicy()
    pool = _matrix(per_site)
    own = pool.subset(pool.ids == site_id)
    own_n = int(own.totals().sum())
    own_median = float(own.quantiles(0.5)[0]) if own_n else None
    own_p75 = float(own.quantiles(0.75)[0]) if own_n else None
    peers = _peers_of(site_id, pool)
    notes: list[str] = []
    applied: dict[str, str] = {}
    if filters:
        peers, applied, refused = narrow_peers(peers, attributes or {}, filters, policy)
        notes.extend(refused)
    if not policy.allows(_counts(peers)):
        notes.append(
            f"peer group suppressed: fewer than {policy.min_studies} studies "
            f"or {policy.min_sites} sites"
        )
        return PeerBenchmark(
            str(site_id), own_n, own_median, own_p75, None, None, tuple(notes), applied
        )
    rank = None
    if own_median is not None:
        rank = float(np.mean(_site_medians(peers) < own_median))
    return PeerBenchmark(
        site_id=str(site_id),
        own_n_studies=own_n,
        own_median=own_median,
        own_p75=own_p75,
        peers=_distribution(peers),
        percentile_rank=rank,
        notes=tuple(notes),
        narrowed_by=applied,
    )


def suppress_cells(
    cells: Mapping[K, CellCounts],
    policy: PrivacyPolicy,
    *,
    union: Callable[[list[K]], CellCounts] | None = None,
) -> set[K]:
    """Return the cells of a one-dimensional table (shown with its total) to hide.

    Primary suppression hides every cell below the thresholds. Complementary suppression
    then hides the next smallest visible cells until the hidden cells *together* meet the
    thresholds, so "total minus the visible cells" describes a group that is itself safe
    to show. When that cannot be reached, every cell is hidden.

    Parameters
    ----------
    cells
        Cell key → its counts.
    policy
        Thresholds.
    union
        Counts of a set of cells taken together. Needed for the site count when one site
        can contribute to several cells; the default adds studies and sites, which is
        right when each site falls in exactly one cell (e.g. a breakdown by country).
    """

    def combined(keys: list[K]) -> CellCounts:
        if union is not None:
            return union(keys)
        return CellCounts(
            n_studies=sum(cells[k].n_studies for k in keys),
            n_sites=sum(cells[k].n_sites for k in keys),
        )

    hidden = [k for k, c in cells.items() if not policy.allows(c)]
    if not hidden:
        return set()
    visible = sorted(
        (k for k in cells if k not in hidden),
        key=lambda k: (cells[k].n_studies, cells[k].n_sites, str(k)),
    )
    while not policy.allows(combined(hidden)) and visible:
        hidden.append(visible.pop(0))
    return set(cells) if not policy.allows(combined(hidden)) else set(hidden)


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """One row of a peer breakdown; ``distribution`` is ``None`` when the row is hidden."""

    value: str
    distribution: PeerDistribution | None


def breakdown(
    site_id: Any,
    per_site: Pool,
    attributes: Mapping[Any, Mapping[str, str]],
    dimension: str,
    *,
    policy: PrivacyPolicy | None = None,
) -> tuple[list[BreakdownRow], PeerDistribution | None]:
    """Break the peers of ``site_id`` down by one site attribute, with a total row.

    Hidden rows (primary and complementary, see :func:`suppress_cells`) show no counts and
    no quartiles; the total is shown only when the whole peer group meets the thresholds.
    """
    policy = policy or PrivacyPolicy()
    peers = _peers_of(site_id, _matrix(per_site))
    values = np.asarray(
        [attributes.get(site, {}).get(dimension, "unknown") for site in peers.ids], dtype=object
    )
    groups = {str(v): peers.subset(values == v) for v in sorted(set(values.tolist()))}
    hidden = suppress_cells({v: _counts(g) for v, g in groups.items()}, policy)
    rows = [
        BreakdownRow(value, None if value in hidden else _distribution(group))
        for value, group in groups.items()
    ]
    total = _distribution(peers) if policy.allows(_counts(peers)) else None
    return rows, total
