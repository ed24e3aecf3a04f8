"""Receipts a patient keeps: the entry, its index, the signed checkpoint and the proof.

With a receipt and the log's public key anyone can check, offline, that the decision is in
the log (:func:`verify_receipt`), and later that it is still there: a newer checkpoint plus a
consistency proof from the receipt's tree size (:func:`verify_receipt_still_included`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from medcoop.ledger.checkpoint import Checkpoint, verify_checkpoint, verify_cosignatures
from medcoop.ledger.entries import AccessEntry, ConsentEntry, parse_entry
from medcoop.ledger.errors import LedgerError, ReceiptError
from medcoop.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from medcoop.ledger.note import Verifier

__all__ = [
    "RECEIPT_VERSION",
    "Receipt",
    "ReceiptResult",
    "verify_receipt",
    "verify_receipt_still_included",
]

RECEIPT_VERSION = 1


@dataclass(frozen=True)
class Receipt:
    """The proof that one entry is in the log at one index."""

    entry: bytes
    index: int
    checkpoint: bytes  # the signed note, cosignatures included
    inclusion_proof: tuple[bytes, ...]
    log_key: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "receipt_version": RECEIPT_VERSION,
                "entry": self.entry.decode(),
                "index": self.index,
                "checkpoint": self.checkpoint.decode(),
                "inclusion_proof": [base64.b64encode(p).decode() for p in self.inclusion_proof],
                "log_key": self.log_key,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        """Parse a receipt; raise :class:`ReceiptError`."""
        try:
            data = json.loads(text)
            if data.get("receipt_version") != RECEIPT_VERSION:
                raise ReceiptError(f"unknown receipt version {data.get('receipt_version')!r}")
            return cls(
                entry=data["entry"].encode(),
                index=int(data["index"]),
                checkpoint=data["checkpoint"].encode(),
                inclusion_proof=tuple(
                    base64.b64decode(p, validate=True) for p in data["inclusion_proof"]
                ),
                log_key=str(data["log_key"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ReceiptError(f"receipt is malformed: {exc}") from exc


@dataclass(frozen=True)
class ReceiptResult:
    """What a verified receipt shows."""

    entry: ConsentEntry | AccessEntry
    checkpoint: Checkpoint
    witnesses: dict[str, int]


def verify_receipt(
    receipt: Receipt,
    log_key: Verifier,
    *,
    witnesses: Sequence[Verifier] = (),
    quorum: int = 0,
) -> ReceiptResult:
    """Verify a receipt against the log key the verifier trusts (not the receipt's own).

    Steps: the entry is canonical, the checkpoint is signed by the log, a quorum of the given
    witnesses cosigned it, and the inclusion proof links the entry to its root. Raises
    :class:`ReceiptError` naming the step that failed.
    """
    if receipt.log_key != log_key.to_string():
        raise ReceiptError("the receipt names a different log key than the one trusted")
    try:
        entry = parse_entry(receipt.entry)
        checkpoint = verify_checkpoint(receipt.checkpoint, log_key)
        found = verify_cosignatures(receipt.checkpoint, witnesses, quorum=quorum)
        verify_inclusion(
            receipt.index,
            checkpoint.size,
            leaf_hash(receipt.entry),
            receipt.inclusion_proof,
            checkpoint.root_hash,
        )
    except LedgerError as exc:
        raise ReceiptError(f"{type(exc).__name__}: {exc}") from exc
    return ReceiptResult(entry, checkpoint, found)


def verify_receipt_still_included(
    receipt: Receipt, newer_checkpoint: bytes, consistency: Sequence[bytes], log_key: Verifier
) -> Checkpoint:
    """Verify that a newer checkpoint extends the receipt's one (so the entry is still in)."""
    try:
        old = verify_checkpoint(receipt.checkpoint, log_key)
        new = verify_checkpoint(newer_checkpoint, log_key)
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, consistency)
    except LedgerError as exc:
        raise ReceiptError(f"{type(exc).__name__}: {exc}") from exc
    return new
