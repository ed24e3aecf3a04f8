"""The ledger in the hub's database: appends, proofs from tiles, a crash mid-batch, two workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from medcoop.hub.db import migrate
from medcoop.hub.db.engine import make_engine
from medcoop.hub.db.ledger_models import LedgerCheckpoint, LedgerQueued
from medcoop.hub.services.ledger import SqlLedger, load_or_create_log_key
from medcoop.hub.settings import HubSettings
from medcoop.ledger.checkpoint import verify_checkpoint
from medcoop.ledger.entries import canonical_json
from medcoop.ledger.errors import EntryError
from medcoop.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from medcoop.ledger.tiles import MemoryTiles, tiles_of_tree
from tests.ledger.factories import consent
from tests.ledger.ledger_worker import ORIGIN

REPO = Path(__file__).resolve().parents[2]


def _open(settings: HubSettings, key: Path) -> SqlLedger:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    return SqlLedger(engine, load_or_create_log_key(key, ORIGIN), batch_max=700)


def _entries(start: int, n: int) -> list[bytes]:
    return [canonical_json(consent(i)) for i in range(start, start + n)]


def test_key_file_is_private(tmp_path: Path) -> None:
    key = tmp_path / "hub" / "ledger.key"
    signer = load_or_create_log_key(key, ORIGIN)
    assert key.stat().st_mode & 0o777 == 0o600
    assert load_or_create_log_key(key, ORIGIN) == signer


def test_appends_match_the_in_memory_tree_and_proofs_verify(
    settings: HubSettings, tmp_path: Path
) -> None:
    ledger = _open(settings, tmp_path / "log.key")
    memory = MemoryTiles()
    start = 0
    for n in (1, 255, 1, 300, 1500):  # crosses level-0 tile edges and several batches
        entries = _entries(start, n)
        assert ledger.append(entries) == list(range(start, start + n))
        memory.append(entries)
        start += n
    size = ledger.size()
    assert size == memory.size == 2057
    checkpoint = verify_checkpoint(ledger.checkpoint(), ledger.verifier())
    assert checkpoint.size == size and checkpoint.root_hash == memory.root()
    stored = ledger.read_tiles([key for key, _ in tiles_of_tree(size)])
    assert stored == {k: v for k, v in memory.tiles.items() if k.level >= 0}
    for index in (0, 255, 256, 2056):
        proof = ledger.inclusion_proof(index, size)
        verify_inclusion(index, size, leaf_hash(ledger.entry(index)), proof, checkpoint.root_hash)
    old = verify_checkpoint(ledger.checkpoint(257), ledger.verifier())
    proof = ledger.consistency_proof(257, size)
    verify_consistency(257, size, old.root_hash, checkpoint.root_hash, proof)
    with pytest.raises(EntryError):
        ledger.append([b'{"kind":"consent"}'])
    ledger.engine.dispose()


def _worker(settings: HubSettings, key: Path, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.ledger_worker", settings.resolved_database_url,
         str(key), *map(str, args)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )


def test_a_sequencer_killed_mid_batch_loses_nothing_and_never_forks(
    settings: HubSettings, tmp_path: Path
) -> None:
    key = tmp_path / "log.key"
    ledger = _open(settings, key)
    ledger.append(_entries(0, 100))
    before = verify_checkpoint(ledger.checkpoint(), ledger.verifier())
    child = _worker(settings, key, "crash", 500, 100)
    assert child.stdout is not None and child.stdout.readline().strip() == "READY"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert ledger.size() == 100  # the killed batch never committed
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LedgerQueued)).scalar() == 500
    assert ledger.sequence() == 500
    after = verify_checkpoint(ledger.checkpoint(), ledger.verifier())
    assert after.size == 600
    verify_consistency(100, 600, before.root_hash, after.root_hash,
                       ledger.consistency_proof(100, 600))
    assert ledger.indices_of(_entries(100, 500)) == list(range(100, 600))
    ledger.engine.dispose()


def test_two_workers_appending_at_once_build_one_tree(
    settings: HubSettings, tmp_path: Path
) -> None:
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("concurrent workers are the PostgreSQL deployment")
    key = tmp_path / "log.key"
    ledger = _open(settings, key)
    workers = [_worker(settings, key, "append", 1500, start, 50) for start in (0, 10_000)]
    for worker in workers:
        assert worker.communicate(timeout=300)[0].strip() == "DONE"
    size = ledger.size()
    assert size == 3000
    final = verify_checkpoint(ledger.checkpoint(), ledger.verifier())
    with ledger.engine.connect() as conn:
        notes = conn.execute(select(LedgerCheckpoint.note)).scalars().all()
    assert len(notes) > 2
    for note in notes:  # every checkpoint ever signed is a prefix of the final tree
        old = verify_checkpoint(note.encode(), ledger.verifier())
        if 0 < old.size < size:
            proof = ledger.consistency_proof(old.size, size)
            verify_consistency(old.size, size, old.root_hash, final.root_hash, proof)
    want = sorted(_entries(0, 1500) + _entries(10_000, 1500))
    assert sorted(ledger.entry(i) for i in range(size)) == want
    ledger.engine.dispose()
