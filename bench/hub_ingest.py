"""Benchmark: records/s through the hub's ingest API (real uvicorn server, httpx client).

Runs ``medcoop hub serve`` as a subprocess on SQLite and on PostgreSQL, with 1 and 2
workers, and posts pre-serialised batches of realistic CT/DX records (2-4 irradiation
events each) from a few client threads. Every run starts from an empty database.

    python bench/hub_ingest.py --records 20000 --batch 500

PostgreSQL: a throw-away database ``medcoop_bench_<random>`` is created on
``--pg-admin`` (default 127.0.0.1:5432, user postgres) and dropped afterwards.

Besides records/s (wall clock, which other work on a shared machine moves a lot) it
reports the CPU the hub's processes (and PostgreSQL's backends for the bench database)
spent per 1,000 records while the batches were posted, read from ``/proc`` (Linux), and
the load average, so runs on a busy machine can still be compared.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from medcoop.hub.db.engine import make_engine, make_session_factory
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.settings import HubSettings
from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    RecordBatch,
    Sex,
    StudyRecord,
    UsageFacts,
    record_key_for,
)

BASE_AT = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


def _uid(rng: random.Random) -> str:
    return f"2.25.{rng.getrandbits(120)}"


def _event(rng: random.Random, at: datetime, modality: str) -> IrradiationEvent:
    if modality == "CT":
        ctdivol = round(rng.uniform(2, 25), 2)
        return IrradiationEvent(
            event_uid=_uid(rng),
            kind=EventKind.CT_ACQUISITION,
            started_at=at,
            protocol=rng.choice(["CHEST", "ABDOMEN PELVIS", "HEAD", "CT ANGIO"]),
            target_region=rng.choice(["Chest", "Abdomen", "Head"]),
            acquisition_type="Spiral Acquisition",
            ctdivol_mgy=ctdivol,
            dlp_mgycm=round(ctdivol * rng.uniform(15, 50), 1),
            ctdi_phantom="body32",
            kvp=rng.choice([100.0, 120.0]),
            tube_current_ma=round(rng.uniform(80, 400), 1),
            pitch=round(rng.uniform(0.6, 1.4), 2),
            nominal_total_collimation_mm=40.0,
            exposure_time_s=round(rng.uniform(2, 10), 2),
        )
    return IrradiationEvent(
        event_uid=_uid(rng),
        kind=EventKind.PROJECTION,
        source="rdsr",
        started_at=at,
        protocol=rng.choice(["CHEST PA", "KNEE LAT", "PELVIS AP"]),
        dap_gycm2=round(rng.uniform(0.01, 2), 4),
        kvp=rng.choice([70.0, 81.0, 125.0]),
        exposure_index=round(rng.uniform(200, 800), 0),
    )


def make_record(rng: random.Random, index: int) -> StudyRecord:
    """Return one realistic record (CT 70 %, DX 30 %) with 2-4 events."""
    modality = "CT" if rng.random() < 0.7 else "DX"
    at = BASE_AT + timedelta(minutes=7 * index)
    events = tuple(
        _event(rng, at + timedelta(minutes=i), modality) for i in range(rng.randint(2, 4))
    )
    content = {
        "study_uid": _uid(rng),
        "modality": modality,
        "study_at": at,
        "utc_offset_min": 60,
        "study_description": f"{modality} STUDY",
        "device": DeviceInfo(
            device_key=f"bench-device-{index % 8:04d}",
            manufacturer="Acme",
            model="Scan 64" if modality == "CT" else "Ray 2",
            modality=modality,
        ),
        "patient": PatientFacts(
            pseudonym=f"{rng.getrandbits(256):064x}",
            age_years=rng.randint(1, 95),
            sex=rng.choice([Sex.MALE, Sex.FEMALE]),
            weight_kg=round(rng.uniform(40, 120), 1),
        ),
        "events": events,
        "totals": DoseTotals(
            total_dlp_mgycm=sum(e.dlp_mgycm or 0 for e in events) if modality == "CT" else None,
            total_dap_gycm2=sum(e.dap_gycm2 or 0 for e in events) if modality == "DX" else None,
            number_of_events=len(events),
        ),
        "usage": UsageFacts(
            first_acquisition_at=at,
            last_acquisition_at=at + timedelta(minutes=len(events)),
            series_count=len(events),
            image_count=rng.randint(1, 600),
        ),
        "sources": ("rdsr",),
    }
    probe = StudyRecord(record_key="0" * 64, **content)
    return StudyRecord(record_key=record_key_for(probe.model_dump(mode="json")), **content)


def make_bodies(records: int, batch: int, seed: int) -> list[bytes]:
    """Return the JSON bodies of ``records`` records in batches of ``batch``."""
    rng = random.Random(seed)
    built = [make_record(rng, i) for i in range(records)]
    sent_at = datetime.now(UTC)
    return [
        RecordBatch(sent_at=sent_at, records=tuple(built[i : i + batch]))
        .model_dump_json(exclude_defaults=True)
        .encode()
        for i in range(0, records, batch)
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_s(pids: set[int], parent: int | None = None) -> float:
    """CPU seconds (user + system) of ``pids`` and of ``parent``'s direct children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(entry.name) in pids or (parent is not None and int(fields[1]) == parent):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _db_pids(db_url: str) -> set[int]:
    if not db_url.startswith("postgresql"):
        return set()
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres") as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return {pid for (pid,) in rows}


