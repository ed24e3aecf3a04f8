"""The edge's TUF client: ``tuf.ngclient.Updater`` over the hub's repository.

Every package an edge installs comes through :meth:`AppUpdater.fetch`: a full TUF
refresh (root rotation, timestamp, snapshot, targets, the vendor's delegated role), then
the wheel and its manifest downloaded against their signed length and hashes. Each
failure of the workflow becomes one :class:`~medcoop.edge.apps.errors.AppRefusedError`
with a code (rollback, frozen, bad-signature, not-delegated, hash-or-length, mismatch).

The trust anchor is the root the hub handed over at enrollment
(:func:`save_trusted_root`); ngclient keeps the newest verified root beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater

from medcoop.edge.apps.errors import AppInstallError, AppRefusedError
from medcoop.edge.apps.fetcher import HttpxFetcher
from medcoop.store.tuf.manifests import ManifestError, ManifestFacts, read_manifest
from medcoop.store.tuf.verify import CUSTOM_KEY

__all__ = ["AppUpdater", "VerifiedPackage", "has_trusted_root", "save_trusted_root"]


def _metadata_dir(apps_dir: Path) -> Path:
    return apps_dir / "tuf" / "metadata"


def has_trusted_root(apps_dir: Path) -> bool:
    """Whether this edge holds a trusted root for the hub's store."""
    return (_metadata_dir(apps_dir) / "root.json").is_file()


def save_trusted_root(apps_dir: Path, document: dict[str, Any], *, replace: bool = False) -> bool:
    """Keep ``document`` (the hub's root, received at enrollment) as the trust anchor.

    An edge that already trusts a root keeps it unless ``replace``: a later enrollment
    must not silently swap the anchor (new roots arrive signed by the old one, through
    the updater). Returns whether the file was written.
    """
    path = _metadata_dir(apps_dir) / "root.json"
    if path.is_file() and not replace:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(".root.json.tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)
    return True


@dataclass(frozen=True, slots=True)
class VerifiedPackage:
    """A wheel and its manifest that passed every TUF check, downloaded to ``wheel_path``."""

    app_id: str
    version: str
    vendor: str
    wheel_path: Path
    wheel_sha256: str
    manifest: ManifestFacts


def _classify(exc: Exception) -> AppRefusedError:
    """Map a python-tuf error to the refusal a person reads."""
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return AppRefusedError(
            "rollback", f"the hub served older metadata than this edge has seen ({exc})"
        )
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return AppRefusedError("frozen", f"the hub's metadata has expired ({exc})")
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return AppRefusedError("bad-signature", f"metadata not signed by a trusted key ({exc})")
    if isinstance(
        exc, tuf_errors.LengthOrHashMismatchError | tuf_errors.DownloadLengthMismatchError
    ):
        return AppRefusedError(
            "hash-or-length", f"a file differs from its signed length or hash ({exc})"
        )
    return AppRefusedError("repository", f"{type(exc).__name__}: {exc}")


class AppUpdater:
    """A TUF client of the hub's store for the edge whose apps live in ``apps_dir``."""

    def __init__(self, apps_dir: Path, hub_url: str, client: httpx.Client) -> None:
        if not has_trusted_root(apps_dir):
            raise AppInstallError(
                "this edge holds no trusted root for the store: enroll again with a hub that "
                "has a store repository (medcoop edge enroll)"
            )
        self.apps_dir = apps_dir
        self.downloads = apps_dir / ".downloads"
        base = hub_url.rstrip("/")
        self._updater = Updater(
            metadata_dir=str(_metadata_dir(apps_dir)),
            metadata_base_url=f"{base}/store/tuf/metadata/",
            target_dir=str(self.downloads),
            target_base_url=f"{base}/store/tuf/targets/",
            fetcher=HttpxFetcher(client),
            bootstrap=None,
        )

    def refresh(self) -> None:
        """Run TUF's top-level update (root, timestamp, snapshot, targets).

        Raises
        ------
        AppRefusedError
            Rollback, freeze, bad signatures, or files differing from their metadata.
        AppInstallError
            The hub cannot be reached.
        """
        try:
            self._updater.refresh()
        except tuf_errors.DownloadHTTPError as exc:
            raise AppInstallError(f"the hub's store answered {exc.status_code}") from exc
        except tuf_errors.DownloadError as exc:
            if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
                raise _classify(exc) from exc
            raise AppInstallError(f"cannot reach the hub's store: {exc}") from exc
        except tuf_errors.RepositoryError as exc:
            raise _classify(exc) from exc

    def _target(self, path: str) -> TargetFile:
        try:
            info = self._updater.get_targetinfo(path)
        except tuf_errors.RepositoryError as exc:
            raise _classify(exc) from exc
        except tuf_errors.DownloadError as exc:
            raise AppInstallError(f"cannot reach the hub's store: {exc}") from exc
        if info is None:
            raise AppRefusedError(
                "not-delegated",
                f"{path} is not signed by the vendor the platform delegated its path to",
            )
        return info

    def _download(self, info: TargetFile, filename: str) -> Path:
        self.downloads.mkdir(parents=True, exist_ok=True)
        destination = self.downloads / filename
        destination.unlink(missing_ok=True)
        try:
            return Path(self._updater.download_target(info, str(destination)))
        except (
            tuf_errors.LengthOrHashMismatchError,
            tuf_errors.DownloadLengthMismatchError,
        ) as exc:
            destination.unlink(missing_ok=True)
            raise _classify(exc) from exc
        except tuf_errors.DownloadError as exc:
            destination.unlink(missing_ok=True)
            raise AppInstallError(f"cannot download {info.path}: {exc}") from exc

    def fetch(self, *, app_id: str, version: str, wheel_target: str) -> VerifiedPackage:
        """Refresh, then download and verify ``wheel_target`` and its manifest.

        The signed custom fields of the wheel's target must name ``app_id`` and
        ``version``, and the signed manifest must agree: a hub cannot hand out another
        app's (validly signed) package under this app's name.
        """
        self.refresh()
        info = self._target(wheel_target)
        custom = info.custom.get(CUSTOM_KEY) if isinstance(info.custom, dict) else None
        if not isinstance(custom, dict) or (custom.get("app_id"), custom.get("version")) != (
            app_id,
            version,
        ):
            raise AppRefusedError("mismatch", f"{wheel_target} is not signed as {app_id} {version}")
        manifest_info = self._target(str(custom.get("manifest")))
        vendor = wheel_target.split("/")[1]
        if not manifest_info.path.startswith(f"vendors/{vendor}/"):
            raise AppRefusedError("mismatch", "the manifest lies outside the wheel's vendor path")
        manifest_path = self._download(manifest_info, f"{app_id}-{version}.manifest.json")
        try:
            facts = read_manifest(manifest_path.read_bytes())
        except ManifestError as exc:
            raise AppRefusedError("mismatch", f"the signed manifest is invalid: {exc}") from exc
        finally:
            manifest_path.unlink(missing_ok=True)
        if (facts.app_id, facts.version) != (app_id, version):
            raise AppRefusedError("mismatch", f"the manifest is {facts.app_id} {facts.version}")
        wheel_path = self._download(info, wheel_target.rsplit("/", 1)[1])
        return VerifiedPackage(app_id, version, vendor, wheel_path, info.hashes["sha256"], facts)
