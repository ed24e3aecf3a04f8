"""C2SP signed notes, checkpoints and tlog-cosignatures: keys, signing, every bit flip."""

from __future__ import annotations

import base64
import hashlib

import pytest

from medcoop.ledger.checkpoint import (
    Checkpoint,
    add_cosignatures,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignatures,
)
from medcoop.ledger.errors import (
    CheckpointError,
    CosignatureError,
    LedgerError,
    LedgerKeyError,
    MalformedNoteError,
    UnverifiedNoteError,
)
from medcoop.ledger.note import (
    ALG_COSIGNATURE,
    Signer,
    Verifier,
    generate_signer,
    key_id,
    open_note,
    sign_note,
)

LOG = generate_signer("medcoop.example/log")
WITNESS = generate_signer("hospital.example/witness", alg=ALG_COSIGNATURE)
CHECKPOINT = Checkpoint("medcoop.example/log", 20852163, hashlib.sha256(b"root").digest())


def _cosigned() -> bytes:
    note = sign_checkpoint(CHECKPOINT, LOG)
    return add_cosignatures(note, [WITNESS.signature_line(CHECKPOINT.body(), timestamp=1679315147)])


def test_key_id_follows_the_signed_note_spec() -> None:
    public = LOG.verifier.public_key
    want = hashlib.sha256(b"medcoop.example/log\n\x01" + public).digest()[:4]
    assert LOG.verifier.key_id == want == key_id("medcoop.example/log", 1, public)
    cosigner = WITNESS.verifier
    assert cosigner.key_id == hashlib.sha256(
        b"hospital.example/witness\n\x04" + cosigner.public_key
    ).digest()[:4]


def test_keys_round_trip_through_their_strings() -> None:
    assert Signer.from_string(LOG.to_string()) == LOG
    assert Verifier.from_string(LOG.verifier.to_string()) == LOG.verifier
    name, hex_id, raw = LOG.verifier.to_string().split("+", 2)
    assert name == LOG.name and len(hex_id) == 8 and base64.b64decode(raw)[0] == 1
    with pytest.raises(LedgerKeyError):
        Verifier.from_string(f"{name}+00000000+{raw}")
    with pytest.raises(LedgerKeyError):
        generate_signer("has space")


def test_checkpoint_body_is_the_c2sp_text() -> None:
    assert CHECKPOINT.body() == (
        b"medcoop.example/log\n20852163\n" + base64.b64encode(CHECKPOINT.root_hash) + b"\n"
    )
    assert parse_checkpoint(CHECKPOINT.body()) == CHECKPOINT
    with_ext = Checkpoint(CHECKPOINT.origin, 1, CHECKPOINT.root_hash, ("ext one",))
    assert parse_checkpoint(with_ext.body()) == with_ext


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n012\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n12\n" + base64.b64encode(bytes(31)) + b"\n",
        b"origin\n12\n" + base64.b64encode(bytes(32)),
        b"\n12\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n-1\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n12\n" + base64.b64encode(bytes(32)) + b"\n\n",
    ],
)
def test_malformed_checkpoints_are_refused(body: bytes) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(body)


def test_checkpoint_and_cosignature_verify() -> None:
    note = _cosigned()
    assert verify_checkpoint(note, LOG.verifier) == CHECKPOINT
    assert verify_cosignatures(note, [WITNESS.verifier], quorum=1) == {WITNESS.name: 1679315147}
    with pytest.raises(CosignatureError):
        verify_cosignatures(note, [WITNESS.verifier], quorum=2)
    stranger = generate_signer("other.example/witness", alg=ALG_COSIGNATURE)
    with pytest.raises(CosignatureError):
        verify_cosignatures(note, [stranger.verifier], quorum=1)


def test_a_note_from_an_unknown_key_is_unverified() -> None:
    note = sign_note(b"hello\n", [generate_signer("someone")])
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [LOG.verifier])
    with pytest.raises(CheckpointError):
        verify_checkpoint(note, LOG.verifier)


def test_a_checkpoint_for_another_origin_is_refused() -> None:
    other = Checkpoint("evil.example/log", 1, bytes(32))
    with pytest.raises(CheckpointError):
        verify_checkpoint(sign_checkpoint(other, LOG), LOG.verifier)


def test_note_syntax_is_strict() -> None:
    with pytest.raises(MalformedNoteError):
        sign_note(b"no final newline", [LOG])
    with pytest.raises(MalformedNoteError):
        sign_note(b"tab\there\n", [LOG])
    with pytest.raises(MalformedNoteError):
        open_note(b"text\n\nnot a signature line\n", [LOG.verifier])


_NOTE = _cosigned()


def test_every_bit_flip_of_a_cosigned_checkpoint_is_detected() -> None:
    survivors = []
    for bit in range(len(_NOTE) * 8):
        bad = bytearray(_NOTE)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            verify_checkpoint(bytes(bad), LOG.verifier)
            verify_cosignatures(bytes(bad), [WITNESS.verifier], quorum=1)
        except LedgerError:
            continue
        survivors.append(bit)
    assert survivors == []
