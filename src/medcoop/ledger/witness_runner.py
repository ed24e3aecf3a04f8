"""A running witness: its key and state files, and one check-and-cosign step against a hub.

The decision itself is :func:`medcoop.ledger.witness.cosign_checkpoint` (pure); this module
fetches the checkpoint and the tiles, computes the consistency proof from the tiles (never
asking the log for one), hands the cosignature back, and on a fork keeps the evidence,
stops cosigning, and says so loudly.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from medcoop.ledger.checkpoint import verify_checkpoint
from medcoop.ledger.client import HttpLog, SizedTiles
from medcoop.ledger.errors import ForkError, LedgerError
from medcoop.ledger.note import ALG_COSIGNATURE, Signer, Verifier, generate_signer
from medcoop.ledger.tiles import consistency_proof
from medcoop.ledger.witness import WitnessState, cosign_checkpoint

__all__ = ["EXIT_FORK", "Witness"]

EXIT_FORK = 3


def _load_or_create_key(path: Path, name: str) -> Signer:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_signer(name, alg=ALG_COSIGNATURE).to_string() + "\n")
    return Signer.from_string(path.read_text())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Witness:
    """One witness following one log."""

    log: HttpLog
    signer: Signer
    state_file: Path
    state: WitnessState
    out: Console

    @classmethod
    def open(
        cls,
        hub: str,
        *,
        key_file: Path,
        state_file: Path,
        name: str,
        log_key: str | None,
        out: Console,
    ) -> Witness:
        log = HttpLog.open(hub)
        signer = _load_or_create_key(key_file, name)
        if state_file.exists():
            state = WitnessState.from_json(state_file.read_text())
            if log_key and Verifier.from_string(log_key).to_string() != state.log_key:
                raise LedgerError("the state file follows another log key")
        else:
            pinned = log_key or log.key()  # first contact: pin the key the log serves
            state = WitnessState(Verifier.from_string(pinned).to_string())
        return cls(log, signer, state_file, state, out)

    @property
    def fork_marker(self) -> Path:
        return self.state_file.with_name(self.state_file.name + ".FORK")

    def step(self) -> int:
        """Check the log's latest checkpoint and cosign it; return 0, or an exit code."""
        if self.fork_marker.exists():
            self.out.print(f"[bold red]REFUSING: a fork was recorded in {self.fork_marker}[/]")
            return EXIT_FORK
        try:
            note = self.log.checkpoint()
            key = Verifier.from_string(self.state.log_key)
            new = verify_checkpoint(note, key)
            proof: list[bytes] = []
            if self.state.checkpoint is not None:
                old = verify_checkpoint(self.state.checkpoint, key)
                if 0 < old.size < new.size:
                    proof = consistency_proof(SizedTiles(self.log, new.size), old.size, new.size)
            state, line, checkpoint = cosign_checkpoint(
                self.state, note, proof, self.signer, now_s=int(time.time())
            )
        except ForkError as exc:
            self._record_fork(exc)
            return EXIT_FORK
        except LedgerError as exc:
            self.out.print(f"[red]not cosigned:[/] {type(exc).__name__}: {exc}")
            return 1
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.state_file, state.to_json())
        self.state = state
        response = self.log.post_json(
            "api/v1/ledger/cosignatures", {"size": checkpoint.size, "line": line}
        )
        if response.status_code != 200:
            self.out.print(f"[yellow]the log refused the cosignature:[/] {response.text}")
            return 1
        self.out.print(f"cosigned {checkpoint.origin} at size {checkpoint.size}")
        return 0

    def _record_fork(self, exc: ForkError) -> None:
        evidence = {"why": str(exc), **exc.evidence}
        self.fork_marker.parent.mkdir(parents=True, exist_ok=True)
        self.fork_marker.write_text(json.dumps(evidence, indent=1))
        banner = "!" * 72
        self.out.print(f"[bold red]{banner}\nFORK DETECTED: {exc}\n"
                       f"The log showed two histories. Evidence kept in {self.fork_marker}.\n"
                       f"This witness will not cosign this log again.\n{banner}[/]")
