"""The hub's TUF repository: one folder of files, served at ``/store/tuf/``.

Layout of the repository folder (``HubSettings.resolved_store_tuf_dir``)::

    metadata/                 what is served at /store/tuf/metadata/
      1.root.json, 2.root.json …, root.json (the newest root, for enrollment)
      timestamp.json, N.snapshot.json, N.targets.json, N.vendor-<slug>.json
    targets/vendors/<slug>/<sha256>.<file>   what is served at /store/tuf/targets/
    online/snapshot.key, online/timestamp.key   the hub's online keys (0600)
    vendors.json              which organisation may upload for which vendor role
    releases.json             unsigned index of published wheels (app id → versions)
    .lock                     serialises writers (several hub workers, the CLI)

Roles: ``root`` and top-level ``targets`` are signed by offline keys (files the operator
holds, created by :meth:`TufRepository.create`); ``snapshot`` and ``timestamp`` by the
online keys, with short expiry (:class:`ExpiryPolicy`), re-signed by :meth:`refresh`.
Top-level ``targets`` delegates ``vendors/<slug>/*`` to each approved vendor's key as a
*terminating* delegation named ``vendor-<slug>``; vendors sign that role's metadata on
their own machines, and :meth:`publish` only verifies and stores it.

Consistent snapshots are on: metadata files carry their version and targets their hash in
the name, so a publish never changes a file a client may be reading.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from medcoop.store.tuf import verify
from medcoop.store.tuf.errors import PublishRefusedError, RepositoryError
from medcoop.store.tuf.keys import generate_key_files, load_signer

__all__ = [
    "ONLINE_ROLES",
    "ExpiryPolicy",
    "InitResult",
    "PublishResult",
    "Release",
    "TufRepository",
    "role_for_vendor",
]

ONLINE_ROLES = ("snapshot", "timestamp")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_METADATA_NAME = re.compile(
    r"^(?:[0-9]{1,12}\.)?(?:root|timestamp|snapshot|targets|vendor-[a-z0-9-]{1,64})\.json$"
)
_TARGET_NAME = re.compile(r"^vendors/[a-z0-9-]{1,64}/[0-9a-f]{64}\.[A-Za-z0-9._+-]{1,200}$")
_SERIALIZER = JSONSerializer(compact=False)


def role_for_vendor(slug: str) -> str:
    """Return the delegated role name of vendor ``slug`` (``vendor-<slug>``)."""
    if not _SLUG.match(slug):
        raise RepositoryError(
            f"vendor name {slug!r} must be 1–64 lower-case letters, digits or inner hyphens"
        )
    return f"vendor-{slug}"


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """How long each role's metadata stays valid once signed.

    ``snapshot_s`` and ``timestamp_s`` are short on purpose: a client that stops seeing
    fresh ones (a frozen or replaying mirror) refuses to update after at most that long.
    """

    root_days: int = 365
    targets_days: int = 365
    snapshot_s: int = 7 * 86400
    timestamp_s: int = 86400


@dataclass(frozen=True, slots=True)
class InitResult:
    """What :meth:`TufRepository.create` wrote: the offline key files and the root's key ids."""

    root_key: Path
    targets_key: Path
    keyids: dict[str, str]