@dataclass(frozen=True)
class Run:
    """One measured run."""

    rate: float  # records/s
    hub_cpu_ms: float  # hub CPU per 1,000 records
    db_cpu_ms: float  # PostgreSQL backends' CPU per 1,000 records (0 for SQLite)
    load: float  # 1-minute load average at the end


def run_once(db_url: str, workers: int, bodies: list[bytes], home: Path) -> Run:
    """Serve a hub on ``db_url`` with ``workers``, post ``bodies``; measure the posting."""
    port = _free_port()
    env = {**os.environ, "MEDCOOP_HOME": str(home)}
    command = [sys.executable, "-m", "medcoop", "hub", "serve", "--db", db_url]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        settings = HubSettings(database_url=db_url, migrate_on_start=False)
        engine = make_engine(settings)
        with make_session_factory(engine)() as session:
            site = accounts.provision_site(scope_session(session, ALL_TENANTS), "Bench", "Site")
            session.commit()
        engine.dispose()
        token = httpx.post(
            f"{base}/api/v1/enroll", json={"code": site.enrollment_code, "edge_name": "bench"}
        ).json()["site_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        records = 0
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            hub_before = _cpu_s({server.pid}, parent=server.pid)
            db_before = _cpu_s(_db_pids(db_url))
            started_s = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2 * workers) as pool:
                for response in pool.map(
                    lambda b: client.post("/api/v1/ingest", content=b), bodies
                ):
                    response.raise_for_status()
                    records += len(response.json()["new"])
            elapsed_s = time.perf_counter() - started_s
            hub_cpu = _cpu_s({server.pid}, parent=server.pid) - hub_before
            db_cpu = _cpu_s(_db_pids(db_url)) - db_before
        per_k = 1e6 / records  # seconds per run -> ms per 1,000 records
        return Run(records / elapsed_s, hub_cpu * per_k, db_cpu * per_k, os.getloadavg()[0])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline_s = time.monotonic() + 60
    while time.monotonic() < deadline_s:
        if server.poll() is not None:
            raise RuntimeError("the hub exited during start-up")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the hub did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--pg-admin", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    bodies = make_bodies(args.records, args.batch, args.seed)
    mib = sum(map(len, bodies)) / 2**20
    print(f"{args.records} records in {len(bodies)} batches of {args.batch} ({mib:.1f} MiB)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            url = f"sqlite:///{tmp}/hub-{workers}.db"
            rows.append(("SQLite", workers, run_once(url, workers, bodies, Path(tmp))))
        if not args.skip_postgres:
            for workers in args.workers:
                name = f"medcoop_bench_{secrets.token_hex(4)}"
                with psycopg.connect(args.pg_admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                try:
                    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
                    rows.append(("PostgreSQL", workers, run_once(url, workers, bodies, Path(tmp))))
                finally:
                    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    baseline = rows[0][2].rate
    print(
        "| back end | workers | records/s | vs SQLite 1 worker "
        "| hub CPU ms / 1,000 records | PostgreSQL CPU ms / 1,000 | load avg (1 min) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for backend, workers, run in rows:
        db_cpu = f"{run.db_cpu_ms:,.0f}" if backend == "PostgreSQL" else "—"
        print(
            f"| {backend} | {workers} | {run.rate:,.0f} | {run.rate / baseline:.2f}× "
            f"| {run.hub_cpu_ms:,.0f} | {db_cpu} | {run.load:.1f} |"
        )


if __name__ == "__main__":
    main()
