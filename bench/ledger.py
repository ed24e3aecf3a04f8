"""Benchmark: the ledger's appends/s, proof times at 1 and 10 million entries, tiles served/s.

    python bench/ledger.py --appends 100000 --batch 5000 --sizes 1000000,10000000

* **Appends, directly**: :class:`SqlLedger.append` in batches (accept + sequence + index
  look-up, one sequencing transaction per batch), on SQLite and, when reachable, PostgreSQL.
* **Appends through the API**: a real uvicorn hub; an enrolled edge POSTs batches of consent
  entries to ``/api/v1/ledger/entries`` (SQLite).
* **Proofs at size n**: the tiles of an n-leaf tree are written straight into the database
  (synthetic leaf hashes: a proof reads hash tiles only, so entries would change nothing),
  then inclusion proofs for random leaves and consistency proofs from random sizes are
  generated from the stored tiles (one SELECT each) and verified; the median and p95 are
  reported, generation and verification separately.
* **Tiles served/s**: GETs of random full level-0 tiles from one client over keep-alive.

Figures are wall clock on a shared machine: the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import uvicorn
from sqlalchemy import insert, update

from medcoop.hub.db import migrate
from medcoop.hub.db.engine import make_engine
from medcoop.hub.db.ledger_models import LedgerState, LedgerTile
from medcoop.hub.services.ledger import SqlLedger, load_or_create_log_key
from medcoop.hub.services.ledger.store import _ConnTiles
from medcoop.hub.settings import HubSettings
from medcoop.ledger.checkpoint import Checkpoint, sign_checkpoint
from medcoop.ledger.entries import ConsentEntry, Decision, Period, canonical_json
from medcoop.ledger.merkle import verify_consistency, verify_inclusion
from medcoop.ledger.tiles import TILE_WIDTH, TileKey, append_leaves, root_hash, tile_path

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ORIGIN = "medcoop.bench/ledger"


def _entries(n: int, start: int = 0, site: str = "site-bench") -> list[bytes]:
    return [
        canonical_json(
            ConsentEntry(
                site=site,
                pseudonym=hashlib.sha256(b"%d" % i).hexdigest()[:32],
                pooling=Decision.DENY if i % 7 == 0 else Decision.PERMIT,
                research=Decision.DENY,
                purpose="dose benchmarking",
                period=Period(start="2026-01-01"),
                document_sha256=hashlib.sha256(b"doc%d" % i).hexdigest(),
                recorded_by="registrar-7",
                recorded_at=1_780_000_000 + i,
            )
        )
        for i in range(start, start + n)
    ]


def _ledger(url: str, key: Path, batch_max: int = 20_000) -> SqlLedger:
    engine = make_engine(HubSettings(database_url=url))
    migrate.upgrade(engine)
    return SqlLedger(engine, load_or_create_log_key(key, ORIGIN), batch_max=batch_max)


def bench_direct(url: str, key: Path, total: int, batch: int) -> float:
    ledger = _ledger(url, key)
    entries = _entries(total)
    started = time.perf_counter()
    for i in range(0, total, batch):
        ledger.append(entries[i : i + batch])
    elapsed = time.perf_counter() - started
    assert ledger.size() == total
    ledger.engine.dispose()
    return total / elapsed


class _Hub:
    def __init__(self, folder: Path) -> None:
        from medcoop.hub.app import create_app

        self.settings = HubSettings(
            database_url=f"sqlite:///{folder / 'hub.db'}",
            ledger_origin=ORIGIN,
            ledger_key_path=str(folder / "ledger.key"),
            notifier_enabled=False,
        )
        self.app = create_app(self.settings)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        config = uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def site_token(self) -> tuple[str, str]:
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services import accounts

        with self.app.state.session_factory() as session:
            scope_session(session, ALL_TENANTS)
            provisioned = accounts.provision_site(session, "Bench Health", "Bench", country="GB")
            session.commit()
        body = {"code": provisioned.enrollment_code, "edge_name": "bench"}
        response = httpx.post(self.url + "/api/v1/enroll", json=body)
        response.raise_for_status()
        return str(response.json()["site_token"]), str(provisioned.site_id)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.engine.dispose()


def bench_api(folder: Path, total: int, batch: int, tile_seconds: float) -> tuple[float, float]:
    hub = _Hub(folder)
    try:
        token, site = hub.site_token()
        bodies = [
            {"entries": [e.decode() for e in _entries(min(batch, total - i), i, site)]}
            for i in range(0, total, batch)
        ]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=hub.url, headers=headers, timeout=120) as client:
            started = time.perf_counter()
            for body in bodies:
                client.post("/api/v1/ledger/entries", json=body).raise_for_status()
            appends = total / (time.perf_counter() - started)
            full_tiles = total // TILE_WIDTH
            rng = random.Random(1)
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < tile_seconds:
                path = "/log/" + tile_path(0, rng.randrange(full_tiles))
                client.get(path).raise_for_status()
                count += 1
            tiles = count / (time.perf_counter() - started)
    finally:
        hub.stop()
    return appends, tiles


def _fill_tiles(ledger: SqlLedger, size: int) -> None:
    """Write the hash tiles of a ``size``-leaf tree straight into the database."""
    table = LedgerTile.__table__
    chunk = 1 << 16  # aligned to 256 level-0 tiles, so each chunk is its own subtree
    upper: list[bytes] = []  # roots of full level-0 tiles: the leaves of level 1
    with ledger.engine.begin() as conn:
        for start in range(0, size, chunk):
            n = min(chunk, size - start)
            hashes = [hashlib.sha256(b"\x00%d" % i).digest() for i in range(start, start + n)]
            tiles = append_leaves({}, 0, hashes)
            rows = [
                {"level": 0, "idx": k.index + start // TILE_WIDTH, "data": v}
                for k, v in tiles.items()
                if k.level == 0
            ]
            conn.execute(insert(table), rows)
            level1 = tiles.get(TileKey(1, 0), b"")
            upper += [level1[i : i + 32] for i in range(0, len(level1), 32)]
        above = append_leaves({}, 0, upper)
        conn.execute(
            insert(table),
            [{"level": k.level + 1, "idx": k.index, "data": v} for k, v in above.items()],
        )
        root = root_hash(_ConnTiles(conn), size)
        note = sign_checkpoint(Checkpoint(ORIGIN, size, root), ledger.signer).decode()
        conn.execute(
            update(LedgerState.__table__)
            .where(LedgerState.__table__.c.id == 1)
            .values(size=size, root_hash=root, checkpoint=note)
        )


def _quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def bench_proofs(url: str, key: Path, size: int, samples: int) -> dict[str, float]:
    ledger = _ledger(url, key)
    started = time.perf_counter()
    _fill_tiles(ledger, size)
    fill_s = time.perf_counter() - started
    root = ledger.root(size)
    rng = random.Random(size)
    gen, check, cgen, ccheck, cpu = [], [], [], [], []
    for _ in range(samples):
        index = rng.randrange(size)
        c0 = time.process_time()
        t0 = time.perf_counter()
        proof = ledger.inclusion_proof(index, size)
        t1 = time.perf_counter()
        cpu.append(time.process_time() - c0)
        leaf = hashlib.sha256(b"\x00%d" % index).digest()
        verify_inclusion(index, size, leaf, proof, root)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        check.append(t2 - t1)
        old = rng.randrange(1, size)
        t0 = time.perf_counter()
        cproof = ledger.consistency_proof(old, size)
        t1 = time.perf_counter()
        cgen.append(t1 - t0)
        old_root = ledger.root(old)
        t1 = time.perf_counter()
        verify_consistency(old, size, old_root, root, cproof)
        ccheck.append(time.perf_counter() - t1)
    ledger.engine.dispose()
    out = {"fill_s": fill_s}
    for name, values in (("inclusion", gen), ("inclusion_cpu", cpu), ("verify_inclusion", check),
                         ("consistency", cgen), ("verify_consistency", ccheck)):
        med, p95 = _quantiles(values)
        out[f"{name}_median_ms"] = med * 1e3
        out[f"{name}_p95_ms"] = p95 * 1e3
    return out


def _pg_database() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            name = f"medcoop_bench_{secrets.token_hex(4)}"
            conn.execute(f'CREATE DATABASE "{name}"')
            return name
    except psycopg.Error:
        return None


def _drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--tile-seconds", type=float, default=5.0)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="medcoop-bench-ledger-") as tmp:
        folder = Path(tmp)
        key = folder / "ledger.key"
        rate = bench_direct(f"sqlite:///{folder / 'direct.db'}", key, args.appends, args.batch)
        print(f"appends/s direct SQLite (batch {args.batch}): {rate:,.0f}", flush=True)
        pg = None if args.no_pg else _pg_database()
        if pg:
            try:
                url = f"postgresql://postgres@127.0.0.1:5432/{pg}"
                rate = bench_direct(url, key, args.appends, args.batch)
                print(f"appends/s direct PostgreSQL (batch {args.batch}): {rate:,.0f}", flush=True)
            finally:
                _drop_pg(pg)
        (folder / "api").mkdir()
        api_rate, tiles = bench_api(folder / "api", args.appends, args.batch, args.tile_seconds)
        print(f"appends/s through the API, SQLite (batch {args.batch}): {api_rate:,.0f}")
        print(f"full level-0 tiles served/s (one keep-alive client): {tiles:,.0f}", flush=True)
        for size in (int(s) for s in args.sizes.split(",")):
            db = folder / f"proofs-{size}.db"
            result = bench_proofs(f"sqlite:///{db}", key, size, args.samples)
            print(f"size {size:,} (SQLite, tiles written in {result['fill_s']:.0f} s):")
            for name, value in result.items():
                if name != "fill_s":
                    print(f"  {name}: {value:.3f}")
            sys.stdout.flush()
            db.unlink()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
