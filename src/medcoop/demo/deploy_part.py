"""The demo's deployment part: a partner vendor signs and publishes an app, a hospital's
edge installs it through TUF, and ``--check`` verifies the signature chain.

1. :func:`prepare` (before the edges enroll): the operator creates the hub's TUF
   repository (``medcoop store init-repo``); its offline keys go to ``operator-keys/``.
   Edges then receive the trusted root in their enrollment answer.
2. :func:`run` (after the analytics): the vendor organisation registers with the store
   and the platform approves it, also delegating ``vendors/lumen/*`` to its key; the
   vendor builds the app (``medcoop app new``'s scaffold, packaged as a wheel), signs
   its release locally and publishes it; the group asks for the app's trial (approved
   at once by its offer, unless the store's own demo part already did); St Elsewhere's
   edge installs it (``medcoop edge apps install``), every file verified.
3. :func:`check` (after the hub stopped): the signature chain in the edge's TUF cache is
   verified link by link (root → timestamp → snapshot → targets → the vendor's
   terminating role), the installed wheel's hash is the vendor-signed one, and the
   installed version imports in its own interpreter.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from medcoop.demo.cluster import DemoEdge, DemoHub

__all__ = ["APP_ID", "VENDOR", "DeployResult", "check", "prepare", "run"]

VENDOR = "lumen"
VENDOR_ORG = "Lumen Imaging"
APP_NAME = "image-count"
APP_ID = f"{VENDOR}.{APP_NAME}"
VERSION = "1.0.0"
HOSPITAL_SITE = "St Elsewhere"
_TRIAL = {
    "trial": {"days": 30, "study_cap": 500, "approval": "automatic"},
    "quote_on_request": True,
}


@dataclass(frozen=True, slots=True)
class DeployResult:
    """What the deployment part did, for ``--check``."""

    app_id: str
    version: str
    wheel_target: str
    site: str
    edge: DemoEdge
    installed_sha256: str
    python: Path


def _keys_dir(hub: DemoHub) -> Path:
    return hub.folder.parent / "operator-keys"


def prepare(hub: DemoHub) -> None:
    """Create the hub's TUF repository (before any edge enrolls)."""
    from medcoop.store.tuf.repo import TufRepository

    TufRepository.create(hub.folder / "tuf", _keys_dir(hub))


def _vendor_account(hub: DemoHub) -> tuple[Any, str]:
    """The vendor organisation, a publisher's token, its store registration and approval."""
    from medcoop.hub.db.base import utcnow
    from medcoop.hub.db.engine import begin_write, make_engine, make_session_factory
    from medcoop.hub.db.models import OrgKind, Role, TokenKind
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts
    from medcoop.hub.services.store import listings
    from medcoop.hub.settings import HubSettings

    engine = make_engine(HubSettings(database_url=hub.db_url))
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            scope_session(session, ALL_TENANTS)
            begin_write(session)  # writer from the start: the running hub shares the file
            org = accounts.create_organisation(session, VENDOR_ORG, kind=OrgKind.VENDOR)
            user = accounts.create_user(session, f"publisher@{VENDOR}.example")
            accounts.add_membership(session, org.id, user.id, Role.VENDOR_PUBLISHER)
            _token, secret = accounts.issue_token(
                session, TokenKind.PERSONAL, org.id, user_id=user.id, name="demo", ttl_s=86400
            )
            session.commit()
            org_id = org.id
        with factory() as session:
            begin_write(scope_session(session, org_id))
            listings.register_vendor(session, org_id, VENDOR, VENDOR_ORG)
            session.commit()
        with factory() as session:
            scope_session(session, ALL_TENANTS)
            begin_write(session)
            listings.approve_vendor(session, org_id, by=None, now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    return org_id, secret


def _entitle_group(hub: DemoHub, org_name: str) -> str:
    """The group requests the app's trial unless it already holds an entitlement."""
    from sqlalchemy import select

    from medcoop.hub.db.base import utcnow
    from medcoop.hub.db.engine import begin_write, make_engine, make_session_factory
    from medcoop.hub.db.models import Organisation
    from medcoop.hub.db.store_models import StoreEntitlement, StoreListing
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services.store.commerce import ListingTerms, request_trial
    from medcoop.hub.services.store.journal import Actor
    from medcoop.hub.settings import HubSettings

    engine = make_engine(HubSettings(database_url=hub.db_url))
    try:
        with make_session_factory(engine)() as session:
            scope_session(session, ALL_TENANTS)
            begin_write(session)
            org_id = session.scalar(select(Organisation.id).where(Organisation.name == org_name))
            held = session.scalar(
                select(StoreEntitlement.id).where(
                    StoreEntitlement.org_id == org_id, StoreEntitlement.listing_key == APP_ID
                )
            )
            if held is not None:
                return "already entitled"
            listing = session.scalar(select(StoreListing).where(StoreListing.listing_key == APP_ID))
            assert listing is not None and org_id is not None
            request_trial(session, ListingTerms.of(listing), Actor(org_id), now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    return "trial approved automatically"


def _build_app(folder: Path) -> tuple[Path, Path]:
    """The vendor's app: the SDK scaffold, its manifest offering a trial, as a wheel."""
    from medcoop.apps.scaffold import MANIFEST_FILE, manifest_for, new_app, package_name
    from medcoop.store.tuf.wheelfile import write_wheel

    source = new_app(APP_NAME, folder, vendor=VENDOR)
    manifest = manifest_for(APP_NAME, VENDOR, version=VERSION, offers=_TRIAL)
    manifest_path = source / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, indent=2))
    package = source / "src" / package_name(APP_NAME)
    wheel = write_wheel(
        folder / "dist", APP_ID, VERSION, package, entry_points={APP_ID: manifest["entry_point"]}
    )
    return wheel, manifest_path


