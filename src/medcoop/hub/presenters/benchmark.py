"""Peer benchmarks: a site's median against its peers' (k-anonymous counts and quartiles).

:func:`benchmark_out` builds the API's answer; :func:`benchmark_view` the table of one
answer and :func:`benchmarks_view` one row per answer (the demo's and dashboard's summary).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from medcoop.analytics.benchmarks import PeerBenchmark
from medcoop.output import DASH, Column, View, percent

__all__ = [
    "METRIC_UNITS",
    "PeerBenchmarkOut",
    "PeerDistributionOut",
    "benchmark_out",
    "benchmark_view",
    "benchmarks_view",
]

#: The unit each benchmarked metric is pooled in.
METRIC_UNITS: Mapping[str, str] = {
    "ctdivol": "mGy",
    "dlp": "mGy·cm",
    "dap": "Gy·cm²",
    "ssde": "mGy",
    "agd": "mGy",
}


class PeerDistributionOut(BaseModel):
    """Counts and quartiles of a peer group that met the privacy thresholds."""

    n_sites: int
    n_studies: int
    site_median_quartiles: tuple[float, float, float]
    pooled_quartiles: tuple[float, float, float]


class PeerBenchmarkOut(BaseModel):
    """A site's position among its peers."""

    site_id: str
    exam_type: str
    metric: str
    own_n_studies: int
    own_median: float | None
    own_p75: float | None
    peers: PeerDistributionOut | None
    percentile_rank: float | None
    notes: list[str]
    narrowed_by: dict[str, str]


def benchmark_out(result: PeerBenchmark, *, exam_type: str, metric: str) -> PeerBenchmarkOut:
    """The API's answer for the service's benchmark."""
    peers = result.peers
    return PeerBenchmarkOut(
        site_id=result.site_id,
        exam_type=exam_type,
        metric=metric,
        own_n_studies=result.own_n_studies,
        own_median=result.own_median,
        own_p75=result.own_p75,
        peers=None
        if peers is None
        else PeerDistributionOut(
            n_sites=peers.n_sites,
            n_studies=peers.n_studies,
            site_median_quartiles=peers.site_median_quartiles,
            pooled_quartiles=peers.pooled_quartiles,
        ),
        percentile_rank=result.percentile_rank,
        notes=list(result.notes),
        narrowed_by=dict(result.narrowed_by),
    )


def benchmark_view(answer: Mapping[str, Any], *, site: str) -> View:
    """One benchmark answer (the API's JSON) as a table: this site, peer medians, peer studies."""
    unit = METRIC_UNITS.get(answer["metric"], "")
    records: list[dict[str, Any]] = [
        {
            "group": "this site",
            "n_studies": answer["own_n_studies"],
            "n_sites": 1,
            "p25": None,
            "median": answer["own_median"],
            "p75": answer["own_p75"],
            "unit": unit,
        }
    ]
    peers = answer["peers"]
    if peers is None:
        records.append({"group": "peers (suppressed: too few sites or studies)", "unit": unit})
    else:
        for label, quartiles in (
            ("peer site medians", peers["site_median_quartiles"]),
            ("peer studies", peers["pooled_quartiles"]),
        ):
            p25, median, p75 = quartiles
            records.append(
                {
                    "group": label,
                    "n_studies": peers["n_studies"],
                    "n_sites": peers["n_sites"],
                    "p25": p25,
                    "median": median,
                    "p75": p75,
                    "unit": unit,
                }
            )
    columns = (
        Column("group", ""),
        Column("n_studies", "studies", lambda v: DASH if v is None else str(v), "right"),
        Column("n_sites", "sites", lambda v: DASH if v is None else str(v), "right"),
        Column("p25", "p25", justify="right", unit_key="unit"),
        Column("median", "median", justify="right", unit_key="unit"),
        Column("p75", "p75", justify="right", unit_key="unit"),
        Column("unit", "unit", hidden=True),
    )
    notes = list(answer["notes"])
    if answer["percentile_rank"] is not None:
        notes.append(f"Above {percent(answer['percentile_rank'])} of peer sites' medians.")
    title = f"Peer benchmark: {answer['exam_type']} {answer['metric']}, {site}"
    return View(title, columns, records, tuple(notes))


def benchmarks_view(answers: Sequence[Mapping[str, Any]], *, site: str) -> View:
    """Several benchmark answers, one row each (exam type and metric, site and peers)."""
    records = []
    for answer in answers:
        peers = answer.get("peers")
        quartiles = peers["site_median_quartiles"] if peers else (None, None, None)
        records.append(
            {
                "exam_type": answer["exam_type"],
                "metric": answer["metric"],
                "own_n_studies": answer["own_n_studies"],
                "own_median": answer["own_median"],
                "unit": METRIC_UNITS.get(answer["metric"], ""),
                "peer_sites": peers["n_sites"] if peers else None,
                "peer_studies": peers["n_studies"] if peers else None,
                "peer_p25": quartiles[0],
                "peer_median": quartiles[1],
                "peer_p75": quartiles[2],
                "percentile_rank": answer["percentile_rank"],
            }
        )
    count = lambda v: "suppressed" if v is None else str(v)  # noqa: E731
    columns = (
        Column("exam_type", "exam type"),
        Column("metric", "metric"),
        Column("own_n_studies", "this site: n", justify="right"),
        Column("own_median", "median", justify="right", unit_key="unit"),
        Column("unit", "unit", hidden=True),
        Column("peer_sites", "peer sites", count, "right"),
        Column("peer_studies", "peer studies", lambda v: DASH if v is None else str(v), "right"),
        Column("peer_p25", "peer site medians p25", justify="right", unit_key="unit"),
        Column("peer_median", "p50", justify="right", unit_key="unit"),
        Column("peer_p75", "p75", justify="right", unit_key="unit"),
        Column("percentile_rank", "above peers", percent, "right"),
    )
    title = f"Peer benchmarks for {site} (k-anonymous: ≥ 5 sites, ≥ 10 studies)"
    return View(title, columns, records)
