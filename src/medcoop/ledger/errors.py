"""The ledger's errors: one class per failed verification step, each carrying its evidence.

Verification functions raise these (python-tuf style); API and CLI boundaries turn them into
values (an HTTP status, a red line and a non-zero exit).
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConsistencyProofError",
    "CosignatureError",
    "EntryError",
    "ForkError",
    "InclusionProofError",
    "LedgerError",
    "LedgerKeyError",
    "MalformedNoteError",
    "ProofError",
    "ReceiptError",
    "SignatureError",
    "StaleCheckpointError",
    "TileError",
    "UnverifiedNoteError",
]


class LedgerError(Exception):
    """Base class of every ledger error."""


class ProofError(LedgerError):
    """A Merkle proof does not verify."""


class InclusionProofError(ProofError):
    """An inclusion proof does not link the leaf to the root (RFC 9162 §2.1.3.2)."""


class ConsistencyProofError(ProofError):
    """A consistency proof does not link the two roots (RFC 9162 §2.1.4.2)."""


class TileError(LedgerError):
    """A tile or entry bundle is malformed, of the wrong width, or a path is invalid."""


class EntryError(LedgerError):
    """A log entry is not canonical JSON of a known schema."""


class LedgerKeyError(LedgerError):
    """A signer or verifier key string is malformed."""


class MalformedNoteError(LedgerError):
    """A signed note does not follow the C2SP signed-note syntax."""


class SignatureError(LedgerError):
    """A signature from a known key does not verify."""


class UnverifiedNoteError(LedgerError):
    """No signature on the note is from a known key."""


class CheckpointError(LedgerError):
    """A checkpoint body does not follow C2SP tlog-checkpoint or names the wrong origin."""


class CosignatureError(LedgerError):
    """Cosignatures are missing, malformed or fewer than the quorum."""


class StaleCheckpointError(LedgerError):
    """A checkpoint is smaller than one already seen (a rollback, not necessarily a fork)."""


class ForkError(LedgerError):
    """Two checkpoints of one log cannot both be true: the log showed two histories.

    ``evidence`` holds both signed checkpoints (and the proof, if any) so the fork can be
    shown to anyone.
    """

    def __init__(self, message: str, *, evidence: dict[str, str]) -> None:
        super().__init__(message)
        self.evidence = evidence


class ReceiptError(LedgerError):
    """A receipt is malformed or does not prove its entry."""
