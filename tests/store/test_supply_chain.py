"""Supply-chain attacks against the edge's real updater (tuf.ngclient over HTTP).

Each attack is played by someone holding what that attacker would hold (a vendor's own
key, the hub's files or its online keys, a retired key), against a real hub serving
the repository. Every one must be refused with its code, audited at the edge, reported
to the hub, and leave nothing installed.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.api.serialization.json import JSONSerializer

from medcoop.edge.apps import AppRefusedError, apps_dir, install_app, installed_apps
from medcoop.store.tuf.keys import load_signer
from medcoop.store.tuf.vendor import PUBLISH_PATH
from medcoop.store.tuf.verify import CUSTOM_KEY
from tests.store.conftest import StoreWorld, Vendor
from tests.store.wheels import build_app

APP = "acme.dose"


def _refused(world: StoreWorld, code: str, version: str | None = None) -> AppRefusedError:
    before = installed_apps(world.edge)
    with pytest.raises(AppRefusedError) as caught:
        install_app(world.edge, APP, version)
    assert caught.value.code == code, caught.value
    assert installed_apps(world.edge) == before
    # nothing of the refused version is left on disk
    versions = {a.version for a in before}
    folder = apps_dir(world.edge) / APP
    left = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    assert left <= versions
    assert not list((apps_dir(world.edge) / ".downloads").glob("*.whl"))
    audit = (apps_dir(world.edge) / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["action"] == "refused"
    token = world.hub.physicist_token()
    refusals = httpx.get(
        world.hub.url + "/api/v1/store/installs", headers={"Authorization": f"Bearer {token}"}
    ).json()["refusals"]
    assert refusals[0]["app_id"] == APP and refusals[0]["detail"].startswith(code)
    # and a notice to the hospital's organisation waits in the store's outbox
    with sqlite3.connect(world.hub.db_path) as db:
        notices = [
            r[0] for r in db.execute("SELECT message FROM store_notices WHERE subject='install'")
        ]
    assert any(f"refused {APP}" in n and code in n for n in notices), notices
    return caught.value


def _stored_wheel(world: StoreWorld, version: str) -> Path:
    (path,) = world.repo.targets_dir.glob(f"vendors/acme/*.acme_dose-{version}-py3-none-any.whl")
    return path


def _sign_timestamp(world: StoreWorld, key: Path, *, expires: datetime, bump: int = 1) -> None:
    md = world.repo.timestamp_metadata()
    md.signed.version += bump
    md.signed.expires = expires.replace(microsecond=0)
    md.signatures.clear()
    md.sign(load_signer(key))
    (world.repo.metadata_dir / "timestamp.json").write_bytes(md.to_bytes(JSONSerializer()))


@pytest.fixture
def acme(world: StoreWorld) -> Vendor:
    vendor = world.vendor("acme")
    world.publish(vendor, APP, "1.0.0")
    world.entitle(APP)
    return vendor


def test_a_vendor_cannot_publish_into_another_vendors_path(world: StoreWorld, acme: Vendor) -> None:
    evil = world.vendor("evil")
    wheel, manifest = build_app(world.folder / "evil", APP, "9.0.0", "acme")
    wheel_target = "vendors/acme/acme_dose-9.0.0-py3-none-any.whl"
    manifest_target = "vendors/acme/acme.dose-9.0.0.manifest.json"
    files = {wheel_target: wheel.read_bytes(), manifest_target: manifest.read_bytes()}
    md = Metadata(Targets(expires=datetime.now(UTC) + timedelta(days=30)))
    for path, data in files.items():
        md.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
    wheel_info = md.signed.targets["vendors/acme/acme_dose-9.0.0-py3-none-any.whl"]
    wheel_info.unrecognized_fields["custom"] = {
        CUSTOM_KEY: {
            "app_id": APP,
            "version": "9.0.0",
            "manifest": "vendors/acme/acme.dose-9.0.0.manifest.json",
        }
    }
    md.sign(load_signer(evil.key))
    signed = md.to_bytes(JSONSerializer())
    # the hub refuses it ...
    answer = httpx.post(
        world.hub.url + PUBLISH_PATH,
        headers={"Authorization": f"Bearer {evil.token}"},
        data={"vendor": "evil", "wheel_target": wheel_target, "manifest_target": manifest_target},
        files={
            "metadata": ("m.json", signed),
            "wheel": ("w.whl", files[wheel_target]),
            "manifest": ("m.json", files[manifest_target]),
        },
    )
    assert answer.status_code == 422  # (test_tuf_repo checks the delegation's own reason)
    # ... and an edge refuses it even from a compromised hub that serves it anyway
    world.repo._write_role("vendor-evil", md.signed.version, signed)
    for info in md.signed.targets.values():
        world.repo._store_target(info, files[info.path])
    world.repo._new_snapshot({"vendor-evil": md.signed.version}, datetime.now(UTC))
    rows = json.loads((world.repo.root / "releases.json").read_text())
    rows.append(
        {
            **rows[0],
            "version": "9.0.0",
            "wheel_target": wheel_target,
            "manifest_target": manifest_target,
        }
    )
    (world.repo.root / "releases.json").write_text(json.dumps(rows))
    _refused(world, "not-delegated", "9.0.0")


def test_a_tampered_wheel_is_refused(world: StoreWorld, acme: Vendor) -> None:
    stored = _stored_wheel(world, "1.0.0")
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # same length, one byte changed
    stored.write_bytes(bytes(data))
    _refused(world, "hash-or-length")


def test_a_wheel_longer_than_signed_is_refused(world: StoreWorld, acme: Vendor) -> None:
    stored = _stored_wheel(world, "1.0.0")
    stored.write_bytes(stored.read_bytes() + b"\0" * 64)
    _refused(world, "hash-or-length")


def test_a_replayed_old_timestamp_is_refused(world: StoreWorld, acme: Vendor) -> None:
    old = (world.repo.metadata_dir / "timestamp.json").read_bytes()
    world.publish(acme, APP, "1.1.0")
    install_app(world.edge, APP, "1.1.0")  # the edge has seen the newer timestamp
    (world.repo.metadata_dir / "timestamp.json").write_bytes(old)
    _refused(world, "rollback", "1.0.0")
    assert [a.version for a in installed_apps(world.edge)] == ["1.1.0"]


def test_a_replayed_old_snapshot_is_refused(world: StoreWorld, acme: Vendor) -> None:
    install_app(world.edge, APP)
    current = world.repo.timestamp_metadata().signed.snapshot_meta.version
    old = (world.repo.metadata_dir / f"{current}.snapshot.json").read_bytes()
    world.publish(acme, APP, "1.1.0")
    newest = world.repo.timestamp_metadata().signed.snapshot_meta.version
    (world.repo.metadata_dir / f"{newest}.snapshot.json").write_bytes(old)
    _refused(world, "rollback", "1.1.0")
    assert [a.version for a in installed_apps(world.edge)] == ["1.0.0"]


def test_expired_metadata_is_refused(world: StoreWorld, acme: Vendor) -> None:
    # the hub's own timestamp key, an expiry in the past: a frozen repository
    key = world.repo.root / "online" / "timestamp.key"
    _sign_timestamp(world, key, expires=datetime.now(UTC) - timedelta(minutes=5))
    _refused(world, "frozen")


def test_a_key_revoked_by_a_new_root_is_refused(world: StoreWorld, acme: Vendor) -> None:
    world.repo.rotate_online_key("timestamp", world.root_signer())
    assert world.repo.root_metadata().signed.version == 2
    install_app(world.edge, APP)  # the edge follows the rotation (root 1 -> 2)
    trusted = json.loads((apps_dir(world.edge) / "tuf" / "metadata" / "root.json").read_text())
    assert trusted["signed"]["version"] == 2
    world.publish(acme, APP, "1.1.0")
    # whoever kept the retired key signs a newer timestamp: the new root no longer lists it
    (retired,) = (world.repo.root / "online").glob("timestamp.key.retired-*[0-9]")
    _sign_timestamp(world, retired, expires=datetime.now(UTC) + timedelta(hours=1))
    _refused(world, "bad-signature", "1.1.0")
    assert [a.version for a in installed_apps(world.edge)] == ["1.0.0"]
