"""Peer-benchmark query latency: DDSketch summaries in SQLite vs DuckDB exact on Parquet.

Bulk-loads N synthetic CT studies (site, protocol, month, DLP) into per site × protocol ×
month DDSketch summaries, packed one block per protocol × month (every site's sketch in one
row) and stored in SQLite (the hub's embedded store), writes the same rows
to Parquet, then answers the same random peer-benchmark queries both ways:

- medcoop: read the 12 blocks of one protocol's last 12 months, merge them per site, and run
  ``analytics.benchmarks.benchmark_site`` (k-anonymity included);
- DuckDB: exact ``median`` per site and ``quantile_cont`` across sites and pooled studies,
  straight from Parquet (``SET threads=2``), as ``/work/shared/reference/analytics-bench``
  does.

Each side runs in its own child process so its peak RSS is its own. The synthetic pool is
realistic rather than uniform: 2,000 sites of lognormal volume, each running 40 of 300
protocols with skewed popularity, over 24 months.

Usage::

    python bench/benchmarks.py --studies 40000000          # the seed figure
    python bench/benchmarks.py --studies 1000000 --queries 100

``--hub-cells`` times the hub's own path instead: ``analytics_dose.peer_benchmark`` over a
hub database whose ``analytics_dose_summaries`` table holds one cell per site × device ×
exam type × metric × month (the layout ingest keeps up to date), for ``--sites`` sites
with ``--devices`` devices each over 12 months, the values of every cell also written
to Parquet for DuckDB. In one child process it times the cells-only path, compacts the
eleven closed months into pooled blocks (the current month is being written, and 10
sites get late reports in the last closed month), then times the block path through the
service (plain and device-class narrowed) and through the HTTP endpoint; DuckDB answers
the same queries exactly in another::

    python bench/benchmarks.py --hub-cells --sites 2000 --devices 2 --queries 50 \
        --duckdb-queries 10
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

from medcoop.analytics.benchmarks import PrivacyPolicy, benchmark_site
from medcoop.analytics.sketches import DoseSketch, bin_keys, merge_blocks, pack_block

PROTOCOLS_PER_SITE = 40
WINDOW_MONTHS = 12


def generate(n: int, sites: int, protocols: int, months: int, seed: int) -> dict[str, np.ndarray]:
    """Return the synthetic study rows as column arrays."""
    rng = np.random.default_rng(seed)
    volume = rng.lognormal(0.0, 1.0, sites)
    site = rng.choice(sites, size=n, p=volume / volume.sum()).astype(np.int32)
    popularity = 1.0 / np.arange(1, protocols + 1)
    menu = np.stack(
        [
            rng.choice(
                protocols, PROTOCOLS_PER_SITE, replace=False, p=popularity / popularity.sum()
            )
            for _ in range(sites)
        ]
    ).astype(np.int16)
    slot = (PROTOCOLS_PER_SITE * rng.random(n) ** 2).astype(np.int64)  # skew within a site
    protocol = menu[site, slot]
    month = rng.integers(0, months, n, dtype=np.int16)
    base = rng.lognormal(np.log(400), 0.6, protocols)
    site_factor = rng.lognormal(0.0, 0.25, sites)
    dlp = (base[protocol] * site_factor[site] * rng.lognormal(0.0, 0.3, n)).astype(np.float32)
    return {"site_id": site, "protocol_id": protocol, "month": month, "dlp_mgycm": dlp}


def build_summaries(
    rows: dict[str, np.ndarray], db: Path, sites: int, months: int, chunks: int = 10
) -> int:
    """Group rows into site × protocol × month sketches and store them; return the cell count."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(
        "CREATE TABLE summary (protocol_id INTEGER, month INTEGER, block BLOB, "
        "PRIMARY KEY (protocol_id, month)) WITHOUT ROWID"
    )
    protocol = rows["protocol_id"]
    edges = np.linspace(0, int(protocol.max()) + 1, chunks + 1).astype(int)
    cells = 0
    for low, high in pairwise(edges):
        mask = (protocol >= low) & (protocol < high)
        values = rows["dlp_mgycm"][mask].astype(np.float64)
        cell = (protocol[mask].astype(np.int64) * months + rows["month"][mask]) * sites + rows[
            "site_id"
        ][mask]
        order = np.argsort(cell, kind="stable")
        cell, values = cell[order], values[order]
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        keys = bin_keys(values)
        blocks: dict[tuple[int, int], dict[int, DoseSketch]] = {}
        for begin, end in zip(starts, np.r_[starts[1:], cell.size], strict=True):
            k = keys[begin:end]
            low_key = int(k.min())
            part = values[begin:end]
            code = int(cell[begin])
            block = blocks.setdefault((code // (months * sites), code // sites % months), {})
            block[code % sites] = DoseSketch.from_bins(
                low_key,
                np.bincount(k - low_key),
                total=float(part.sum()),
                min_value=float(part.min()),
                max_value=float(part.max()),
            )
            cells += 1
        con.executemany(
            "INSERT INTO summary VALUES (?, ?, ?)",
            ((p, m, pack_block(block)) for (p, m), block in blocks.items()),
        )
        con.commit()
        print(f"  protocols {low}-{high - 1}: {cells:,} cells so far", flush=True)
    con.close()
    return cells


def write_parquet(rows: dict[str, np.ndarray], path: Path) -> None:
    """Write the same rows to Parquet (1 M-row row groups, as the reference script does)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(rows), path, row_group_size=1_000_000)


def make_queries(rows: dict[str, np.ndarray], k: int, months: int, seed: int) -> list[list[int]]:
    """Pick ``k`` (asking site, protocol, first month) queries from real rows."""
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, rows["site_id"].size, k)
    first = rng.integers(0, max(1, months - WINDOW_MONTHS + 1), k)
    return [
        [int(rows["site_id"][i]), int(rows["protocol_id"][i]), int(m)]
        for i, m in zip(picks, first, strict=True)
    ]


def query_sketches(db: Path, queries: list[list[int]]) -> dict[str, object]:
    """Answer queries from the summaries (child process)."""
    con = sqlite3.connect(db)
    policy = PrivacyPolicy()
    latencies, answers = [], []
    for site, protocol, first in queries:
        started = time.perf_counter()
        found = con.execute(
            "SELECT block FROM summary WHERE protocol_id = ? AND month BETWEEN ? AND ?",
            (protocol, first, first + WINDOW_MONTHS - 1),
        ).fetchall()
        per_site = merge_blocks(blob for (blob,) in found)
        result = benchmark_site(site, per_site, policy=policy)
        latencies.append(time.perf_counter() - started)
        peers = result.peers
        answers.append(
            None
            if peers is None
            else [
                peers.n_sites,
                peers.n_studies,
                *peers.site_median_quartiles,
                *peers.pooled_quartiles,
            ]
        )
    return {"latencies_s": latencies, "answers": answers}


def query_duckdb(parquet: Path, queries: list[list[int]]) -> dict[str, object]:
    """Answer queries exactly with DuckDB from Parquet (child process)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=2")
    con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{parquet}')")
    sql = """
        WITH f AS (SELECT site_id, dlp_mgycm FROM d
                   WHERE protocol_id = $p AND month BETWEEN $a AND $b AND site_id <> $s),
             s AS (SELECT site_id, median(dlp_mgycm) AS m FROM f GROUP BY site_id)
        SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM f),
               (SELECT quantile_cont(m, [0.25, 0.5, 0.75]) FROM s),
               (SELECT quantile_cont(dlp_mgycm, [0.25, 0.5, 0.75]) FROM f)
    """
    latencies, answers = [], []
    for site, protocol, first in queries:
        started = time.perf_counter()
        n_sites, n_studies, site_q, pooled_q = con.execute(
            sql, {"p": protocol, "a": first, "b": first + WINDOW_MONTHS - 1, "s": site}
        ).fetchone()
        latencies.append(time.perf_counter() - started)
        answers.append([n_sites, n_studies, *(site_q or [None] * 3), *(pooled_q or [None] * 3)])
    return {"latencies_s": latencies, "answers": answers}


def _peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over exec
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, source: str, queries_file: str, out_file: str) -> None:
    if kind == "hub":
        Path(out_file).write_text(json.dumps(hub_queries(Path(source))))
        return
    if kind == "hub-duckdb":
        Path(out_file).write_text(json.dumps(hub_duckdb(Path(source), int(queries_file))))
        return
    queries = json.loads(Path(queries_file).read_text())
    run = query_sketches if kind == "sketch" else query_duckdb
    result = run(Path(source), queries)
    result["peak_rss_mb"] = _peak_rss_mb()
    Path(out_file).write_text(json.dumps(result))


def _run_child(kind: str, source: Path, queries: Path, out: Path) -> dict[str, object]:
    subprocess.run(
        [sys.executable, __file__, "_child", kind, str(source), str(queries), str(out)],
        check=True,
    )
    return json.loads(out.read_text())


def _pct(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) * 1000


def _accuracy(ours: list[object], exact: list[object]) -> dict[str, float]:
    errors: dict[str, list[float]] = {
        "site_median_p50": [],
        "site_median_p75": [],
        "pooled_p50": [],
    }
    for a, b in zip(ours, exact, strict=False):
        if a is None or b is None or b[3] is None:
            continue
        errors["site_median_p50"].append(abs(a[3] / b[3] - 1))
        errors["site_median_p75"].append(abs(a[4] / b[4] - 1))
        errors["pooled_p50"].append(abs(a[6] / b[6] - 1))
    return {k: round(max(v) * 100, 2) if v else float("nan") for k, v in errors.items()}


HUB_MONTHS = [202501 + m for m in range(WINDOW_MONTHS)]  # the last one is "current"


def hub_build(args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Build the hub database (cells) and the same studies as Parquet; write the job file.

    Every cell's values are drawn (lognormal around its site's median), summarised into
    the cell's sketch and written to Parquet, so DuckDB answers from the very values the
    sketches hold.
    """
    import uuid
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import insert

    from medcoop.hub.db import migrate
    from medcoop.hub.db.analytics_models import DoseSummary
    from medcoop.hub.db.engine import make_engine, make_session_factory
    from medcoop.hub.db.models import Device, Organisation, Role, Site, TokenKind
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts
    from medcoop.hub.settings import HubSettings

    rng = np.random.default_rng(args.seed)
    for old in work.glob("hub.db*"):
        old.unlink()
    url = args.hub_db or f"sqlite:///{work / 'hub.db'}"
    engine = make_engine(HubSettings(database_url=url))
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    n_sites, n_devices, n_months = args.sites, args.devices, len(HUB_MONTHS)
    n_cells = n_sites * n_devices * n_months
    per_cell = max(1, args.studies // n_cells)
    org = uuid.uuid4()
    sites = [uuid.uuid4() for _ in range(n_sites)]
    devices = [[uuid.uuid4() for _ in range(n_devices)] for _ in range(n_sites)]
    medians = rng.lognormal(6.5, 0.3, n_sites)  # DLP, mGy·cm: sites differ
    sizes = rng.poisson(per_cell, n_cells) + 1  # cells in (site, device, month) order
    stamped = datetime.now(UTC) - timedelta(days=1)  # written yesterday
    started = time.perf_counter()
    writer = pq.ParquetWriter(
        work / "studies.parquet",
        pa.schema(
            [
                ("site_id", pa.int16()),
                # one exam type and metric: every row is "protocol" 0, for query_duckdb
                ("protocol_id", pa.int16()),
                ("month", pa.int16()),
                ("dlp_mgycm", pa.float32()),
            ]
        ),
    )
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(insert(Organisation), [{"id": org, "name": f"bench-{org}"}])
        session.execute(
            insert(Site), [{"org_id": org, "id": s, "name": f"site {s}"} for s in sites]
        )
        session.execute(
            insert(Device),
            [
                {
                    "org_id": org,
                    "id": device,
                    "site_id": site,
                    "device_key": f"{device}",
                    "modality": "CT",
                    # half the fleet in each class, for device-class narrowing
                    "device_class": "CT-a" if d % 2 == 0 else "CT-b",
                }
                for site, ids in zip(sites, devices, strict=True)
                for d, device in enumerate(ids)
            ],
        )
        user = accounts.create_user(session, "bench@example.org")
        accounts.add_membership(session, org, user.id, Role.MEDICAL_PHYSICIST)
        _token, secret = accounts.issue_token(
            session, TokenKind.PERSONAL, org, user_id=user.id, ttl_s=86400
        )
        chunk = n_devices * n_months * 50  # 50 sites at a time
        for first in range(0, n_cells, chunk):
            cells = np.arange(first, min(first + chunk, n_cells))
            counts = sizes[cells]
            site_of = np.repeat(cells // (n_devices * n_months), counts)
            month_of = np.repeat(cells % n_months, counts)
            values = (medians[site_of] * rng.lognormal(0.0, 0.4, counts.sum())).astype(np.float32)
            writer.write_table(
                pa.table(
                    {
                        "site_id": site_of.astype(np.int16),
                        "protocol_id": np.zeros(site_of.size, dtype=np.int16),
                        "month": month_of.astype(np.int16),
                        "dlp_mgycm": values,
                    }
                )
            )
            exact = values.astype(np.float64)
            keys = bin_keys(exact)
            rows = []
            for cell, end in zip(cells.tolist(), np.cumsum(counts).tolist(), strict=True):
                begin = end - int(sizes[cell])
                k, part = keys[begin:end], exact[begin:end]
                low = int(k.min())
                sketch = DoseSketch.from_bins(
                    low,
                    np.bincount(k - low),
                    total=float(part.sum()),
                    min_value=float(part.min()),
                    max_value=float(part.max()),
                )
                site = cell // (n_devices * n_months)
                rows.append(
                    {
                        "org_id": org,
                        "site_id": sites[site],
                        "device_id": devices[site][cell // n_months % n_devices],
                        "exam_type": "ct_head",
                        "metric": "dlp",
                        "month": HUB_MONTHS[cell % n_months],
                        "n_studies": sketch.count,
                        "sketch": sketch.to_bytes(),
                        "updated_at": stamped,
                    }
                )
            session.execute(insert(DoseSummary), rows)
        session.commit()
    writer.close()
    engine.dispose()
    picks = rng.choice(n_sites, size=args.queries)
    job = {
        "url": url,
        "org": str(org),
        "token": secret,
        "sites": [str(s) for s in sites],
        "asking": [int(i) for i in picks],
        "late_sites": [int(i) for i in rng.choice(n_sites, size=10, replace=False)],
    }
    (work / "job.json").write_text(json.dumps(job))
    return {
        "hub_cells": n_cells,
        "studies": int(sizes.sum()),
        "studies_per_cell": per_cell,
        "build_s": round(time.perf_counter() - started, 1),
    }


def hub_queries(work: Path) -> dict[str, object]:
    """Time the hub's peer benchmark (child process): cells only, then blocks, then HTTP."""
    import uuid
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient
    from sqlalchemy import delete, func, select, update

    from medcoop.hub.app import create_app
    from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
    from medcoop.hub.db.engine import make_engine, make_session_factory
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services.analytics import peer_benchmark, summaries
    from medcoop.hub.settings import HubSettings

    job = json.loads((work / "job.json").read_text())
    settings = HubSettings(database_url=job["url"])
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    org = uuid.UUID(job["org"])
    sites = [uuid.UUID(s) for s in job["sites"]]
    period = {
        "from_at": datetime(2025, 1, 1, tzinfo=UTC),
        "to_at": datetime(2026, 1, 1, tzinfo=UTC),
    }

    def run(asking: list[int], **options: object) -> tuple[list[float], list[object]]:
        latencies, answers = [], []
        for index in asking:
            with factory() as mine, factory() as pool:
                scope_session(mine, org)
                started = time.perf_counter()
                result = peer_benchmark(
                    mine,
                    pool,
                    sites[index],
                    exam_type="ct_head",
                    metric="dlp",
                    **period,
                    **options,  # type: ignore[arg-type]
                )
                latencies.append(time.perf_counter() - started)
            answers.append(result)
        return latencies, answers

    def pct(latencies: list[float]) -> dict[str, float]:
        return {"p50": round(_pct(latencies, 0.5), 1), "p95": round(_pct(latencies, 0.95), 1)}

    asking = job["asking"]
    report: dict[str, object] = {}
    cells_lat, cells_answers = run(asking, use_blocks=False)
    report["cells_only_ms"] = pct(cells_lat)
    # Steady state: a periodic task (or earlier queries) compacted all twelve months;
    # since then ingest wrote the current month's cells of a fifth of the sites (40 M
    # studies a year is ~2.3 per site and hour: a fifth of the sites in 5 minutes) and
    # late reports reached 10 sites' cells of the last closed month.
    now = datetime.now(UTC)
    rng = np.random.default_rng(len(sites))
    active = [sites[i] for i in rng.choice(len(sites), size=len(sites) // 5, replace=False)]
    late = [sites[i] for i in job["late_sites"]]
    month = DoseSummary.month
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        started = time.perf_counter()
        summaries.compact(session, "ct_head", "dlp", HUB_MONTHS)
        report["compact_12_months_s"] = round(time.perf_counter() - started, 2)
        for when, which in ((HUB_MONTHS[-1], active), (HUB_MONTHS[-2], late)):
            stamp = update(DoseSummary).where(month == when, DoseSummary.site_id.in_(which))
            session.execute(stamp.values(updated_at=now))
        session.commit()
        stored = session.execute(
            select(
                func.count(),
                func.sum(func.length(DoseBlock.sites)),
                func.sum(func.length(DoseBlock.devices)),
            )
        ).one()
        report["blocks"] = {
            "count": stored[0],
            "site_rows_mb": round(stored[1] / 1e6, 1),
            "device_rows_mb": round(stored[2] / 1e6, 1),
        }
        pooled = summaries.read_pooled(session, "ct_head", "dlp", (HUB_MONTHS[0], HUB_MONTHS[-1]))
        report["read_per_query"] = {
            "blocks": pooled.blocks_read,
            "cells": pooled.cells_read,
            "stale_months": list(pooled.stale),
        }
    summaries.drop_block_cache()  # the first query after compaction reads the blocks
    report["first_query_cold_cache_ms"] = round(run(asking[:1])[0][0] * 1000, 1)
    blocks_lat, blocks_answers = run(asking)
    report["blocks_ms"] = pct(blocks_lat)
    report["blocks_equal_cells"] = sum(
        a == b for a, b in zip(blocks_answers, cells_answers, strict=True)
    )
    narrow = {"filters": {"device_class": "CT-a"}}
    half = asking[: max(1, len(asking) // 2)]
    class_cells, class_cells_answers = run(half, use_blocks=False, **narrow)
    class_lat, class_answers = run(half, **narrow)
    report["device_class_cells_only_ms"] = pct(class_cells)
    report["device_class_blocks_ms"] = pct(class_lat)
    report["device_class_equal_cells"] = sum(
        a == b for a, b in zip(class_answers, class_cells_answers, strict=True)
    )
    app = create_app(settings)
    http_lat = []
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {job['token']}"}
        for index in asking:
            params = {
                "site_id": str(sites[index]),
                "exam_type": "ct_head",
                "metric": "dlp",
                "study_from_at": "2025-01-01T00:00:00Z",
                "study_to_at": "2026-01-01T00:00:00Z",
            }
            started = time.perf_counter()
            answer = client.get("/api/v1/analytics/benchmark", params=params, headers=headers)
            http_lat.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    report["http_blocks_ms"] = pct(http_lat)
    app.state.engine.dispose()
    # Worst case: every site wrote its current-month cells within the margin and that
    # month has no block yet (its 4,000 cells are read and merged on every query)
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(update(DoseSummary).where(month == HUB_MONTHS[-1]).values(updated_at=now))
        session.execute(delete(DoseBlock).where(DoseBlock.month == HUB_MONTHS[-1]))
        session.commit()
        pooled = summaries.read_pooled(session, "ct_head", "dlp", (HUB_MONTHS[0], HUB_MONTHS[-1]))
        report["worst_read_per_query"] = {"blocks": pooled.blocks_read, "cells": pooled.cells_read}
    worst_lat, worst_answers = run(asking)
    report["worst_blocks_ms"] = pct(worst_lat)
    report["worst_equal_cells"] = sum(
        a == b for a, b in zip(worst_answers, cells_answers, strict=True)
    )
    engine.dispose()
    report["answers"] = [
        None
        if a.peers is None
        else [
            a.peers.n_sites,
            a.peers.n_studies,
            *a.peers.site_median_quartiles,
            *a.peers.pooled_quartiles,
        ]
        for a in blocks_answers
    ]
    report["latencies_s"] = blocks_lat
    report["peak_rss_mb"] = _peak_rss_mb()
    return report


def hub_duckdb(work: Path, duck_queries: int) -> dict[str, object]:
    """The same queries, exact, with DuckDB on the Parquet of the same values (child)."""
    job = json.loads((work / "job.json").read_text())
    # one exam type and metric in the hub's pool: every row is "protocol" 0, and months
    # 0-11 are the whole window (every row), the asking site left out
    queries = [[site, 0, 0] for site in job["asking"][:duck_queries]]
    result = query_duckdb(work / "studies.parquet", queries)
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def hub_cells(args: argparse.Namespace) -> dict[str, object]:
    """Build, then time the hub's path and DuckDB's in their own processes; compare."""
    work = args.workdir / f"hub-n{args.studies}-s{args.sites}-d{args.devices}"
    work.mkdir(parents=True, exist_ok=True)
    report = hub_build(args, work)
    ours = _run_child("hub", work, work, work / "hub.json")
    exact = _run_child("hub-duckdb", work, Path(str(args.duckdb_queries)), work / "duck.json")
    ours.pop("latencies_s")
    duck_lat = exact["latencies_s"]
    answers = ours.pop("answers")
    report.update(ours)
    report["duckdb_ms"] = {
        "p50": round(_pct(duck_lat, 0.5), 1),
        "p95": round(_pct(duck_lat, 0.95), 1),
    }
    report["duckdb_peak_rss_mb"] = round(exact["peak_rss_mb"])
    report["peak_rss_mb"] = round(ours["peak_rss_mb"])
    blocks, cells = report["blocks_ms"], report["cells_only_ms"]
    report["ratios"] = {
        "blocks_p50_vs_duckdb": f"{statistics.median(duck_lat) * 1000 / blocks['p50']:.0f}x faster",
        "blocks_p95_vs_duckdb": f"{report['duckdb_ms']['p95'] / blocks['p95']:.0f}x faster",
        "blocks_p50_vs_cells": f"{cells['p50'] / blocks['p50']:.1f}x faster",
    }
    report["max_rel_error_pct_vs_exact"] = _accuracy(answers, exact["answers"])
    return report


def main() -> None:
    """Run the whole benchmark and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=40_000_000)
    parser.add_argument("--sites", type=int, default=2_000)
    parser.add_argument("--protocols", type=int, default=300)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--duckdb-queries", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/analytics"))
    parser.add_argument("--hub-cells", action="store_true", help="time the hub's own path")
    parser.add_argument("--devices", type=int, default=2, help="--hub-cells: devices per site")
    parser.add_argument("--hub-db", help="--hub-cells: database URL (default: temporary SQLite)")
    args = parser.parse_args()
    if args.hub_cells:
        print(json.dumps(hub_cells(args), indent=2))
        return
    work = args.workdir / f"n{args.studies}"
    work.mkdir(parents=True, exist_ok=True)
    db, parquet = work / "summaries.sqlite", work / "studies.parquet"
    report: dict[str, object] = {
        "studies": args.studies,
        "sites": args.sites,
        "protocols": args.protocols,
        "months": args.months,
    }
    started = time.perf_counter()
    rows = generate(args.studies, args.sites, args.protocols, args.months, args.seed)
    report["generate_s"] = round(time.perf_counter() - started, 1)
    if not db.exists():
        started = time.perf_counter()
        report["cells"] = build_summaries(rows, db, args.sites, args.months)
        elapsed = time.perf_counter() - started
        report["summaries_build_s"] = round(elapsed, 1)
        report["summaries_studies_per_s"] = round(args.studies / elapsed)
    report["summaries_db_mb"] = round(db.stat().st_size / 1e6, 1)
    if not parquet.exists():
        write_parquet(rows, parquet)
    report["parquet_mb"] = round(parquet.stat().st_size / 1e6, 1)
    queries = make_queries(rows, args.queries, args.months, args.seed)
    del rows
    queries_file = work / "queries.json"
    queries_file.write_text(json.dumps(queries))
    ours = _run_child("sketch", db, queries_file, work / "sketch.json")
    duck_queries = work / "queries_duckdb.json"
    duck_queries.write_text(json.dumps(queries[: args.duckdb_queries]))
    exact = _run_child("duckdb", parquet, duck_queries, work / "duckdb.json")
    ours_lat, duck_lat = ours["latencies_s"], exact["latencies_s"]
    report["medcoop_ms"] = {
        "p50": round(_pct(ours_lat, 0.5), 1),
        "p95": round(_pct(ours_lat, 0.95), 1),
    }
    report["duckdb_ms"] = {
        "p50": round(_pct(duck_lat, 0.5), 1),
        "p95": round(_pct(duck_lat, 0.95), 1),
    }
    report["p50_speedup_vs_duckdb"] = round(
        statistics.median(duck_lat) / statistics.median(ours_lat), 1
    )
    report["medcoop_peak_rss_mb"] = round(ours["peak_rss_mb"])
    report["duckdb_peak_rss_mb"] = round(exact["peak_rss_mb"])
    report["suppressed_queries"] = sum(a is None for a in ours["answers"])
    report["max_rel_error_pct_vs_exact"] = _accuracy(ours["answers"], exact["answers"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _child(*sys.argv[2:6])
    else:
        main()
