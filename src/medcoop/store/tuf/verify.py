"""The hub's checks of a vendor's upload: one named step each, on bytes, no I/O.

:func:`verify_vendor_upload` runs them all in order and raises one
:class:`~medcoop.store.tuf.errors.PublishRefusedError` listing every failure, so a vendor
fixes everything at once. The steps:

1. :func:`parse_vendor_metadata`: the bytes are TUF targets metadata.
2. :func:`verify_delegated_signature`: signed by the key(s) top-level targets delegates
   the vendor's role to (python-tuf's ``verify_delegate``).
3. :func:`verify_version`: newer than the version the hub holds (no rollback).
4. :func:`verify_expiry`: not expired.
5. :func:`verify_paths`: every target inside the delegation, and no sub-delegations.
6. :func:`verify_files`: each uploaded file matches its target's length and hashes; each
   target not uploaded is one the hub already stores, unchanged.
7. :func:`verify_releases`: each wheel names its manifest, the manifest is valid and
   agrees with the wheel's id and version, and the wheel is a wheel of that version.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import HeaderParser

from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import DelegatedRole, LengthOrHashMismatchError, Metadata, TargetFile, Targets

from medcoop.store.tuf.errors import PublishRefusedError
from medcoop.store.tuf.manifests import ManifestError, read_manifest

__all__ = [
    "CUSTOM_KEY",
    "CheckedRelease",
    "CheckedUpload",
    "parse_vendor_metadata",
    "verify_delegated_signature",
    "verify_expiry",
    "verify_files",
    "verify_paths",
    "verify_releases",
    "verify_vendor_upload",
    "verify_version",
    "wheel_version",
]

#: Key of a wheel target's ``custom`` object: ``{"app_id", "version", "manifest"}``.
CUSTOM_KEY = "medcoop"
Stored = Callable[[TargetFile], bytes | None]


@dataclass(frozen=True, slots=True)
class CheckedRelease:
    """A wheel target that passed every check."""

    app_id: str
    version: str
    wheel_target: str
    manifest_target: str


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """The verified metadata and the releases it adds."""

    metadata: Metadata[Targets]
    releases: list[CheckedRelease] = field(default_factory=list)


def parse_vendor_metadata(data: bytes) -> Metadata[Targets]:
    """Return ``data`` as targets metadata, or raise a refusal saying why not."""
    try:
        md = Metadata.from_bytes(data)
    except Exception as exc:  # python-tuf raises several kinds for junk bytes
        raise PublishRefusedError([f"not TUF metadata ({type(exc).__name__})"]) from exc
    if not isinstance(md.signed, Targets):
        raise PublishRefusedError([f"expected targets metadata, got {md.signed.type}"])
    return md  # type: ignore[return-value]


def verify_delegated_signature(
    top: Metadata[Targets], role: str, md: Metadata[Targets]
) -> list[str]:
    """Problems with ``md``'s signatures under ``top``'s delegation of ``role``."""
    try:
        top.verify_delegate(role, md)
    except UnsignedMetadataError:
        return [f"not signed by the key the platform approved for {role}"]
    except ValueError:
        return [f"no delegation {role} in the platform's targets metadata"]
    return []


def verify_version(current: Metadata[Targets] | None, md: Metadata[Targets]) -> list[str]:
    """Problems with ``md``'s version: it must be newer than ``current``'s."""
    if current is not None and md.signed.version <= current.signed.version:
        return [
            f"version {md.signed.version} is not newer than the hub's "
            f"{current.signed.version} (rollback)"
        ]
    return []


def verify_expiry(md: Metadata[Targets], now: datetime) -> list[str]:
    """Problems with ``md``'s expiry at ``now``."""
    if md.signed.is_expired(now):
        return [f"metadata expired at {md.signed.expires.isoformat()}"]
    return []


def verify_paths(top: Metadata[Targets], role: str, md: Metadata[Targets]) -> list[str]:
    """Problems with ``md``'s target paths: each must lie inside ``role``'s delegation."""
    try:
        delegated = top.signed.get_delegated_role(role)
    except ValueError:
        delegated = None
    if not isinstance(delegated, DelegatedRole):
        return []  # reported by verify_delegated_signature
    problems = [
        f"{path} is outside this vendor's delegation ({', '.join(delegated.paths or [])})"
        for path in md.signed.targets
        if not delegated.is_delegated_path(path)
    ]
    if md.signed.delegations is not None:
        problems.append("vendor metadata may not delegate further")
    return problems


