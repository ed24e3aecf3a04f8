"""Store supply-chain fixtures: a real hub over HTTP with its TUF repository, an approved
vendor holding its own key, and an edge enrolled the way ``medcoop edge enroll`` does it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medcoop.edge.config import EdgeSettings, load_settings, write_default_config
from medcoop.edge.enrollment import enroll
from medcoop.store.tuf.keys import generate_key_files, load_public_key, load_signer
from medcoop.store.tuf.repo import TufRepository
from medcoop.store.tuf.vendor import publish
from tests.edge.conftest import LiveHub
from tests.store.wheels import build_app


@dataclass
class Vendor:
    slug: str
    org_id: str
    key: Path
    token: str


@dataclass
class StoreWorld:
    """A hub with a store repository, vendors, and one enrolled edge."""

    hub: LiveHub
    repo: TufRepository
    offline: Path
    folder: Path
    edge_config: Path

    @property
    def edge(self) -> EdgeSettings:
        return load_settings(self.edge_config)

    def vendor(self, slug: str) -> Vendor:
        """Create a vendor organisation with a publisher, a key, and the platform's approval."""
        from medcoop.hub.db.base import utcnow
        from medcoop.hub.db.models import OrgKind, Role, TokenKind
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services import accounts
        from medcoop.hub.services.store import listings

        with self.hub.app.state.session_factory() as session:
            scope_session(session, ALL_TENANTS)
            org = accounts.create_organisation(session, f"{slug} Imaging", kind=OrgKind.VENDOR)
            user = accounts.create_user(session, f"publisher-{time.monotonic_ns()}@{slug}.example")
            accounts.add_membership(session, org.id, user.id, Role.VENDOR_PUBLISHER)
            _token, secret = accounts.issue_token(
                session, TokenKind.PERSONAL, org.id, user_id=user.id, ttl_s=3600
            )
            session.commit()
            org_id = str(org.id)
        factory = self.hub.app.state.session_factory
        with factory() as session:
            listings.register_vendor(scope_session(session, org.id), org.id, slug)
            session.commit()
        with factory() as session:
            scope_session(session, ALL_TENANTS)
            listings.approve_vendor(session, org.id, by=None, now=utcnow())
            session.commit()
        pair = generate_key_files(self.folder / "vendors" / f"{slug}.key")
        self.repo.approve_vendor(
            slug, org_id, [load_public_key(pair.public_path)], self.targets_signer()
        )
        return Vendor(slug, org_id, pair.private_path, secret)

    def entitle(self, app_id: str) -> None:
        """The edge's organisation requests the app's trial (approved at once by its offer)."""
        from sqlalchemy import select

        from medcoop.hub.db.base import utcnow
        from medcoop.hub.db.models import Organisation
        from medcoop.hub.db.store_models import StoreListing
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services.store.commerce import ListingTerms, request_trial
        from medcoop.hub.services.store.journal import Actor

        with self.hub.app.state.session_factory() as session:
            scope_session(session, ALL_TENANTS)
            org_id = session.scalar(
                select(Organisation.id).where(Organisation.name == "Test Health")
            )
            listing = session.scalar(select(StoreListing).where(StoreListing.listing_key == app_id))
            assert listing is not None and org_id is not None
            request_trial(session, ListingTerms.of(listing), Actor(org_id), now=utcnow())
            session.commit()

    def targets_signer(self):  # type: ignore[no-untyped-def]
        return load_signer(self.offline / "targets.key")

    def root_signer(self):  # type: ignore[no-untyped-def]
        return load_signer(self.offline / "root.key")

    def publish(self, vendor: Vendor, app_id: str, version: str) -> dict[str, object]:
        """Build a wheel and publish it as ``medcoop store publish`` does."""
        wheel, manifest = build_app(self.folder / "build", app_id, version, vendor.slug)
        return publish(self.hub.url, vendor.token, wheel, manifest, vendor.key)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreWorld]:
    monkeypatch.setenv("MEDCOOP_HOME", str(tmp_path / "home"))
    hub = LiveHub(tmp_path / "hub")
    repo, _init = TufRepository.create(hub.settings.resolved_store_tuf_dir, tmp_path / "offline")
    hub.start()
    config = write_default_config(tmp_path / "edge" / "medcoop-edge.toml")
    enroll(config, hub.enrollment_code(), hub.url, edge_name="store-test-edge")
    try:
        yield StoreWorld(hub, repo, tmp_path / "offline", tmp_path, config)
    finally:
        hub.stop()
        hub.app.state.engine.dispose()