@dataclass(frozen=True, slots=True)
class Release:
    """One published wheel: its app, version, vendor and the TUF target paths to fetch."""

    app_id: str
    version: str
    vendor: str
    wheel_target: str
    manifest_target: str
    published_at: str

    def to_dict(self) -> dict[str, str]:
        """Return the release as JSON-able data."""
        return {
            "app_id": self.app_id,
            "version": self.version,
            "vendor": self.vendor,
            "wheel_target": self.wheel_target,
            "manifest_target": self.manifest_target,
            "published_at": self.published_at,
        }


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a successful publish stored."""

    role: str
    version: int
    snapshot_version: int
    releases: list[Release] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class TufRepository:
    """The hub's TUF repository in folder ``root``.

    Readers (serving files) need no lock: every write lands by an atomic rename, and
    versioned files never change. Writers take :meth:`_locked`.
    """

    def __init__(self, root: str | os.PathLike[str], policy: ExpiryPolicy | None = None) -> None:
        self.root = Path(root)
        self.policy = policy or ExpiryPolicy()
        self.metadata_dir = self.root / "metadata"
        self.targets_dir = self.root / "targets"

    # --- creation and paths -------------------------------------------------------------

    @property
    def exists(self) -> bool:
        """Whether the repository has been created (``medcoop store init-repo``)."""
        return (self.metadata_dir / "timestamp.json").is_file()

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        offline_keys_dir: str | os.PathLike[str],
        policy: ExpiryPolicy | None = None,
    ) -> tuple[TufRepository, InitResult]:
        """Create a repository in ``root`` with new keys; the offline ones in ``offline_keys_dir``.

        The root and top-level targets keys are written to ``offline_keys_dir`` (the
        operator moves them off the hub); the online snapshot and timestamp keys stay in
        ``root/online``.

        Raises
        ------
        RepositoryError
            A repository already exists in ``root``.
        KeyFileError
            A key file would be overwritten.
        """
        repo = cls(root, policy)
        if repo.exists:
            raise RepositoryError(f"a TUF repository already exists in {repo.root}")
        offline = Path(offline_keys_dir)
        root_pair = generate_key_files(offline / "root.key")
        targets_pair = generate_key_files(offline / "targets.key")
        online = {
            role: generate_key_files(repo.root / "online" / f"{role}.key") for role in ONLINE_ROLES
        }
        signers = {
            "root": load_signer(root_pair.private_path),
            "targets": load_signer(targets_pair.private_path),
        } | {role: load_signer(pair.private_path) for role, pair in online.items()}
        now = _now()
        root_md = Metadata(Root(expires=now + timedelta(days=repo.policy.root_days)))
        for role, signer in signers.items():
            root_md.signed.add_key(signer.public_key, role)
        with repo._locked():
            repo._sign_and_write(root_md, signers["root"])
            targets = Metadata(Targets(expires=now + timedelta(days=repo.policy.targets_days)))
            repo._sign_and_write(targets, signers["targets"])
            snapshot = Metadata(
                Snapshot(
                    expires=now + timedelta(seconds=repo.policy.snapshot_s),
                    meta={"targets.json": MetaFile(version=1)},
                )
            )
            repo._sign_and_write(snapshot, signers["snapshot"])
            timestamp = Metadata(
                Timestamp(
                    expires=now + timedelta(seconds=repo.policy.timestamp_s),
                    snapshot_meta=MetaFile(version=1),
                )
            )
            repo._sign_and_write(timestamp, signers["timestamp"])
            _write_atomic(repo.root / "vendors.json", b"{}\n")
            _write_atomic(repo.root / "releases.json", b"[]\n")
        keyids = {role: signer.public_key.keyid for role, signer in signers.items()}
        return repo, InitResult(root_pair.private_path, targets_pair.private_path, keyids)

    def metadata_file(self, name: str) -> Path | None:
        """Return the served metadata file called ``name``, or ``None`` (unknown or malformed)."""
        if not _METADATA_NAME.match(name):
            return None
        path = self.metadata_dir / name
        return path if path.is_file() else None

    def target_file(self, target: str) -> Path | None:
        """Return the served target file at ``target`` (``vendors/<slug>/<sha256>.<name>``)."""
        if not _TARGET_NAME.match(target) or ".." in target:
            return None
        path = self.targets_dir / target
        return path if path.is_file() else None

    def trusted_root(self) -> bytes:
        """Return the newest root metadata (what an edge receives at enrollment).

        Raises
        ------
        RepositoryError
            The repository has not been created.
        """
        path = self.metadata_dir / "root.json"
        if not path.is_file():
            raise RepositoryError(
                "the hub's TUF repository is not set up (medcoop store init-repo)"
            )
        return path.read_bytes()

    # --- reading the current state ----------------------------------------------------

    def _read(self, name: str, kind: type[Signed]) -> Metadata[Any]:
        path = self.metadata_dir / name
        try:
            md = Metadata.from_bytes(path.read_bytes())
        except OSError as exc:
            raise RepositoryError(
                f"TUF metadata {name} is missing: is the repository set up?"
            ) from exc
        if not isinstance(md.signed, kind):
            raise RepositoryError(f"{name} holds {md.signed.type} metadata, not {kind.type}")
        return md

    def root_metadata(self) -> Metadata[Root]:
        """Return the newest root."""
        md: Metadata[Root] = self._read("root.json", Root)
        return md

    def timestamp_metadata(self) -> Metadata[Timestamp]:
        """Return the current timestamp."""
        md: Metadata[Timestamp] = self._read("timestamp.json", Timestamp)
        return md

    def snapshot_metadata(self) -> Metadata[Snapshot]:
        """Return the snapshot the current timestamp names."""
        version = self.timestamp_metadata().signed.snapshot_meta.version
        md: Metadata[Snapshot] = self._read(f"{version}.snapshot.json", Snapshot)
        return md

    def targets_metadata(self, role: str = "targets") -> Metadata[Targets] | None:
        """Return the current metadata of ``role`` (top-level or delegated), if published."""
        meta = self.snapshot_metadata().signed.meta.get(f"{role}.json")
        if meta is None:
            return None
        md: Metadata[Targets] = self._read(f"{meta.version}.{role}.json", Targets)
        return md

    def vendor_bindings(self) -> dict[str, str]:
        """Return vendor slug → id of the organisation allowed to upload for it."""
        data = json.loads((self.root / "vendors.json").read_text())
        return {str(k): str(v) for k, v in data.items()}

    def releases(self, app_id: str | None = None) -> list[Release]:
        """Return the published wheels (of ``app_id`` only, if given), oldest first."""
        rows = json.loads((self.root / "releases.json").read_text())
        releases = [Release(**row) for row in rows]
        return [r for r in releases if app_id is None or r.app_id == app_id]

    # --- writing ------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sign_and_write(self, md: Metadata[Any], signer: Signer) -> bytes:
        md.signatures.clear()
        md.sign(signer)
        data = md.to_bytes(_SERIALIZER)
        return self._write_role(md.signed.type, md.signed.version, data)

    def _write_role(self, role: str, version: int, data: bytes) -> bytes:
        if role == "timestamp":
            _write_atomic(self.metadata_dir / "timestamp.json", data)
            return data
        _write_atomic(self.metadata_dir / f"{version}.{role}.json", data)
        if role == "root":
            _write_atomic(self.metadata_dir / "root.json", data)
        return data

    def _online_signer(self, role: str) -> Signer:
        return load_signer(self.root / "online" / f"{role}.key")

    def _new_snapshot(self, changed: dict[str, int], now: datetime) -> int:
        """Sign a snapshot with ``changed`` role versions and a timestamp for it."""
        snapshot = self.snapshot_metadata()
        for role, version in changed.items():
            snapshot.signed.meta[f"{role}.json"] = MetaFile(version=version)
        snapshot.signed.version += 1
        snapshot.signed.expires = now + timedelta(seconds=self.policy.snapshot_s)
        self._sign_and_write(snapshot, self._online_signer("snapshot"))
        self._new_timestamp(snapshot.signed.version, now)
        return snapshot.signed.version

    def _new_timestamp(self, snapshot_version: int, now: datetime) -> None:
        timestamp = self.timestamp_metadata()
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot_version)
        timestamp.signed.version += 1
        timestamp.signed.expires = now + timedelta(seconds=self.policy.timestamp_s)
        self._sign_and_write(timestamp, self._online_signer("timestamp"))

    def refresh(self, now: datetime | None = None, *, force: bool = False) -> bool:
        """Re-sign snapshot and timestamp when half their lifetime is gone; return if it did.

        Run by the hub's worker (``TufRefresher``) and ``medcoop store refresh``, so an
        idle repository never freezes its clients.
        """
        now = now or _now()
        with self._locked():
            snapshot = self.snapshot_metadata().signed
            timestamp = self.timestamp_metadata().signed
            if force or snapshot.expires - now < timedelta(seconds=self.policy.snapshot_s / 2):
                self._new_snapshot({}, now)
                return True
            if timestamp.expires - now < timedelta(seconds=self.policy.timestamp_s / 2):
                self._new_timestamp(timestamp.snapshot_meta.version, now)
                return True
        return False

    def approve_vendor(
        self, slug: str, org_id: uuid.UUID | str, keys: list[Key], targets_signer: Signer
    ) -> int:
        """Delegate ``vendors/<slug>/*`` to ``keys`` (terminating); bind it to ``org_id``.

        Re-approving a vendor replaces its keys: a lost or stolen vendor key is revoked
        this way. Needs the offline top-level targets key. Returns the new targets version.

        Raises
        ------
        RepositoryError
            ``targets_signer`` is not the top-level targets key, or ``keys`` is empty.
        """
        role = role_for_vendor(slug)
        if not keys:
            raise RepositoryError("a vendor needs at least one key")
        with self._locked():
            root = self.root_metadata().signed
            if targets_signer.public_key.keyid not in root.roles["targets"].keyids:
                raise RepositoryError("that key is not the top-level targets key of this root")
            targets = self.targets_metadata()
            assert targets is not None
            delegations = targets.signed.delegations or Delegations(keys={}, roles={})
            targets.signed.delegations = delegations
            assert delegations.roles is not None
            old = delegations.roles.get(role)
            delegations.roles[role] = DelegatedRole(
                name=role, keyids=[], threshold=1, terminating=True, paths=[f"vendors/{slug}/*"]
            )
            if old is not None:
                for keyid in old.keyids:
                    if not any(keyid in r.keyids for r in delegations.roles.values()):
                        delegations.keys.pop(keyid, None)
            for key in keys:
                targets.signed.add_key(key, role)
            targets.signed.version += 1
            targets.signed.expires = _now() + timedelta(days=self.policy.targets_days)
            self._sign_and_write(targets, targets_signer)
            bindings = self.vendor_bindings() | {slug: str(org_id)}
            _write_atomic(self.root / "vendors.json", json.dumps(bindings, indent=2).encode())
            self._new_snapshot({"targets": targets.signed.version}, _now())
            return targets.signed.version

    def rotate_online_key(self, role: str, root_signer: Signer) -> str:
        """Replace the online key of ``role`` (snapshot or timestamp) through a new root.

        The new root revokes the old key: clients that update root never again accept
        metadata it signs. Returns the new key's id.
        """
        if role not in ONLINE_ROLES:
            raise RepositoryError(f"only {', '.join(ONLINE_ROLES)} keys are online")
        with self._locked():
            root = self.root_metadata()
            if root_signer.public_key.keyid not in root.signed.roles["root"].keyids:
                raise RepositoryError("that key is not this repository's root key")
            old_key = self.root / "online" / f"{role}.key"
            retired = old_key.with_name(f"{role}.key.retired-v{root.signed.version}")
            os.replace(old_key, retired)
            os.replace(
                old_key.with_name(f"{role}.key.pub"), retired.with_name(retired.name + ".pub")
            )
            pair = generate_key_files(old_key)
            new_key = load_signer(pair.private_path).public_key
            for keyid in list(root.signed.roles[role].keyids):
                root.signed.revoke_key(keyid, role)
            root.signed.add_key(new_key, role)
            root.signed.version += 1
            root.signed.expires = _now() + timedelta(days=self.policy.root_days)
            self._sign_and_write(root, root_signer)
            self._new_snapshot({}, _now())
            return new_key.keyid

    def publish(
        self, org_id: uuid.UUID | str, slug: str, metadata: bytes, files: dict[str, bytes]
    ) -> PublishResult:
        """Verify a vendor's signed role metadata and uploaded files; store them; re-snapshot.

        ``files`` maps target paths to their bytes (the new wheel and its manifest);
        targets the metadata lists but that are not uploaded must already be stored, with
        the same length and hashes. Every check is run and every failure reported.

        Raises
        ------
        PublishRefusedError
            Any check failed; nothing was stored.
        """
        role = role_for_vendor(slug)
        with self._locked():
            if self.vendor_bindings().get(slug) != str(org_id):
                raise PublishRefusedError(
                    [f"vendor {slug!r} is not approved for this organisation (ask the platform)"]
                )
            top = self.targets_metadata()
            assert top is not None
            current = self.targets_metadata(role)
            checked = verify.verify_vendor_upload(
                top,
                role,
                metadata,
                files,
                current=current,
                stored=lambda target: self._stored_target(target),
                now=_now(),
            )
            for target, data in files.items():
                info = checked.metadata.signed.targets[target]
                self._store_target(info, data)
            self._write_role(role, checked.metadata.signed.version, metadata)
            releases = [
                Release(
                    app_id=r.app_id,
                    version=r.version,
                    vendor=slug,
                    wheel_target=r.wheel_target,
                    manifest_target=r.manifest_target,
                    published_at=_now().isoformat(),
                )
                for r in checked.releases
            ]
            self._record_releases(releases)
            snapshot_version = self._new_snapshot({role: checked.metadata.signed.version}, _now())
        return PublishResult(role, checked.metadata.signed.version, snapshot_version, releases)

    def _stored_path(self, info: TargetFile) -> Path:
        directory, _, name = info.path.rpartition("/")
        return self.targets_dir / directory / f"{info.hashes['sha256']}.{name}"

    def _stored_target(self, info: TargetFile) -> bytes | None:
        if "sha256" not in info.hashes:
            return None
        path = self._stored_path(info)
        return path.read_bytes() if path.is_file() else None

    def _store_target(self, info: TargetFile, data: bytes) -> None:
        path = self._stored_path(info)
        if not path.is_file():
            _write_atomic(path, data)

    def _record_releases(self, new: list[Release]) -> None:
        known = {(r.app_id, r.version) for r in new}
        kept = [r for r in self.releases() if (r.app_id, r.version) not in known]
        rows = [r.to_dict() for r in [*kept, *new]]
        _write_atomic(self.root / "releases.json", json.dumps(rows, indent=2).encode())