def verify_files(
    md: Metadata[Targets],
    files: dict[str, bytes],
    *,
    current: Metadata[Targets] | None,
    stored: Stored,
) -> list[str]:
    """Problems with the uploaded files against ``md``'s targets, and with targets kept."""
    problems = [
        f"{path} was uploaded but is not in the metadata"
        for path in files
        if path not in md.signed.targets
    ]
    for path, info in md.signed.targets.items():
        if "sha256" not in info.hashes:
            problems.append(f"{path}: a sha256 hash is required")
            continue
        if path in files:
            try:
                info.verify_length_and_hashes(files[path])
            except LengthOrHashMismatchError as exc:
                problems.append(f"{path}: the uploaded file does not match its metadata ({exc})")
            continue
        kept = current.signed.targets.get(path) if current is not None else None
        if kept != info or stored(info) is None:
            problems.append(f"{path} is neither uploaded nor already published unchanged")
    return problems


def wheel_version(data: bytes) -> str:
    """Return the ``Version`` in a wheel's ``*.dist-info/METADATA`` (ValueError if none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            names = [
                n
                for n in wheel.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise ValueError("a wheel has exactly one .dist-info/METADATA")
            headers = HeaderParser().parsestr(wheel.read(names[0]).decode("utf-8"))
    except zipfile.BadZipFile as exc:
        raise ValueError("not a zip archive") from exc
    version = headers.get("Version")
    if not version:
        raise ValueError("METADATA names no Version")
    return str(version)


def _release_problems(
    path: str, info: TargetFile, md: Metadata[Targets], files: dict[str, bytes], stored: Stored
) -> tuple[list[str], CheckedRelease | None]:
    custom = info.custom.get(CUSTOM_KEY) if isinstance(info.custom, dict) else None
    if not isinstance(custom, dict) or not all(
        isinstance(custom.get(k), str) for k in ("app_id", "version", "manifest")
    ):
        return [f"{path}: custom.{CUSTOM_KEY} must name app_id, version and manifest"], None
    manifest_path = custom["manifest"]
    manifest_info = md.signed.targets.get(manifest_path)
    if manifest_info is None:
        return [f"{path}: its manifest {manifest_path} is not a target of this metadata"], None
    manifest = files.get(manifest_path)
    if manifest is None:
        manifest = stored(manifest_info)
    wheel = files[path]
    problems: list[str] = []
    try:
        facts = read_manifest(manifest or b"")
    except ManifestError as exc:
        return [f"{manifest_path}: {error}" for error in exc.errors], None
    if (facts.app_id, facts.version) != (custom["app_id"], custom["version"]):
        problems.append(
            f"{path}: the manifest says {facts.app_id} {facts.version}, the metadata "
            f"{custom['app_id']} {custom['version']}"
        )
    try:
        version = wheel_version(wheel)
    except ValueError as exc:
        problems.append(f"{path}: not a wheel ({exc})")
    else:
        if version != facts.version:
            problems.append(f"{path}: the wheel is version {version}, the manifest {facts.version}")
    release = CheckedRelease(facts.app_id, facts.version, path, manifest_path)
    return problems, None if problems else release


def verify_releases(
    md: Metadata[Targets], files: dict[str, bytes], stored: Stored
) -> tuple[list[str], list[CheckedRelease]]:
    """Problems with each uploaded wheel and its manifest; the releases that passed."""
    problems: list[str] = []
    releases: list[CheckedRelease] = []
    for path in files:
        info = md.signed.targets.get(path)
        if info is None or not path.endswith(".whl"):
            continue
        found, release = _release_problems(path, info, md, files, stored)
        problems.extend(found)
        if release is not None:
            releases.append(release)
    if not any(path.endswith(".whl") for path in files):
        problems.append("no wheel was uploaded")
    return problems, releases


def verify_vendor_upload(
    top: Metadata[Targets],
    role: str,
    data: bytes,
    files: dict[str, bytes],
    *,
    current: Metadata[Targets] | None,
    stored: Stored,
    now: datetime,
) -> CheckedUpload:
    """Run every check on a vendor's upload; return it verified or raise every problem.

    Raises
    ------
    PublishRefusedError
        One or more checks failed (all are listed).
    """
    md = parse_vendor_metadata(data)
    problems = verify_delegated_signature(top, role, md)
    problems += verify_version(current, md)
    problems += verify_expiry(md, now)
    problems += verify_paths(top, role, md)
    file_problems = verify_files(md, files, current=current, stored=stored)
    problems += file_problems
    releases: list[CheckedRelease] = []
    if not file_problems:
        release_problems, releases = verify_releases(md, files, stored)
        problems += release_problems
    if problems:
        raise PublishRefusedError(problems)
    return CheckedUpload(md, releases)
