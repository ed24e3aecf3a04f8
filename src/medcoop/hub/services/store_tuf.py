"""The hub's side of the store's supply chain: its TUF repository, vendors' publishes,
and the periodic re-signing of snapshot and timestamp.

The repository is files under ``HubSettings.resolved_store_tuf_dir`` (see
``medcoop.store.tuf.repo``): TUF metadata is files by nature, every file is written by
atomic rename, and writers take a file lock, so several hub workers on one host share it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from medcoop.hub.background import PeriodicJob
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.store_models import StoreListing, StoreListingVersion
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import ConflictError, HubError, PermissionDeniedError
from medcoop.hub.services.accounts import Principal
from medcoop.hub.services.store import listings
from medcoop.hub.services.store.policy import Action, authorize
from medcoop.hub.settings import HubSettings
from medcoop.store.tuf.errors import PublishRefusedError, RepositoryError
from medcoop.store.tuf.manifests import read_manifest
from medcoop.store.tuf.repo import PublishResult, TufRepository

__all__ = [
    "PublishRefused",
    "RepositoryUnavailable",
    "TufRefresher",
    "publish_release",
    "repository",
    "trusted_root_document",
]

log = logging.getLogger(__name__)


class PublishRefused(HubError):
    """A vendor's upload failed verification; ``detail`` lists every reason."""

    status_code = 422

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.detail = reasons  # type: ignore[assignment]


class RepositoryUnavailable(HubError):
    """The hub's TUF repository has not been created (``medcoop store init-repo``)."""

    status_code = 503


def repository(settings: HubSettings) -> TufRepository:
    """Return the hub's TUF repository (it may not exist yet: see ``.exists``)."""
    return TufRepository(settings.resolved_store_tuf_dir)


def trusted_root_document(settings: HubSettings) -> dict[str, Any] | None:
    """Return the newest TUF root as JSON data (for enrollment), or ``None`` if none exists."""
    repo = repository(settings)
    if not repo.exists:
        return None
    document: dict[str, Any] = json.loads(repo.trusted_root())
    return document


def publish_release(
    settings: HubSettings,
    session_factory: sessionmaker[Session],
    principal: Principal,
    vendor: str,
    metadata: bytes,
    files: dict[str, bytes],
) -> PublishResult:
    """Verify and store a vendor publisher's signed release; list it in the catalogue.

    The catalogue's version row (``store.listings.publish_app``) and the TUF repository
    change together: the row is written first in an open transaction, the repository
    next, and the transaction commits only if the repository accepted the upload.

    Raises
    ------
    PermissionDeniedError
        The caller may not publish, or its organisation is not the vendor ``vendor``.
    RepositoryUnavailable
        The repository does not exist.
    PublishRefused
        A check failed (all reasons listed).
    """
    authorize(principal, Action.PUBLISH_LISTING)
    repo = repository(settings)
    if not repo.exists:
        raise RepositoryUnavailable("the hub's TUF repository is not set up")
    manifests = [data for path, data in files.items() if path.endswith(".manifest.json")]
    with session_factory() as session:
        scope_session(session, principal.org_id)
        begin_write(session)
        store_vendor = listings.approved_vendor(session)
        if store_vendor.slug != vendor:
            raise PermissionDeniedError(f"this organisation publishes as {store_vendor.slug!r}")
        now = utcnow()
        for manifest in manifests:
            _list_version(session, manifest, now)
        try:
            result = repo.publish(principal.org_id, vendor, metadata, files)
        except PublishRefusedError as exc:
            log.info("publish refused for vendor %s: %d reasons", vendor, len(exc.reasons))
            raise PublishRefused(exc.reasons) from exc
        except RepositoryError as exc:
            raise PublishRefused([str(exc)]) from exc
        for release in result.releases:
            listings.record_package(session, release.app_id, release.version, release.wheel_target)
        session.commit()
    log.info("published %s version %d", result.role, result.version)
    return result


def _list_version(session: Session, manifest: bytes, now: datetime) -> None:
    """Publish the manifest's version in the catalogue unless it is listed already."""
    try:
        listings.publish_app(session, manifest, now=now)
    except ConflictError:
        facts = read_manifest(manifest)  # valid: publish_app parsed it
        listed = session.scalar(
            select(StoreListingVersion.version)
            .join(StoreListing, StoreListing.id == StoreListingVersion.listing_id)
            .where(
                StoreListing.listing_key == facts.app_id,
                StoreListingVersion.version == facts.version,
            )
        )
        if listed is None:
            raise


class TufRefresher(PeriodicJob):
    """Re-signs snapshot and timestamp before they expire, so idle clients never freeze."""

    name = "tuf-refresher"

    def __init__(self, settings: HubSettings, *, interval_s: float) -> None:
        super().__init__(interval_s=interval_s)
        self.settings = settings

    def run_once(self, now: datetime | None = None) -> int:
        """Refresh once if the repository exists and needs it; return 1 if it did."""
        repo = repository(self.settings)
        if not repo.exists:
            return 0
        try:
            return int(repo.refresh(now))
        except RepositoryError:
            log.exception("TUF refresh failed")
            return 0
