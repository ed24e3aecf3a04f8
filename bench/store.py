"""Store catalogue search: p50/p95 of a ranked full-text search with every facet count.

Builds a hub database with ``--listings`` app listings from ``--vendors`` approved vendors
(published through the store's own service, so facets and the search index are exactly
what production keeps), then runs ``--queries`` catalogue searches — a mix of words only,
facet filters only, and words with one or two filters, each with all nine facets'
counts — in process through :func:`medcoop.hub.services.store.search.search` on a
catalogue session, and prints JSON::

    python bench/store.py --listings 10000                  # SQLite (FTS5)
    python bench/store.py --listings 10000 --postgres       # PostgreSQL (tsvector + GIN)

``--postgres`` creates a scratch database on 127.0.0.1:5432 and drops it at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medcoop.hub.db import migrate
from medcoop.hub.db.engine import begin_write, make_engine, make_session_factory
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.services.store import listings
from medcoop.hub.services.store.search import CatalogueQuery, search
from medcoop.hub.settings import HubSettings
from medcoop.store.manifest import AppManifest

NOW = datetime(2026, 12, 1, tzinfo=UTC)
WORDS = [
    "triage",
    "chest",
    "pneumothorax",
    "nodule",
    "fracture",
    "stroke",
    "haemorrhage",
    "mammography",
    "density",
    "dose",
    "protocol",
    "quality",
    "exposure",
    "index",
    "lung",
    "liver",
    "kidney",
    "segmentation",
    "detection",
    "report",
    "worklist",
    "prioritisation",
    "radiograph",
    "tomography",
    "perfusion",
    "bone",
    "age",
    "scoliosis",
    "embolism",
    "calcium",
    "coronary",
    "breast",
    "prostate",
    "lesion",
    "volumetry",
    "analytics",
    "utilisation",
    "scheduling",
]
MODALITIES = ("CT", "MR", "DX", "CR", "MG", "US", "NM", "XA")
BODY_PARTS = ("CHEST", "HEAD", "ABDOMEN", "PELVIS", "BREAST", "SPINE", "KNEE", "HEART")
CATEGORIES = (
    "ai_diagnostics",
    "dose_analytics",
    "usage_analytics",
    "quality_assurance",
    "workflow",
    "research",
)
REGULATORY: tuple[dict[str, Any], ...] = (
    {"eu_mdr": {"mdr_class": "IIa", "notified_body": "0123", "certificate": "CE 1"}},
    {
        "eu_mdr": {"mdr_class": "IIb", "notified_body": "0123", "certificate": "CE 2"},
        "us_fda": {"k510": "K231234"},
    },
    {"us_fda": {"k510": "K221234"}},
    {"eu_mdr": {"mdr_class": "I"}},
    {"research_use_only": True},
)


def _manifest(rng: random.Random, vendor: str, n: int) -> AppManifest:
    words = rng.sample(WORDS, 8)
    modalities = rng.sample(MODALITIES, rng.randint(1, 2))
    offers: dict[str, Any] = {"quote_on_request": rng.random() < 0.5}
    if rng.random() < 0.5:
        offers["trial"] = {"days": 30, "study_cap": 100}
    if rng.random() < 0.5 or not offers["quote_on_request"]:
        offers["per_study"] = {"amount": "1.00"}
    return AppManifest.model_validate(
        {
            "id": f"{vendor}.app-{n}",
            "version": "1.0.0",
            "vendor": vendor,
            "title": " ".join(words[:3]).capitalize(),
            "summary": " ".join(words[3:6]),
            "description": " ".join(rng.choices(WORDS, k=40)),
            "category": rng.choice(CATEGORIES),
            "intended_use": "Synthetic listing for the catalogue benchmark.",
            "regulatory": copy.deepcopy(rng.choice(REGULATORY)),
            "clinical_scope": {
                "modalities": modalities,
                "body_parts": rng.sample(BODY_PARTS, rng.randint(1, 2)),
            },
            "inputs": [
                {
                    "kind": "dicom",
                    "name": "studies",
                    "selectors": [{"attribute": "Modality", "in": modalities}],
                }
            ],
            "outputs": [{"name": "findings", "kind": "findings_json"}],
            "deployment": ["edge"],
            "data_scopes": ["edge:images"],
            "offers": offers,
            "licence": {"spdx": "LicenseRef-Bench"},
            "provenance": {"source": "bench", "build": "1"},
            "entry_point": "bench_app.app:run",
        }
    )


def build(url: str, n_listings: int, n_vendors: int, seed: int) -> tuple[Any, float]:
    """Migrate and fill the catalogue; return the session factory and the build seconds."""
    engine = make_engine(HubSettings(database_url=url))
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    rng = random.Random(seed)
    started = time.perf_counter()
    vendors = []
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        for v in range(n_vendors):
            org = accounts.create_organisation(session, f"Bench vendor {v}")
            vendors.append((org.id, f"vendor{v}"))
        session.commit()
    for org_id, slug in vendors:
        with factory() as session:
            scope_session(session, org_id)
            begin_write(session)
            listings.register_vendor(session, org_id, slug, slug.capitalize())
            session.commit()
        with factory() as session:
            scope_session(session, ALL_TENANTS)
            listings.approve_vendor(session, org_id, by=None, now=NOW)
            session.commit()
    per_vendor = n_listings // n_vendors
    for org_id, slug in vendors:
        with factory() as session:
            scope_session(session, org_id)
            begin_write(session)
            for n in range(per_vendor):
                listings.publish_app(session, _manifest(rng, slug, n), now=NOW)
            session.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return factory, time.perf_counter() - started


def queries(rng: random.Random, n: int) -> list[CatalogueQuery]:
    """A mix of catalogue searches: words, facets, both."""
    out = []
    for i in range(n):
        shape = i % 4
        text = " ".join(rng.sample(WORDS, rng.randint(1, 2))) if shape != 1 else ""
        filters: dict[str, tuple[str, ...]] = {}
        if shape in (1, 2):
            filters["modality"] = (rng.choice(MODALITIES),)
        if shape == 1:
            filters["has_trial"] = ("yes",)
        if shape == 3 and rng.random() < 0.5:
            filters["regulatory"] = ("RUO",)
        out.append(CatalogueQuery(text, filters, limit=20))
    return out


def measure(factory: Any, qs: list[CatalogueQuery]) -> dict[str, Any]:
    """Time each search on a fresh catalogue session; p50, p95, max in ms."""
    times: list[float] = []
    totals: list[int] = []
    for query in qs:
        with factory() as session:
            listings.catalogue_session(session, None)
            started = time.perf_counter()
            result = search(session, query)
            times.append((time.perf_counter() - started) * 1000)
            totals.append(result.total)
    times.sort()
    return {
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
        "mean_hits": round(statistics.mean(totals), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--vendors", type=int, default=50)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            import psycopg

            admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
            name = f"medcoop_bench_{secrets.token_hex(4)}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        else:
            url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        try:
            factory, build_s = build(url, args.listings, args.vendors, args.seed)
            qs = queries(random.Random(args.seed), args.queries)
            measure(factory, qs[:10])  # warm caches and the statement cache
            result = measure(factory, qs)
            factory.kw["bind"].dispose()
        finally:
            if args.postgres:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        json.dumps(
            {"backend": backend, "listings": args.listings, "build_s": round(build_s, 1), **result},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