def run(hub: DemoHub, edges: dict[str, DemoEdge], group: str, console: Console) -> DeployResult:
    """Vendor publishes a signed app; the group's first edge installs it."""
    from medcoop.edge.apps import install_app
    from medcoop.store.tuf.keys import generate_key_files, load_public_key, load_signer
    from medcoop.store.tuf.repo import TufRepository
    from medcoop.store.tuf.vendor import publish

    vendor_home = hub.folder.parent / "vendor"
    org_id, token = _vendor_account(hub)
    pair = generate_key_files(vendor_home / f"{VENDOR}.key")  # medcoop store keygen
    TufRepository(hub.folder / "tuf").approve_vendor(  # medcoop store approve-vendor
        VENDOR,
        org_id,
        [load_public_key(pair.public_path)],
        load_signer(_keys_dir(hub) / "targets.key"),
    )
    console.print(f"{VENDOR_ORG} approved: vendors/{VENDOR}/* delegated to key {pair.keyid[:12]}…")
    wheel, manifest = _build_app(vendor_home / "build")
    answer = publish(hub.url, token, wheel, manifest, pair.private_path)
    release = answer["releases"][0]
    console.print(
        f"{VENDOR_ORG} signed and published {APP_ID} {VERSION} as {release['wheel_target']}",
        highlight=False,
    )
    console.print(f"{group}: {_entitle_group(hub, group)} for {APP_ID}")
    edge = edges[HOSPITAL_SITE]
    installed = install_app(edge.settings, APP_ID)
    console.print(
        f"{HOSPITAL_SITE}'s edge installed {APP_ID} {installed.version} "
        f"(TUF-verified, own venv {installed.venv})",
        highlight=False,
    )
    return DeployResult(
        APP_ID,
        installed.version,
        release["wheel_target"],
        HOSPITAL_SITE,
        edge,
        installed.wheel_sha256,
        installed.python,
    )


def _verified_chain(result: DeployResult) -> tuple[str | None, bool]:
    """Verify, from the edge's own TUF cache and with the hub stopped, root → timestamp →
    snapshot → targets → the vendor's role; return the wheel's signed sha256 and whether
    the vendor's delegation is terminating. Raises on any broken link."""
    from tuf.api.metadata import Metadata

    from medcoop.edge.apps import apps_dir

    cache = apps_dir(result.edge.settings) / "tuf" / "metadata"

    def load(name: str) -> Metadata[Any]:
        return Metadata.from_bytes((cache / f"{name}.json").read_bytes())

    root, timestamp, snapshot, targets = (
        load(n) for n in ("root", "timestamp", "snapshot", "targets")
    )
    root.verify_delegate("root", root)
    for role, md in (("timestamp", timestamp), ("snapshot", snapshot), ("targets", targets)):
        root.verify_delegate(role, md)
    role = f"vendor-{VENDOR}"
    vendor = load(role)
    targets.verify_delegate(role, vendor)
    if snapshot.signed.version != timestamp.signed.snapshot_meta.version:
        raise ValueError("the snapshot is not the one the timestamp names")
    for name, md in (("targets", targets), (role, vendor)):
        if snapshot.signed.meta[f"{name}.json"].version != md.signed.version:
            raise ValueError(f"{name} is not the version the snapshot names")
    delegated = targets.signed.get_delegated_role(role)
    info = vendor.signed.targets.get(result.wheel_target)
    terminating = bool(delegated.terminating) and delegated.is_delegated_path(result.wheel_target)
    return (info.hashes.get("sha256") if info else None), terminating


def check(result: DeployResult | None) -> tuple[str, bool, str]:
    """(name, ok, detail) of the deployment's promise, for ``medcoop demo --check``."""
    name = "store app signed by its vendor, TUF-verified and installed on the edge"
    if result is None:
        return name, False, "the deployment part did not run"
    from medcoop.edge.apps import installed_apps

    try:
        sha256, terminating = _verified_chain(result)
    except Exception as exc:  # any broken link is the finding
        return name, False, f"signature chain broken: {type(exc).__name__}: {exc}"
    installed = {a.app_id: a for a in installed_apps(result.edge.settings)}
    app = installed.get(result.app_id)
    ran = subprocess.run(
        [str(result.python), "-c", "import image_count.app"], capture_output=True, timeout=60
    )
    ok = (
        sha256 == result.installed_sha256
        and terminating
        and app is not None
        and app.version == result.version
        and ran.returncode == 0
    )
    detail = (
        f"{result.app_id} {app.version if app else '—'} at {result.site}; wheel hash "
        f"{'matches' if sha256 == result.installed_sha256 else 'DIFFERS'} the vendor-signed "
        f"target; delegation {'terminating' if terminating else 'NOT terminating'}; "
        f"app imports {'ok' if ran.returncode == 0 else 'FAILED'}"
    )
    return name, ok, detail
