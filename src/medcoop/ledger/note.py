"""C2SP signed notes with Ed25519 keys, and tlog-cosignature (Ed25519) cosignatures.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> base64(key ID || signature)``. The key ID is the first 4 bytes of
``SHA-256(name || 0x0A || type || public key)``, type 0x01 for Ed25519 note signatures and
0x04 for cosignatures, whose signature is ``u64 timestamp || Ed25519 signature`` over
``cosignature/v1\\ntime <timestamp>\\n`` followed by the note text.
Keys travel as the signed-note strings ``<name>+<hex id>+<base64(type || key)>`` and
``PRIVATE+KEY+<name>+<hex id>+<base64(type || seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from medcoop.ledger.errors import (
    LedgerKeyError,
    MalformedNoteError,
    SignatureError,
    UnverifiedNoteError,
)

__all__ = [
    "ALG_COSIGNATURE",
    "ALG_ED25519",
    "NoteSignature",
    "OpenedNote",
    "Signer",
    "Verifier",
    "cosigned_message",
    "generate_signer",
    "key_id",
    "open_note",
    "parse_signatures",
    "sign_note",
    "split_note",
]

ALG_ED25519 = 0x01
ALG_COSIGNATURE = 0x04
_DASH = "— "
_MAX_SIGNATURES = 100
_COSIGNATURE_HEADER = b"cosignature/v1\n"


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """Return the 4-byte key ID ``SHA-256(name || 0x0A || alg || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise LedgerKeyError(f"key name {name!r} is empty or holds whitespace or '+'")


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """Return the message an Ed25519 cosignature signs (tlog-cosignature §Ed25519)."""
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures (``alg`` 0x01) or cosignatures (0x04)."""

    name: str
    alg: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.alg, self.public_key)

    def to_string(self) -> str:
        """Return the signed-note verifier key string."""
        raw = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    @classmethod
    def from_string(cls, text: str) -> Verifier:
        """Parse a verifier key string; raise :class:`LedgerKeyError`."""
        parts = text.strip().split("+", 2)  # base64 may itself hold '+'
        if len(parts) != 3:
            raise LedgerKeyError("a verifier key is <name>+<hex id>+<base64 key>")
        name, hex_id, raw = parts
        _check_name(name)
        try:
            data = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise LedgerKeyError("verifier key is not base64") from exc
        if len(data) != 33 or data[0] not in (ALG_ED25519, ALG_COSIGNATURE):
            raise LedgerKeyError("verifier key is not an Ed25519 note or cosignature key")
        verifier = cls(name, data[0], data[1:])
        if verifier.key_id.hex() != hex_id.lower() or len(hex_id) != 8:
            raise LedgerKeyError(f"verifier key ID {hex_id} does not match its key")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Check ``signature`` (without key ID) over note ``text``; return its timestamp.

        Raises :class:`SignatureError`. Note signatures have no timestamp (``None``).
        """
        public = Ed25519PublicKey.from_public_bytes(self.public_key)
        timestamp = None
        message = text
        if self.alg == ALG_COSIGNATURE:
            if len(signature) != 8 + 64:
                raise SignatureError(f"cosignature by {self.name} is {len(signature)} bytes")
            (timestamp,) = struct.unpack(">Q", signature[:8])
            if timestamp >= 1 << 63:
                raise SignatureError(f"cosignature by {self.name} has an invalid timestamp")
            message, signature = cosigned_message(text, timestamp), signature[8:]
        try:
            public.verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureError(f"signature by {self.name} does not verify") from exc
        return timestamp


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes (``alg`` 0x01) or cosigns checkpoints (0x04)."""

    name: str
    alg: int
    seed: bytes

    def __repr__(self) -> str:  # never print the key
        return f"Signer({self.name!r}, alg={self.alg})"

    @property
    def verifier(self) -> Verifier:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return Verifier(self.name, self.alg, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def to_string(self) -> str:
        """Return the signed-note private key string (keep it secret)."""
        raw = base64.b64encode(bytes([self.alg]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{raw}"

    @classmethod
    def from_string(cls, text: str) -> Signer:
        """Parse a private key string; raise :class:`LedgerKeyError`."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise LedgerKeyError("a signer key is PRIVATE+KEY+<name>+<hex id>+<base64 key>")
        name, hex_id, raw = parts[2:]
        _check_name(name)
        try:
            data = base64.b64decode(raw, validate=True)
        except binascii.Error as exc:
            raise LedgerKeyError("signer key is not base64") from exc
        if len(data) != 33 or data[0] not in (ALG_ED25519, ALG_COSIGNATURE):
            raise LedgerKeyError("signer key is not an Ed25519 note or cosignature key")
        signer = cls(name, data[0], data[1:])
        if signer.verifier.key_id.hex() != hex_id.lower():
            raise LedgerKeyError(f"signer key ID {hex_id} does not match its key")
        return signer

    def signature_line(self, text: bytes, *, timestamp: int = 0) -> str:
        """Return the note signature line over ``text`` (cosigners stamp ``timestamp``)."""
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.alg == ALG_COSIGNATURE:
            raw = struct.pack(">Q", timestamp) + private.sign(cosigned_message(text, timestamp))
        else:
            raw = private.sign(text)
        encoded = base64.b64encode(self.verifier.key_id + raw).decode()
        return f"{_DASH}{self.name} {encoded}\n"


def generate_signer(name: str, *, alg: int = ALG_ED25519) -> Signer:
    """Return a fresh Ed25519 signer named ``name``."""
    _check_name(name)
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return Signer(name, alg, seed)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the signer's name, key ID and raw signature."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def _check_text(text: bytes) -> None:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError("note text is not UTF-8") from exc
    if not decoded.endswith("\n"):
        raise MalformedNoteError("note text does not end in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in decoded):
        raise MalformedNoteError("note text holds a control character")


def split_note(note: bytes) -> tuple[bytes, bytes]:
    """Split a signed note into its text (with final newline) and its signature block."""
    cut = note.rfind(b"\n\n")
    if cut < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    return text, block


def parse_signatures(block: bytes) -> list[NoteSignature]:
    """Parse a note's signature lines; raise :class:`MalformedNoteError`."""
    try:
        decoded = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError("signature lines are not UTF-8") from exc
    if not decoded.endswith("\n"):
        raise MalformedNoteError("signature block does not end in a newline")
    signatures = []
    for line in decoded[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise MalformedNoteError(f"signature line does not start with '{_DASH}'")
        name, sep, encoded = line[len(_DASH) :].partition(" ")
        if not sep or not name or "+" in name or " " in encoded:
            raise MalformedNoteError("signature line is not '— <name> <base64>'")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise MalformedNoteError("signature is not base64") from exc
        if len(raw) < 5:
            raise MalformedNoteError("signature is shorter than a key ID")
        if base64.b64encode(raw).decode() != encoded:  # unused bits would alias one signature
            raise MalformedNoteError("signature is not canonical base64")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    if not signatures:
        raise MalformedNoteError("note has no signatures")
    if len(signatures) > _MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {_MAX_SIGNATURES} signatures")
    return signatures


def sign_note(text: bytes, signers: Iterable[Signer]) -> bytes:
    """Return ``text`` signed by each of ``signers`` as a signed note."""
    _check_text(text)
    lines = "".join(s.signature_line(text) for s in signers)
    return text + b"\n" + lines.encode()


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text is trusted: who signed it, and the signatures nobody here knows."""

    text: bytes
    verified: dict[str, int | None]  # verifier string -> cosignature timestamp (None: note)
    unverified: list[NoteSignature]


def open_note(note: bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Verify ``note`` against ``verifiers``; require at least one valid known signature.

    A signature whose name and key ID match a known verifier must verify
    (:class:`SignatureError` otherwise); signatures from unknown keys are returned unverified.
    Raises :class:`UnverifiedNoteError` when no known key signed.
    """
    text, block = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: dict[str, int | None] = {}
    unverified = []
    for sig in parse_signatures(block):
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unverified.append(sig)
            continue
        if verifier.to_string() in verified:
            raise MalformedNoteError(f"{sig.name} signed the note twice")
        verified[verifier.to_string()] = verifier.verify(text, sig.signature)
    if not verified:
        raise UnverifiedNoteError("no signature on the note is from a known key")
    return OpenedNote(text, verified, unverified)
