"""Dashboard page server time: every page, p50 and p95, on a hub with a large tenant.

Builds a hub database (SQLite by default, ``--hub-db`` for PostgreSQL) with one
organisation of ``--studies`` CT and fluoroscopy studies over 12 months on ``--sites``
sites (ingested through the hub's own ingest service, so summaries and alerts are kept
as in production) and ``--peers`` peer organisations for the benchmarks, then requests
every dashboard page ``--requests`` times in process (FastAPI TestClient: the time is the
server's, no network) as the organisation's medical physicist, and prints JSON::

    python bench/web.py --studies 200000 --requests 30

The 40-million-study pool of ``bench/benchmarks.py`` lives in pooled summary blocks,
which only the benchmark page and the DRL lines read (through ``peer_benchmark``, whose
p95 is measured there); every other page reads the caller's own organisation.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from medcoop.deid.pseudonym import SiteKey
from medcoop.hub.app import create_app
from medcoop.hub.db.models import Role
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.services.ingest import ingest_batch
from medcoop.hub.settings import HubSettings
from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    RecordBatch,
    StudyRecord,
    UsageFacts,
    record_key_for,
)

PASSWORD = "bench-password-not-secret"
KEY = SiteKey(b"b" * 32)
DESCRIPTIONS = ("CT Head", "CT Chest", "CT Abdomen Pelvis", "CT Chest Abdomen Pelvis")


def _record(rng: random.Random, n: int, site: str, now: datetime) -> StudyRecord:
    at = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
    if n % 20 == 19:
        events: tuple[IrradiationEvent, ...] = (
            IrradiationEvent(
                event_uid=KEY.remap_uid(f"{site}.{n}.1"),
                kind=EventKind.FLUOROSCOPY,
                dap_gycm2=round(rng.uniform(1, 60), 2),
                fluoro_time_s=rng.uniform(30, 600),
            ),
        )
        modality, description, totals = "RF", "Barium swallow", DoseTotals(
            total_dap_gycm2=events[0].dap_gycm2, total_fluoro_time_s=events[0].fluoro_time_s
        )
    else:
        description = DESCRIPTIONS[n % 4]
        head = description == "CT Head"
        ctdi = rng.uniform(30, 70) if head else rng.uniform(5, 20)
        dlp = round(ctdi * rng.uniform(12, 45), 1)
        events = (
            IrradiationEvent(
                event_uid=KEY.remap_uid(f"{site}.{n}.1"),
                kind=EventKind.CT_ACQUISITION,
                ctdivol_mgy=round(ctdi, 2),
                dlp_mgycm=dlp,
                ctdi_phantom="head16" if head else "body32",
                protocol=description.upper(),
            ),
        )
        modality, totals = "CT", DoseTotals(total_dlp_mgycm=dlp, number_of_events=1)
    content: dict[str, Any] = {
        "study_uid": KEY.remap_uid(f"{site}.{n}"),
        "modality": modality,
        "study_at": at,
        "study_description": description,
        "device": DeviceInfo(device_key=f"{site}-device-{modality.lower()}", modality=modality),
        "patient": PatientFacts(
            pseudonym=KEY.patient_pseudonym(f"{site}-{rng.randint(0, 40_000)}"),
            age_years=rng.randint(18, 95),
            effective_diameter_cm=round(rng.uniform(20, 40), 1),
        ),
        "events": events,
        "totals": totals,
        "usage": UsageFacts(first_acquisition_at=at, last_acquisition_at=at + timedelta(minutes=7)),
    }
    dumped = StudyRecord.model_construct(record_key="0" * 64, **content).model_dump(mode="json")
    return StudyRecord(**content, record_key=record_key_for(dumped))


def _tenant(app: Any, name: str, sites: int, people: bool) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        org = accounts.create_organisation(session, name, country="GB")
        site_ids = [
            accounts.create_site(session, org.id, f"{name} site {i}", country="GB").id
            for i in range(sites)
        ]
        if people:
            user = accounts.create_user(session, f"physicist@{name}.example", password=PASSWORD)
            accounts.add_membership(session, org.id, user.id, Role.MEDICAL_PHYSICIST)
        session.commit()
    return org.id, site_ids


def _load(app: Any, org_id: uuid.UUID, site_ids: list[uuid.UUID], n: int, seed: int) -> float:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    per_site = n // len(site_ids)
    for s, site_id in enumerate(site_ids):
        records = [_record(rng, i, f"{org_id}.{s}", now) for i in range(per_site)]
        for i in range(0, len(records), 2000):
            batch = RecordBatch(sent_at=now, records=tuple(records[i : i + 2000]))
            with app.state.session_factory() as session:
                ingest_batch(scope_session(session, org_id), site_id, batch)
    return time.perf_counter() - started


def _pages(client: TestClient, site_id: uuid.UUID, study_id: str, pseudonym: str) -> list[str]:
    return [
        "/overview",
        "/dose",
        "/dose?sort=-total_dlp_mgycm",
        f"/dose?exam_type=ct_head&site_id={site_id}&min_age_years=40",
        "/dose/charts/distribution.json?modality=CT",
        f"/dose/charts/distribution.json?exam_type=ct_head&site_id={site_id}",
        "/dose/charts/trend.json?modality=CT",
        "/dose/charts/size.json?modality=CT",
        f"/dose/studies/{study_id}",
        f"/dose/patients/{pseudonym}",
        "/alerts",
        "/alerts/rules",
        f"/utilization?site_id={site_id}",
        f"/benchmarks?site_id={site_id}&exam_type=ct_head",
        f"/benchmarks/chart.json?site_id={site_id}&exam_type=ct_head",
        "/protocols",
        "/admin",
    ]


def main() -> None:
    """Build the hub, time every page, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--hub-db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.hub_db or f"sqlite:///{Path(tmp) / 'hub.db'}"
        app = create_app(HubSettings(database_url=url, notifier_enabled=False))
        org_id, site_ids = _tenant(app, "bench", args.sites, people=True)
        load_s = _load(app, org_id, site_ids, args.studies, args.seed)
        print(f"loaded {args.studies} studies in {load_s:.0f} s", file=sys.stderr)
        for p in range(args.peers):  # peers for the benchmark page (k-anonymity needs ≥ 5)
            peer, peer_sites = _tenant(app, f"peer{p}", 1, people=False)
            _load(app, peer, peer_sites, 600, args.seed + p + 1)
        client = TestClient(app, base_url="http://bench.test")
        client.post("/login", data={"email": "physicist@bench.example", "password": PASSWORD})
        found = client.get("/dose").text
        study_id = found.split('href="/dose/studies/')[1].split('"')[0]
        detail = client.get(f"/dose/studies/{study_id}").text
        pseudonym = detail.split('href="/dose/patients/')[1].split('"')[0]
        results = {}
        for path in _pages(client, site_ids[0], study_id, pseudonym):
            client.get(path)  # warm caches (DRL table, pooled blocks, templates)
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            times.sort()
            print(f"{path[:60]}: p95 {times[-1]:.0f} ms (max)", file=sys.stderr)
            results[path.split("?")[0] + ("?" + path.split("?")[1][:40] if "?" in path else "")] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            }
        app.state.engine.dispose()
    print(json.dumps({"studies": args.studies, "sites": args.sites, "load_s": round(load_s, 1),
                      "requests_per_page": args.requests, "pages": results}, indent=2))


if __name__ == "__main__":
    main()
