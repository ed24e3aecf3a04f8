"""``medcoop store`` commands of the signed package repository (TUF).

Operator (on the hub, with the offline keys at hand): ``init-repo``, ``approve-vendor``,
``rotate-key``, ``refresh``. Vendor (on the vendor's own machine): ``keygen``,
``publish``. :func:`register` adds them to the store's Typer app.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

__all__ = ["register"]

console = Console()
err = Console(stderr=True)

RepoOption = typer.Option(
    None,
    "--repo",
    help="The hub's TUF repository folder (default: $MEDCOOP_HOME/hub/tuf).",
)
DbOption = typer.Option(None, "--db", envvar="MEDCOOP_HUB_DB", help="The hub's database URL.")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(1)


def _repo(path: Path | None):  # type: ignore[no-untyped-def]
    from medcoop.hub.settings import HubSettings
    from medcoop.store.tuf.repo import TufRepository

    folder = path or HubSettings().resolved_store_tuf_dir
    return TufRepository(folder)


def init_repo(
    keys_dir: Path = typer.Option(
        ...,
        "--keys-dir",
        help="Where to write the offline root and targets keys (move them off the hub).",
    ),
    repo: Path | None = RepoOption,
) -> None:
    """Create the hub's TUF repository: offline root and targets keys, online snapshot and
    timestamp keys, and the first signed metadata."""
    from medcoop.store.tuf.errors import SupplyChainError
    from medcoop.store.tuf.repo import TufRepository

    target = _repo(repo).root
    try:
        _created, result = TufRepository.create(target, keys_dir)
    except SupplyChainError as exc:
        _fail(str(exc))
        return
    console.print(f"TUF repository created in {target}", highlight=False)
    console.print(f"offline root key:    {result.root_key}", highlight=False)
    console.print(f"offline targets key: {result.targets_key}", highlight=False)
    for role, keyid in sorted(result.keyids.items()):
        console.print(f"  {role:<9} {keyid}", highlight=False)
    console.print("keep the offline keys off the hub; they sign root and vendor approvals")


def keygen(
    key: Path = typer.Argument(..., help="The private key file to create (mode 0600)."),
) -> None:
    """Create a vendor's signing key (``KEY`` and ``KEY.pub``); send only ``KEY.pub`` to the
    platform, which approves it for your vendor path."""
    from medcoop.store.tuf.errors import SupplyChainError
    from medcoop.store.tuf.keys import generate_key_files

    try:
        pair = generate_key_files(key)
    except SupplyChainError as exc:
        _fail(str(exc))
        return
    console.print(f"private key: {pair.private_path} (never leaves this machine)", highlight=False)
    console.print(f"public key:  {pair.public_path} (key id {pair.keyid})", highlight=False)


def approve_vendor(
    vendor: str = typer.Argument(..., help="The vendor's slug (its path is vendors/<slug>/*)."),
    pubkey: Path = typer.Option(..., "--pubkey", exists=True, help="The vendor's KEY.pub."),
    org: str = typer.Option(..., "--org", help="The vendor organisation (name or id)."),
    targets_key: Path = typer.Option(..., "--targets-key", help="The offline targets key."),
    repo: Path | None = RepoOption,
    db: str | None = DbOption,
) -> None:
    """Delegate ``vendors/<vendor>/*`` to the vendor's key (terminating); re-approving with
    a new key revokes the old one."""
    from medcoop.hub.cli import _org_id, _session, _settings
    from medcoop.store.tuf.errors import SupplyChainError
    from medcoop.store.tuf.keys import load_public_key, load_signer

    with _session(_settings(db)) as session:
        org_id = _org_id(session, org)
    try:
        version = _repo(repo).approve_vendor(
            vendor, org_id, [load_public_key(pubkey)], load_signer(targets_key)
        )
    except SupplyChainError as exc:
        _fail(str(exc))
        return
    console.print(f"vendor {vendor} approved (targets version {version})", highlight=False)


def rotate_key(
    role: str = typer.Argument(..., help="snapshot or timestamp"),
    root_key: Path = typer.Option(..., "--root-key", help="The offline root key."),
    repo: Path | None = RepoOption,
) -> None:
    """Replace an online key through a new root that revokes the old one."""
    from medcoop.store.tuf.errors import SupplyChainError
    from medcoop.store.tuf.keys import load_signer

    try:
        keyid = _repo(repo).rotate_online_key(role, load_signer(root_key))
    except SupplyChainError as exc:
        _fail(str(exc))
        return
    console.print(f"new {role} key {keyid}; the new root revokes the old one", highlight=False)


def refresh(
    force: bool = typer.Option(False, "--force", help="Re-sign even if not due."),
    repo: Path | None = RepoOption,
) -> None:
    """Re-sign snapshot and timestamp if half their lifetime is gone (the worker does this)."""
    done = _repo(repo).refresh(force=force)
    console.print("re-signed" if done else "still fresh: nothing to do")


def publish(
    wheel: Path = typer.Argument(..., exists=True, dir_okay=False, help="The app's wheel."),
    manifest: Path = typer.Option(..., "--manifest", exists=True, help="Its manifest.json."),
    key: Path = typer.Option(..., "--key", exists=True, help="Your private signing key."),
    hub: str = typer.Option(..., "--hub", envvar="MEDCOOP_HUB_URL", help="The hub's URL."),
    token: str = typer.Option(
        ..., "--token", envvar="MEDCOOP_TOKEN", help="Your personal access token (mcp_...)."
    ),
    vendor: str | None = typer.Option(None, help="Vendor slug (default: the manifest's)."),
    previous_key: list[Path] = typer.Option(
        [], "--previous-key", help="Your old KEY.pub, after the platform approved a new key."
    ),
) -> None:
    """Sign a release locally (the key never leaves this machine) and upload wheel, manifest
    and signed metadata; the hub verifies everything and lists the release."""
    from medcoop.store.tuf.errors import PublishRefusedError, SupplyChainError
    from medcoop.store.tuf.keys import load_public_key
    from medcoop.store.tuf.manifests import ManifestError
    from medcoop.store.tuf.vendor import publish as publish_release

    try:
        previous = [load_public_key(path) for path in previous_key]
        answer = publish_release(
            hub, token, wheel, manifest, key, vendor=vendor, previous_keys=previous
        )
    except PublishRefusedError as exc:
        err.print(f"[red]the hub refused the release ({len(exc.reasons)} problems):[/red]")
        for reason in exc.reasons:
            err.print(f"  - {reason}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except (SupplyChainError, ManifestError, OSError) as exc:
        _fail(str(exc))
        return
    for release in answer.get("releases", []):
        console.print(
            f"published {release['app_id']} {release['version']} as {release['wheel_target']} "
            f"({answer['role']} version {answer['version']})",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the TUF commands to the store's Typer ``app``."""
    app.command("init-repo")(init_repo)
    app.command("approve-vendor")(approve_vendor)
    app.command("rotate-key")(rotate_key)
    app.command("refresh")(refresh)
    app.command("keygen")(keygen)
    app.command("publish")(publish)
