"""``medcoop ledger``: the log's key, verification, proofs, receipts and a witness.

Everything here checks the log from the outside, through its public tiles: nothing the
hub says is taken on trust except what its signature (and the witnesses') covers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from medcoop.ledger.client import HttpLog
    from medcoop.ledger.note import Verifier

__all__ = ["app"]

app = typer.Typer(help="The consent and access ledger: verify the log, prove entries, witness.")
console = Console()
err = Console(stderr=True)

HUB = typer.Option("http://127.0.0.1:8000", "--hub", envvar="MEDCOOP_HUB_URL",
                   help="The hub's base URL.")
LOG_KEY = typer.Option(None, "--log-key", envvar="MEDCOOP_LEDGER_KEY",
                       help="The log's verifier key; default: trust the key the hub serves.")
WITNESS = typer.Option([], "--witness", help="A witness's verifier key (repeatable).")
QUORUM = typer.Option(0, "--quorum", help="How many of the --witness keys must cosign.")


def _home() -> Path:
    from medcoop.hub.settings import medcoop_home

    return medcoop_home() / "ledger"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]FAILED:[/] {message}")
    return typer.Exit(code)


def _log_key(log: HttpLog, given: str | None) -> Verifier:
    from medcoop.ledger.note import Verifier

    if given:
        return Verifier.from_string(given)
    err.print("[yellow]note:[/] trusting the log key the hub serves (pass --log-key to pin it)")
    return Verifier.from_string(log.key())


@app.command("key")
def key_command(hub: str = HUB) -> None:
    """Print the log's verifier key (C2SP signed-note format)."""
    from medcoop.ledger.client import HttpLog
    from medcoop.ledger.errors import LedgerError

    try:
        console.print(HttpLog.open(hub).key(), soft_wrap=True, highlight=False)
    except LedgerError as exc:
        raise _fail(str(exc)) from exc


@app.command("verify")
def verify_command(
    hub: str = HUB,
    log_key: str | None = LOG_KEY,
    witness: list[str] = WITNESS,
    quorum: int = QUORUM,
    state: Path | None = typer.Option(None, help="Where the last verified checkpoint is kept."),
) -> None:
    """Fetch the checkpoint and tiles, recompute the root, check consistency with the last run."""
    from rich.progress import Progress

    from medcoop.ledger.checkpoint import verify_checkpoint, verify_cosignatures
    from medcoop.ledger.client import HttpLog, SizedTiles
    from medcoop.ledger.errors import ConsistencyProofError, LedgerError
    from medcoop.ledger.merkle import verify_consistency
    from medcoop.ledger.note import Verifier
    from medcoop.ledger.tiles import consistency_proof, root_hash, tiles_of_tree

    log = HttpLog.open(hub)
    try:
        key = _log_key(log, log_key)
        note = log.checkpoint()
        checkpoint = verify_checkpoint(note, key)
        cosigned = verify_cosignatures(
            note, [Verifier.from_string(w) for w in witness], quorum=quorum
        )
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("rebuilding the tree", total=checkpoint.size)
            tree = log.download(checkpoint.size, lambda n: progress.advance(task, n))
        if tree.root() != checkpoint.root_hash:
            raise _fail("the entries do not hash to the checkpoint's root")
        served = SizedTiles(log, checkpoint.size)
        if root_hash(served, checkpoint.size) != checkpoint.root_hash:
            raise _fail("the served hash tiles do not give the checkpoint's root")
        for tile_key, width in tiles_of_tree(checkpoint.size):
            if served.read_tiles([tile_key])[tile_key] != tree.tiles[tile_key][: 32 * width]:
                raise _fail(f"served tile {tile_key} differs from the one rebuilt from entries")
    except LedgerError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    state_file = state or _home() / f"{checkpoint.origin.replace('/', '_')}.checkpoint"
    if state_file.exists():
        old = verify_checkpoint(state_file.read_bytes(), key)
        try:
            if old.size > checkpoint.size:
                raise ConsistencyProofError(f"log shrank from {old.size} to {checkpoint.size}")
            if old.size > 0:
                proof = consistency_proof(tree, old.size, checkpoint.size)
                verify_consistency(
                    old.size, checkpoint.size, old.root_hash, checkpoint.root_hash, proof
                )
        except ConsistencyProofError as exc:
            _keep_evidence(state_file, state_file.read_bytes(), note, str(exc))
            raise _fail(f"FORK: the log does not extend the last verified one: {exc}", 3) from exc
        console.print(f"consistent with the last verified checkpoint (size {old.size})")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(state_file, note)
    console.print(
        f"[green]verified[/] {checkpoint.origin}: {checkpoint.size} entries, root "
        f"{checkpoint.root_hash.hex()[:16]}..., cosigned by {sorted(cosigned) or 'no witness'}"
    )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _keep_evidence(state_file: Path, seen: bytes, offered: bytes, why: str) -> Path:
    evidence = state_file.with_name(f"{state_file.name}.fork-{int(time.time())}.json")
    evidence.write_text(json.dumps(
        {"why": why, "seen_checkpoint": seen.decode(), "offered_checkpoint": offered.decode()},
        indent=1,
    ))
    err.print(f"[bold red]evidence kept in {evidence}[/]")
    return evidence


