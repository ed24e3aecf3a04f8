"""The hub's checks of a vendor's upload: each refusal listed, nothing stored."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Targets

from medcoop.store.tuf.errors import PublishRefusedError, RepositoryError, SupplyChainError
from medcoop.store.tuf.keys import generate_key_files, load_public_key, load_signer
from medcoop.store.tuf.repo import TufRepository
from medcoop.store.tuf.vendor import build_vendor_metadata, plan_publish
from tests.store.wheels import build_app

ORG = uuid.uuid4()


@pytest.fixture
def repo(tmp_path: Path) -> TufRepository:
    repo, init = TufRepository.create(tmp_path / "tuf", tmp_path / "offline")
    assert set(init.keyids) == {"root", "targets", "snapshot", "timestamp"}
    pair = generate_key_files(tmp_path / "acme.key")
    repo.approve_vendor(
        "acme", ORG, [load_public_key(pair.public_path)], load_signer(init.targets_key)
    )
    return repo


def _upload(tmp_path: Path, version: str, key: Path, current: bytes | None = None):  # type: ignore[no-untyped-def]
    wheel, manifest = build_app(tmp_path / "build", "acme.dose", version, "acme")
    plan = plan_publish(wheel, manifest)
    metadata = build_vendor_metadata(current, plan, load_signer(key))
    return metadata, {plan.wheel_target: plan.wheel, plan.manifest_target: plan.manifest}


def _reasons(repo: TufRepository, metadata: bytes, files: dict[str, bytes], org=ORG) -> list[str]:  # type: ignore[no-untyped-def]
    before = sorted(p.name for p in repo.metadata_dir.iterdir())
    with pytest.raises(PublishRefusedError) as caught:
        repo.publish(org, "acme", metadata, files)
    assert sorted(p.name for p in repo.metadata_dir.iterdir()) == before
    return caught.value.reasons


def test_publish_stores_and_resnapshots(repo: TufRepository, tmp_path: Path) -> None:
    snapshot = repo.snapshot_metadata().signed.version
    metadata, files = _upload(tmp_path, "1.0.0", tmp_path / "acme.key")
    result = repo.publish(ORG, "acme", metadata, files)
    assert (result.role, result.version) == ("vendor-acme", 1)
    assert repo.snapshot_metadata().signed.version == snapshot + 1
    assert [r.version for r in repo.releases("acme.dose")] == ["1.0.0"]
    # the same metadata again is a rollback
    assert any("rollback" in r for r in _reasons(repo, metadata, files))


def test_wrong_key_wrong_org_and_bad_files_are_all_listed(
    repo: TufRepository, tmp_path: Path
) -> None:
    generate_key_files(tmp_path / "other.key")
    metadata, files = _upload(tmp_path, "1.0.0", tmp_path / "other.key")
    assert any("not signed by the key" in r for r in _reasons(repo, metadata, files))
    metadata, files = _upload(tmp_path, "1.0.0", tmp_path / "acme.key")
    assert "not approved" in _reasons(repo, metadata, files, org=uuid.uuid4())[0]
    wheel_target = next(p for p in files if p.endswith(".whl"))
    tampered = {**files, wheel_target: files[wheel_target] + b"x"}
    assert any("does not match its metadata" in r for r in _reasons(repo, metadata, tampered))
    extra = {**files, "vendors/acme/extra.txt": b"x"}
    assert any("not in the metadata" in r for r in _reasons(repo, metadata, extra))


def test_a_target_outside_the_delegation_is_refused(repo: TufRepository, tmp_path: Path) -> None:
    wheel, manifest = build_app(tmp_path / "build", "acme.dose", "1.0.0", "acme")
    plan = dataclasses.replace(
        plan_publish(wheel, manifest),
        wheel_target="vendors/other/acme_dose-1.0.0-py3-none-any.whl",
    )
    metadata = build_vendor_metadata(None, plan, load_signer(tmp_path / "acme.key"))
    files = {plan.wheel_target: plan.wheel, plan.manifest_target: plan.manifest}
    assert any("outside this vendor's delegation" in r for r in _reasons(repo, metadata, files))


def test_an_invalid_manifest_is_refused_with_every_problem(
    repo: TufRepository, tmp_path: Path
) -> None:
    wheel, manifest = build_app(tmp_path / "build", "acme.dose", "1.0.0", "acme")
    plan = plan_publish(wheel, manifest)
    broken = manifest.read_text().replace('"title"', '"titel"').replace('"summary"', '"sumary"')
    plan = dataclasses.replace(plan, manifest=broken.encode())
    metadata = build_vendor_metadata(None, plan, load_signer(tmp_path / "acme.key"))
    reasons = _reasons(
        repo, metadata, {plan.wheel_target: plan.wheel, plan.manifest_target: plan.manifest}
    )
    assert len([r for r in reasons if "manifest.json" in r]) >= 2


def test_expired_vendor_metadata_is_refused(repo: TufRepository, tmp_path: Path) -> None:
    wheel, manifest = build_app(tmp_path / "build", "acme.dose", "1.0.0", "acme")
    plan = plan_publish(wheel, manifest)
    metadata = build_vendor_metadata(
        None, plan, load_signer(tmp_path / "acme.key"), now=datetime.now(UTC) - timedelta(days=400)
    )
    files = {plan.wheel_target: plan.wheel, plan.manifest_target: plan.manifest}
    assert any("expired" in r for r in _reasons(repo, metadata, files))


def test_only_the_targets_key_approves_vendors(repo: TufRepository, tmp_path: Path) -> None:
    generate_key_files(tmp_path / "intruder.key")
    pair_key = load_public_key(tmp_path / "intruder.key.pub")
    with pytest.raises(RepositoryError):
        repo.approve_vendor("evil", ORG, [pair_key], load_signer(tmp_path / "intruder.key"))
    delegations = repo.targets_metadata()
    assert delegations is not None and delegations.signed.delegations is not None
    role = delegations.signed.delegations.roles["vendor-acme"]  # type: ignore[index]
    assert role.terminating and role.paths == ["vendors/acme/*"]


def test_refresh_resigns_before_expiry(repo: TufRepository) -> None:
    timestamp = repo.timestamp_metadata().signed
    assert not repo.refresh()
    assert repo.refresh(timestamp.expires - timedelta(hours=1))
    assert repo.timestamp_metadata().signed.version == timestamp.version + 1
    md = Metadata.from_bytes((repo.metadata_dir / "timestamp.json").read_bytes())
    assert isinstance(md.signed, type(timestamp)) and not isinstance(md.signed, Targets)


def test_reapproving_a_vendor_revokes_its_old_key(repo: TufRepository, tmp_path: Path) -> None:
    metadata, files = _upload(tmp_path, "1.0.0", tmp_path / "acme.key")
    repo.publish(ORG, "acme", metadata, files)
    new = generate_key_files(tmp_path / "acme-new.key")
    repo.approve_vendor(
        "acme",
        ORG,
        [load_public_key(new.public_path)],
        load_signer(tmp_path / "offline/targets.key"),
    )
    current = repo.metadata_dir.joinpath("1.vendor-acme.json").read_bytes()
    # the old (lost) key can no longer publish; the new one can, on top of the kept role
    stale, stale_files = _upload(tmp_path / "old", "1.1.0", tmp_path / "acme.key", current)
    assert any("not signed by the key" in r for r in _reasons(repo, stale, stale_files))
    top = repo.targets_metadata()
    assert top is not None and top.signed.delegations is not None
    assert top.signed.delegations.roles["vendor-acme"].keyids == [new.keyid]  # type: ignore[index]
    assert len(top.signed.delegations.keys) == 1
    # the new key builds on the role the old key signed once told to trust it
    with pytest.raises(SupplyChainError, match="--previous-key"):
        _upload(tmp_path / "new", "1.1.0", tmp_path / "acme-new.key", current)
    wheel, manifest = build_app(tmp_path / "new2", "acme.dose", "1.1.0", "acme")
    plan = plan_publish(wheel, manifest)
    metadata = build_vendor_metadata(
        current,
        plan,
        load_signer(tmp_path / "acme-new.key"),
        previous_keys=[load_public_key(tmp_path / "acme.key.pub")],
    )
    files = {plan.wheel_target: plan.wheel, plan.manifest_target: plan.manifest}
    result = repo.publish(ORG, "acme", metadata, files)
    assert result.version == 2
    kept = repo.targets_metadata("vendor-acme")
    assert kept is not None and len(kept.signed.targets) == 4  # 1.0.0 kept beside 1.1.0
