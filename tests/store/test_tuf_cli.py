"""``medcoop store init-repo|keygen|publish|refresh|rotate-key`` and ``medcoop edge apps``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medcoop.cli import app as cli
from medcoop.store.tuf.repo import TufRepository
from tests.store.conftest import StoreWorld
from tests.store.wheels import build_app

runner = CliRunner()


def test_operator_commands(tmp_path: Path) -> None:
    repo = ["--repo", str(tmp_path / "tuf")]
    made = runner.invoke(cli, ["store", "init-repo", "--keys-dir", str(tmp_path / "keys"), *repo])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "keys" / "root.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(cli, ["store", "init-repo", "--keys-dir", str(tmp_path / "k2"), *repo])
    assert again.exit_code == 1 and "already exists" in again.output
    assert "still fresh" in runner.invoke(cli, ["store", "refresh", *repo]).output
    assert "re-signed" in runner.invoke(cli, ["store", "refresh", "--force", *repo]).output
    rotated = runner.invoke(
        cli,
        ["store", "rotate-key", "timestamp", "--root-key", str(tmp_path / "keys/root.key"), *repo],
    )
    assert rotated.exit_code == 0, rotated.output
    assert TufRepository(tmp_path / "tuf").root_metadata().signed.version == 2
    wrong = runner.invoke(
        cli,
        [
            "store",
            "rotate-key",
            "snapshot",
            "--root-key",
            str(tmp_path / "keys/targets.key"),
            *repo,
        ],
    )
    assert wrong.exit_code == 1 and "not this repository's root key" in wrong.output


def test_vendor_publishes_and_edge_installs_from_the_command_line(world: StoreWorld) -> None:
    acme = world.vendor("acme")
    key = world.folder / "cli" / "acme2.key"
    made = runner.invoke(cli, ["store", "keygen", str(key)])
    assert made.exit_code == 0 and key.is_file()
    wheel, manifest = build_app(world.folder / "build", "acme.dose", "1.0.0", "acme")
    args = ["store", "publish", str(wheel), "--manifest", str(manifest), "--hub", world.hub.url]
    # a key the platform has not approved: every reason listed, exit 1
    refused = runner.invoke(cli, [*args, "--key", str(key), "--token", acme.token])
    assert refused.exit_code == 1 and "not signed by the key" in refused.output
    done = runner.invoke(cli, [*args, "--key", str(acme.key), "--token", acme.token])
    assert done.exit_code == 0, done.output
    assert "published acme.dose 1.0.0" in done.output
    world.entitle("acme.dose")
    config = ["--config", str(world.edge_config)]
    installed = runner.invoke(cli, ["edge", "apps", "install", "acme.dose", *config])
    assert installed.exit_code == 0, installed.output
    listed = runner.invoke(cli, ["edge", "apps", "list", "--json", *config])
    rows = json.loads(listed.output)
    assert rows["rows"][0]["version"] == "1.0.0"
    # tamper with the stored wheel: the upgrade to a new version is refused with exit 3
    wheel2, manifest2 = build_app(world.folder / "b2", "acme.dose", "1.1.0", "acme")
    args2 = ["store", "publish", str(wheel2), "--manifest", str(manifest2), "--hub", world.hub.url]
    published = runner.invoke(cli, [*args2, "--key", str(acme.key), "--token", acme.token])
    assert published.exit_code == 0, published.output
    (stored,) = world.repo.targets_dir.glob("vendors/acme/*.acme_dose-1.1.0-py3-none-any.whl")
    data = bytearray(stored.read_bytes())
    data[40] ^= 0xFF
    stored.write_bytes(bytes(data))
    upgraded = runner.invoke(cli, ["edge", "apps", "upgrade", "acme.dose", *config])
    assert upgraded.exit_code == 3 and "refused (hash-or-length)" in upgraded.output
    removed = runner.invoke(cli, ["edge", "apps", "uninstall", "acme.dose", *config])
    assert removed.exit_code == 0, removed.output
