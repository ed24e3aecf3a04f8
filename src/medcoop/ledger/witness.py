"""The witness's decision, without I/O: verify a new checkpoint against the last one, cosign.

A witness keeps the last checkpoint it cosigned per log. Given a newer signed checkpoint and
a consistency proof from its size, it cosigns only when the log signed it, the origin is the
same, and the new tree extends the old one. Two roots for one size, or a larger tree that
does not extend the old one, is a fork: :class:`ForkError` carries both signed checkpoints.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

from medcoop.ledger.checkpoint import Checkpoint, verify_checkpoint
from medcoop.ledger.errors import ConsistencyProofError, ForkError, StaleCheckpointError
from medcoop.ledger.merkle import verify_consistency
from medcoop.ledger.note import Signer, Verifier

__all__ = ["WitnessState", "cosign_checkpoint"]


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint a witness cosigned for one log (``None`` before the first)."""

    log_key: str
    checkpoint: bytes | None = None

    def to_json(self) -> str:
        note = None if self.checkpoint is None else self.checkpoint.decode()
        return json.dumps({"log_key": self.log_key, "checkpoint": note}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> WitnessState:
        data = json.loads(text)
        note = data.get("checkpoint")
        return cls(str(data["log_key"]), None if note is None else note.encode())


def _evidence(old: bytes, new: bytes, proof: Sequence[bytes]) -> dict[str, str]:
    return {
        "seen_checkpoint": old.decode(),
        "new_checkpoint": new.decode(),
        "consistency_proof": json.dumps([base64.b64encode(p).decode() for p in proof]),
    }


def cosign_checkpoint(
    state: WitnessState,
    note: bytes,
    consistency: Sequence[bytes],
    signer: Signer,
    *,
    now_s: int,
) -> tuple[WitnessState, str, Checkpoint]:
    """Check ``note`` against ``state``; return the new state, the cosignature line, the checkpoint.

    Raises :class:`ForkError` (with evidence) on a fork, :class:`StaleCheckpointError` on a
    smaller tree, and checkpoint errors when the log's signature fails.
    """
    log_key = Verifier.from_string(state.log_key)
    new = verify_checkpoint(note, log_key)
    if state.checkpoint is not None:
        old = verify_checkpoint(state.checkpoint, log_key)
        if new.size < old.size:
            raise StaleCheckpointError(f"log offered size {new.size} after {old.size}")
        if new.size == old.size and new.root_hash != old.root_hash:
            raise ForkError(
                f"FORK: two roots for size {new.size}",
                evidence=_evidence(state.checkpoint, note, consistency),
            )
        if old.size > 0:
            try:
                verify_consistency(
                    old.size, new.size, old.root_hash, new.root_hash, consistency
                )
            except ConsistencyProofError as exc:
                raise ForkError(
                    f"FORK: size {new.size} does not extend size {old.size}: {exc}",
                    evidence=_evidence(state.checkpoint, note, consistency),
                ) from exc
    line = signer.signature_line(new.body(), timestamp=now_s)
    return WitnessState(state.log_key, note), line, new
