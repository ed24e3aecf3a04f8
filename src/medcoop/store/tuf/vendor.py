"""The vendor's side of publishing: sign the delegated role locally, upload to the hub.

``medcoop store publish WHEEL --manifest FILE --key KEY`` runs :func:`publish`: it reads
the vendor's current role metadata from the hub, checks that the vendor's own key signed
it (so a hub cannot slip a target in for the vendor to sign), adds the wheel and its
manifest as targets, bumps the version, signs with the key file (which never leaves this
machine) and uploads metadata, wheel and manifest. The hub verifies all of it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.api.serialization.json import JSONSerializer

from medcoop.store.tuf.errors import PublishRefusedError, SupplyChainError
from medcoop.store.tuf.keys import load_signer
from medcoop.store.tuf.manifests import read_manifest
from medcoop.store.tuf.repo import role_for_vendor
from medcoop.store.tuf.verify import CUSTOM_KEY, wheel_version

__all__ = [
    "PUBLISH_PATH",
    "PublishPlan",
    "build_vendor_metadata",
    "fetch_vendor_metadata",
    "plan_publish",
    "publish",
]

PUBLISH_PATH = "/api/v1/store/tuf/publish"
#: How long a vendor's signed role stays valid (the vendor re-publishes to extend it).
VENDOR_EXPIRY = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """The files of one publish and the target paths they take."""

    vendor: str
    app_id: str
    version: str
    wheel_target: str
    manifest_target: str
    wheel: bytes
    manifest: bytes


def plan_publish(wheel_path: Path, manifest_path: Path, vendor: str | None = None) -> PublishPlan:
    """Read and check the files; name their targets under ``vendors/<vendor>/``.

    The vendor is ``vendor`` or else the manifest's ``vendor``.

    Raises
    ------
    SupplyChainError
        The files disagree, or no vendor name is known.
    """
    wheel = wheel_path.read_bytes()
    manifest = manifest_path.read_bytes()
    facts = read_manifest(manifest)
    slug = vendor or facts.vendor
    if not slug:
        raise SupplyChainError("name the vendor (--vendor): the manifest names none")
    role_for_vendor(slug)  # validates the name
    try:
        version = wheel_version(wheel)
    except ValueError as exc:
        raise SupplyChainError(f"{wheel_path.name} is not a wheel: {exc}") from exc
    if version != facts.version:
        raise SupplyChainError(f"the wheel is version {version}, the manifest {facts.version}")
    return PublishPlan(
        vendor=slug,
        app_id=facts.app_id,
        version=facts.version,
        wheel_target=f"vendors/{slug}/{wheel_path.name}",
        manifest_target=f"vendors/{slug}/{facts.app_id}-{facts.version}.manifest.json",
        wheel=wheel,
        manifest=manifest,
    )


def _check_own_signature(md: Metadata[Targets], keys: list[Key]) -> None:
    """Raise unless one of ``keys`` (this key, or the vendor's earlier ones) signed ``md``."""
    for key in keys:
        signature = md.signatures.get(key.keyid)
        if signature is None:
            continue
        try:
            key.verify_signature(signature, md.signed_bytes)
        except Exception as exc:  # securesystemslib raises its own verification errors
            raise SupplyChainError(
                "the hub's copy of this vendor's metadata has a bad signature"
            ) from exc
        return
    raise SupplyChainError(
        "the hub's copy of this vendor's metadata is not signed by this key (after a key "
        "change, name the old public key with --previous-key)"
    )


def build_vendor_metadata(
    current: bytes | None,
    plan: PublishPlan,
    signer: Signer,
    *,
    previous_keys: list[Key] | None = None,
    now: datetime | None = None,
) -> bytes:
    """Return the vendor's next signed role metadata with ``plan``'s two targets added.

    ``current`` is the role's metadata as the hub serves it (``None`` before the first
    publish); it must carry a valid signature of this key or of one of
    ``previous_keys`` (the vendor's own earlier keys, after the platform approved a new one).
    """
    if current is None:
        md: Metadata[Targets] = Metadata(Targets(version=1))
    else:
        parsed = Metadata.from_bytes(current)
        if not isinstance(parsed.signed, Targets):
            raise SupplyChainError("the hub served non-targets metadata for this vendor")
        md = parsed  # type: ignore[assignment]
        _check_own_signature(md, [signer.public_key, *(previous_keys or [])])
    manifest = TargetFile.from_data(plan.manifest_target, plan.manifest, ["sha256"])
    wheel = TargetFile.from_data(plan.wheel_target, plan.wheel, ["sha256"])
    wheel.unrecognized_fields["custom"] = {
        CUSTOM_KEY: {
            "app_id": plan.app_id,
            "version": plan.version,
            "manifest": plan.manifest_target,
        }
    }
    md.signed.targets[manifest.path] = manifest
    md.signed.targets[wheel.path] = wheel
    if current is not None:
        md.signed.version += 1
    md.signed.expires = (now or datetime.now(UTC)).replace(microsecond=0) + VENDOR_EXPIRY
    md.signatures.clear()
    md.sign(signer)
    return md.to_bytes(JSONSerializer(compact=False))


def fetch_vendor_metadata(client: httpx.Client, role: str) -> bytes | None:
    """Return ``role``'s current metadata from the hub (``None`` if never published).

    Read through timestamp and snapshot as any client would; not trusted here, only
    checked against the vendor's own key by :func:`build_vendor_metadata`.
    """
    base = "/store/tuf/metadata/"
    timestamp = Metadata.from_bytes(_get(client, base + "timestamp.json"))
    snapshot_version = timestamp.signed.snapshot_meta.version  # type: ignore[attr-defined]
    snapshot = Metadata.from_bytes(_get(client, f"{base}{snapshot_version}.snapshot.json"))
    meta = snapshot.signed.meta.get(f"{role}.json")  # type: ignore[attr-defined]
    if meta is None:
        return None
    return _get(client, f"{base}{meta.version}.{role}.json")


def _get(client: httpx.Client, path: str) -> bytes:
    response = client.get(path)
    if response.status_code != 200:
        raise SupplyChainError(f"the hub answered {response.status_code} for {path}")
    return response.content


def publish(
    hub_url: str,
    token: str,
    wheel_path: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    vendor: str | None = None,
    previous_keys: list[Key] | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Sign and upload one wheel and its manifest; return the hub's answer.

    Raises
    ------
    PublishRefusedError
        The hub refused the upload (its reasons listed).
    SupplyChainError
        The files, the key or the hub's current metadata are not usable.
    """
    plan = plan_publish(Path(wheel_path), Path(manifest_path), vendor)
    signer = load_signer(key_path)
    role = role_for_vendor(plan.vendor)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub_url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        current = fetch_vendor_metadata(client, role)
        metadata = build_vendor_metadata(current, plan, signer, previous_keys=previous_keys)
        response = client.post(
            PUBLISH_PATH,
            data={
                "vendor": plan.vendor,
                "wheel_target": plan.wheel_target,
                "manifest_target": plan.manifest_target,
            },
            files={
                "metadata": (f"{role}.json", metadata, "application/json"),
                "wheel": (Path(wheel_path).name, plan.wheel, "application/octet-stream"),
                "manifest": ("manifest.json", plan.manifest, "application/json"),
            },
        )
    if response.status_code == 422:
        detail = response.json().get("detail")
        raise PublishRefusedError(detail if isinstance(detail, list) else [str(detail)])
    if response.status_code != 200:
        raise SupplyChainError(f"the hub answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body
