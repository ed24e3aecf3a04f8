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

from medcoop.hub.background import PeriodicJob
from medcoop.hub.db.models import Role
from medcoop.hub.errors import HubError, PermissionDeniedError
from medcoop.hub.services.accounts import Principal
from medcoop.hub.settings import HubSettings
from medcoop.store.tuf.errors import PublishRefusedError, RepositoryError
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
    principal: Principal,
    vendor: str,
    metadata: bytes,
    files: dict[str, bytes],
) -> PublishResult:
    """Verify and store a vendor publisher's signed release.

    Raises
    ------
    PermissionDeniedError
        The caller is not a vendor publisher.
    RepositoryUnavailable
        The repository does not exist.
    PublishRefused
        A check failed (all reasons listed), or the vendor is not this organisation's.
    """
    if Role.VENDOR_PUBLISHER not in principal.roles:
        raise PermissionDeniedError("publishing needs the vendor_publisher role")
    repo = repository(settings)
    if not repo.exists:
        raise RepositoryUnavailable("the hub's TUF repository is not set up")
    try:
        result = repo.publish(principal.org_id, vendor, metadata, files)
    except PublishRefusedError as exc:
        log.info("publish refused for vendor role of %s: %d reasons", vendor, len(exc.reasons))
        raise PublishRefused(exc.reasons) from exc
    except RepositoryError as exc:
        raise PublishRefused([str(exc)]) from exc
    log.info("published %s version %d", result.role, result.version)
    return result


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
