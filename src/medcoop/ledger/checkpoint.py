"""C2SP tlog-checkpoint bodies and their verification as signed notes.

A checkpoint is the origin line, the tree size in decimal, the root hash in base64, then
optional extension lines, each ending in a newline. :func:`verify_checkpoint` checks the
log's signature; :func:`verify_cosignatures` checks a quorum of witnesses on the same note.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from medcoop.ledger.errors import (
    CheckpointError,
    CosignatureError,
    MalformedNoteError,
    SignatureError,
    UnverifiedNoteError,
)
from medcoop.ledger.merkle import HASH_SIZE
from medcoop.ledger.note import (
    ALG_COSIGNATURE,
    ALG_ED25519,
    NoteSignature,
    Signer,
    Verifier,
    open_note,
    parse_signatures,
    sign_note,
    split_note,
)

__all__ = [
    "Checkpoint",
    "add_cosignatures",
    "parse_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_cosignatures",
]

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's claim: the tree named ``origin`` had ``size`` leaves and this root."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> bytes:
        """Return the checkpoint text (the note body that is signed)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return ("\n".join([*lines, *self.extensions]) + "\n").encode()


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Parse a checkpoint body; raise :class:`CheckpointError`."""
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise CheckpointError("checkpoint is not UTF-8") from exc
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint needs origin, size and root lines ending in newlines")
    origin, size, root, *extensions = lines[:-1]
    if not origin:
        raise CheckpointError("checkpoint origin is empty")
    if not _SIZE.fullmatch(size) or int(size) >= 1 << 64:
        raise CheckpointError(f"checkpoint size {size!r} is not a decimal uint64")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error as exc:
        raise CheckpointError("checkpoint root is not base64") from exc
    if len(root_hash) != HASH_SIZE or base64.b64encode(root_hash).decode() != root:
        raise CheckpointError("checkpoint root is not a canonical 32-byte hash")
    if any(not line for line in extensions):
        raise CheckpointError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """Return the checkpoint as a note signed by the log."""
    return sign_note(checkpoint.body(), [signer])


def verify_checkpoint(note: bytes, log_key: Verifier, *, origin: str | None = None) -> Checkpoint:
    """Verify the log's signature on a checkpoint note and return the checkpoint.

    ``origin`` defaults to the key's name, as logs conventionally name their key after
    their origin. Raises :class:`CheckpointError` (wrapping note errors).
    """
    if log_key.alg != ALG_ED25519:
        raise CheckpointError("the log key must be an Ed25519 note key")
    try:
        opened = open_note(note, [log_key])
    except (MalformedNoteError, SignatureError, UnverifiedNoteError) as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    checkpoint = parse_checkpoint(opened.text)
    expected = log_key.name if origin is None else origin
    if checkpoint.origin != expected:
        raise CheckpointError(f"checkpoint is for {checkpoint.origin!r}, not {expected!r}")
    return checkpoint


def verify_cosignatures(
    note: bytes, witnesses: Sequence[Verifier], *, quorum: int
) -> dict[str, int]:
    """Verify the witnesses' cosignatures on a checkpoint note; require ``quorum`` of them.

    Returns ``{witness name: timestamp}`` of the valid cosignatures from ``witnesses``. A
    cosignature from a configured witness that does not verify raises
    :class:`CosignatureError`, as does a count under the quorum.
    """
    if any(w.alg != ALG_COSIGNATURE for w in witnesses):
        raise CosignatureError("witness keys must be cosignature (0x04) keys")
    text, block = split_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, int] = {}
    for sig in parse_signatures(block):
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        try:
            timestamp = witness.verify(text, sig.signature)
        except SignatureError as exc:
            raise CosignatureError(f"cosignature by {sig.name}: {exc}") from exc
        assert timestamp is not None
        found[witness.name] = timestamp
    if len(found) < quorum:
        raise CosignatureError(f"{len(found)} valid cosignatures, quorum is {quorum}")
    return found


def add_cosignatures(note: bytes, lines: Sequence[str]) -> bytes:
    """Append cosignature lines to a signed note, dropping older lines by the same key."""
    text, block = split_note(note)
    existing = parse_signatures(block)
    added: list[NoteSignature] = []
    for line in lines:
        added.extend(parse_signatures(line.encode()))
    replaced = {(s.name, s.key_id) for s in added}
    kept = [s for s in existing if (s.name, s.key_id) not in replaced]
    return text + b"\n" + "".join(s.line() for s in [*kept, *added]).encode()
