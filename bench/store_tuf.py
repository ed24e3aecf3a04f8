"""Benchmark: the store's supply chain — publish-to-installable time, the edge's update
check when nothing changed, and a full install (venv + pip) for scale.

    python bench/store_tuf.py --releases 20 --checks 50

* **Publish to installable**: from the start of ``medcoop store publish`` (the vendor reads
  its role, signs locally, uploads; the hub verifies, stores, re-snapshots) until an
  enrolled edge's ``tuf.ngclient`` refresh finds the new wheel's target (all metadata
  verified). Each release is a new version of one app, so the vendor's role grows.
* **Update check, nothing changed**: ``medcoop.edge.apps.check_updates`` (a full TUF
  refresh: timestamp fetched and verified, snapshot and targets found unchanged in the
  local cache; plus the hub's release index for each installed app) with one app installed.
* **Install**: ``install_app`` of one version (entitlement check, TUF, venv, pip).

A real hub (uvicorn, SQLite) on this machine; figures are wall clock on a shared machine,
with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from medcoop.apps.scaffold import MANIFEST_FILE, manifest_for, new_app, package_name
from medcoop.edge.apps import check_updates, install_app, save_trusted_root
from medcoop.edge.apps.updater import AppUpdater
from medcoop.edge.config import EdgeSettings, HubSettings, StorageSettings
from medcoop.hub.app import create_app
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import OrgKind, Role, TokenKind
from medcoop.hub.db.store_models import StoreListing
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services import accounts
from medcoop.hub.services.store import listings
from medcoop.hub.services.store.commerce import ListingTerms, request_trial
from medcoop.hub.services.store.journal import Actor
from medcoop.hub.settings import HubSettings as HubAppSettings
from medcoop.store.tuf.keys import generate_key_files, load_public_key, load_signer
from medcoop.store.tuf.repo import TufRepository
from medcoop.store.tuf.vendor import publish
from medcoop.store.tuf.wheelfile import write_wheel

VENDOR = "benchco"
APP = "benchco.image-count"
TRIAL = {
    "trial": {"days": 30, "study_cap": 10_000, "approval": "automatic"},
    "quote_on_request": True,
}


def _serve(app: object) -> tuple[str, uvicorn.Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))  # type: ignore[arg-type]
    threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def _accounts(app: object) -> tuple[object, str, str]:
    """A vendor (publisher token, store-approved) and a hospital site's enrollment code."""
    factory = app.state.session_factory  # type: ignore[attr-defined]
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        vendor = accounts.create_organisation(session, "Bench Vendor", kind=OrgKind.VENDOR)
        user = accounts.create_user(session, "publisher@bench.example")
        accounts.add_membership(session, vendor.id, user.id, Role.VENDOR_PUBLISHER)
        _t, token = accounts.issue_token(
            session, TokenKind.PERSONAL, vendor.id, user_id=user.id, ttl_s=86400
        )
        site = accounts.provision_site(session, "Bench Hospital", "Bench Site", country="GB")
        session.commit()
        vendor_id = vendor.id
    with factory() as session:
        listings.register_vendor(scope_session(session, vendor_id), vendor_id, VENDOR)
        session.commit()
    with factory() as session:
        scope_session(session, ALL_TENANTS)
        listings.approve_vendor(session, vendor_id, by=None, now=utcnow())
        session.commit()
    return vendor_id, token, site.enrollment_code


def _release(folder: Path, version: str) -> tuple[Path, Path]:
    name = APP.split(".", 1)[1]
    source = folder / version
    source.mkdir(parents=True)
    root = new_app(name, source, vendor=VENDOR)
    manifest = manifest_for(name, VENDOR, version=version, offers=TRIAL)
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))
    wheel = write_wheel(
        source / "dist",
        APP,
        version,
        root / "src" / package_name(name),
        entry_points={APP: manifest["entry_point"]},
    )
    return wheel, root / MANIFEST_FILE


def _entitle(app: object) -> None:
    from sqlalchemy import select

    from medcoop.hub.db.models import Organisation

    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        scope_session(session, ALL_TENANTS)
        org = session.scalar(select(Organisation.id).where(Organisation.name == "Bench Hospital"))
        listing = session.scalar(select(StoreListing).where(StoreListing.listing_key == APP))
        request_trial(session, ListingTerms.of(listing), Actor(org), now=utcnow())
        session.commit()


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--checks", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = HubAppSettings(
            database_url=f"sqlite:///{folder / 'hub.db'}",
            store_tuf_dir=str(folder / "tuf"),
            login_rate_per_min=10_000,
            login_burst=10_000,
        )
        repo, init = TufRepository.create(folder / "tuf", folder / "offline")
        app = create_app(settings)
        url, server = _serve(app)
        vendor_id, token, code = _accounts(app)
        pair = generate_key_files(folder / "vendor.key")
        repo.approve_vendor(
            VENDOR, vendor_id, [load_public_key(pair.public_path)], load_signer(init.targets_key)
        )
        enrolled = httpx.post(url + "/api/v1/enroll", json={"code": code, "edge_name": "b"}).json()
        edge = EdgeSettings(
            hub=HubSettings(url=url, site_token=enrolled["site_token"]),
            storage=StorageSettings(data_dir=folder / "edge", min_free_bytes=0),
        )
        apps = folder / "edge" / "apps"
        save_trusted_root(apps, enrolled["tuf_root"])
        client = httpx.Client(headers={"Authorization": f"Bearer {enrolled['site_token']}"})
        updater_checks = AppUpdater(apps, url, client)
        updater_checks.refresh()
        to_installable: list[float] = []
        for n in range(args.releases):
            version = f"1.0.{n}"
            wheel, manifest = _release(folder / "build", version)
            started = time.perf_counter()
            answer = publish(url, token, wheel, manifest, pair.private_path)
            target = answer["releases"][0]["wheel_target"]
            updater = AppUpdater(apps, url, client)  # a new edge process: nothing in memory
            updater.refresh()
            assert updater._updater.get_targetinfo(target) is not None
            to_installable.append(time.perf_counter() - started)
            if n == 0:
                _entitle(app)
        started = time.perf_counter()
        install_app(edge, APP, f"1.0.{args.releases - 1}")
        install_s = time.perf_counter() - started
        checks: list[float] = []
        for _ in range(args.checks):
            started = time.perf_counter()
            found = check_updates(edge)
            checks.append(time.perf_counter() - started)
            assert not found[0].upgradable
        client.close()
        server.should_exit = True
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"publish to installable ({args.releases} releases): {_ms(to_installable)}")
    print(f"update check, nothing changed (1 app installed): {_ms(checks)}")
    print(f"one install (entitlement, TUF, venv, pip): {install_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