@app.command("prove")
def prove_command(
    index: int = typer.Argument(..., help="The entry's index in the log."),
    hub: str = HUB,
    log_key: str | None = LOG_KEY,
    receipt: Path | None = typer.Option(None, help="Write a receipt for the entry here."),
) -> None:
    """Prove, from the tiles, that entry INDEX is in the log's latest checkpoint."""
    from medcoop.ledger.checkpoint import verify_checkpoint
    from medcoop.ledger.client import HttpLog, SizedTiles
    from medcoop.ledger.errors import LedgerError
    from medcoop.ledger.merkle import leaf_hash, verify_inclusion
    from medcoop.ledger.receipt import Receipt
    from medcoop.ledger.tiles import ENTRIES_LEVEL, TileKey, decode_bundle, inclusion_proof

    log = HttpLog.open(hub)
    try:
        key = _log_key(log, log_key)
        note = log.checkpoint()
        checkpoint = verify_checkpoint(note, key)
        if not 0 <= index < checkpoint.size:
            raise _fail(f"the log has {checkpoint.size} entries; {index} is not one")
        tiles = SizedTiles(log, checkpoint.size)
        bundle_key = TileKey(ENTRIES_LEVEL, index // 256)
        entry = decode_bundle(tiles.read_tiles([bundle_key])[bundle_key])[index % 256]
        proof = inclusion_proof(tiles, index, checkpoint.size)
        verify_inclusion(index, checkpoint.size, leaf_hash(entry), proof, checkpoint.root_hash)
    except LedgerError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    made = Receipt(entry, index, note, tuple(proof), key.to_string())
    if receipt:
        receipt.write_text(made.to_json())
    console.print(made.to_json(), soft_wrap=True, highlight=False)
    err.print(f"[green]entry {index} is in the log at size {checkpoint.size}[/]")


@app.command("receipt-check")
def receipt_check_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The receipt (JSON)."),
    log_key: str | None = typer.Option(None, "--log-key", envvar="MEDCOOP_LEDGER_KEY",
                                       help="The log key you trust (default: the receipt's)."),
    witness: list[str] = WITNESS,
    quorum: int = QUORUM,
    hub: str | None = typer.Option(None, "--hub", help="Also check it is still in the log now."),
) -> None:
    """Verify a receipt offline; with --hub, also that the log still holds the entry."""
    from medcoop.ledger.client import HttpLog
    from medcoop.ledger.errors import LedgerError
    from medcoop.ledger.note import Verifier
    from medcoop.ledger.receipt import Receipt, verify_receipt, verify_receipt_still_included
    from medcoop.ledger.tiles import consistency_proof

    try:
        receipt = Receipt.from_json(file.read_bytes())
        if log_key is None:
            err.print("[yellow]note:[/] trusting the log key written in the receipt")
        key = Verifier.from_string(log_key or receipt.log_key)
        result = verify_receipt(
            receipt, key, witnesses=[Verifier.from_string(w) for w in witness], quorum=quorum
        )
        console.print(
            f"[green]valid[/]: entry {receipt.index} ({result.entry.kind}) is in "
            f"{result.checkpoint.origin} at size {result.checkpoint.size}; "
            f"cosigned by {sorted(result.witnesses) or 'no witness checked'}"
        )
        if hub:
            from medcoop.ledger.client import SizedTiles

            log = HttpLog.open(hub)
            newer = log.checkpoint()
            from medcoop.ledger.checkpoint import verify_checkpoint

            size = verify_checkpoint(newer, key).size
            proof = consistency_proof(SizedTiles(log, size), result.checkpoint.size, size)
            verify_receipt_still_included(receipt, newer, proof, key)
            console.print(f"[green]still included[/] at the log's current size {size}")
    except LedgerError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc


@app.command("witness")
def witness_command(
    hub: str = HUB,
    name: str = typer.Option("witness.local", help="The witness's name (its key name)."),
    key_file: Path = typer.Option(None, "--key", help="The witness's private key file."),
    state_file: Path = typer.Option(None, "--state", help="The witness's state file."),
    log_key: str | None = LOG_KEY,
    once: bool = typer.Option(False, help="Check and cosign once, then exit."),
    interval_s: float = typer.Option(10.0, "--interval", help="Seconds between checks."),
) -> None:
    """Follow a log: verify each new checkpoint extends the last one, cosign it, refuse forks."""
    from medcoop.ledger.witness_runner import Witness

    home = _home() / "witness"
    witness = Witness.open(
        hub,
        key_file=key_file or home / f"{name.replace('/', '_')}.key",
        state_file=state_file or home / f"{name.replace('/', '_')}.state.json",
        name=name,
        log_key=log_key,
        out=err,
    )
    console.print(f"witness key: {witness.signer.verifier.to_string()}", soft_wrap=True)
    while True:
        code = witness.step()
        if code or once:
            raise typer.Exit(code)
        time.sleep(interval_s)
