"""Entries, receipts and the witness's decision, including fork evidence."""

from __future__ import annotations

import pytest

from medcoop.ledger.checkpoint import Checkpoint, add_cosignatures, sign_checkpoint
from medcoop.ledger.entries import AccessEntry, Aggregate, canonical_json, parse_entry
from medcoop.ledger.errors import EntryError, ForkError, ReceiptError, StaleCheckpointError
from medcoop.ledger.note import ALG_COSIGNATURE, generate_signer
from medcoop.ledger.receipt import Receipt, verify_receipt, verify_receipt_still_included
from medcoop.ledger.tiles import MemoryTiles, consistency_proof, inclusion_proof
from medcoop.ledger.witness import WitnessState, cosign_checkpoint
from tests.ledger.factories import consent

LOG = generate_signer("medcoop.test/log")
WITNESS = generate_signer("hospital.test/witness", alg=ALG_COSIGNATURE)


def test_entries_are_canonical_and_strict() -> None:
    entry = consent(1)
    raw = canonical_json(entry)
    assert raw.startswith(b'{"document_sha256":') and b" " not in raw.replace(b"dose b", b"")
    assert parse_entry(raw) == entry
    access = AccessEntry(
        who="app:dose-report",
        organisation="vendor-x",
        purpose="benchmark",
        scope="ct/head/2026-05",
        aggregate=Aggregate(records=1200, sites=4),
        accessed_at=1_780_000_000,
    )
    assert parse_entry(canonical_json(access)) == access
    with pytest.raises(EntryError):
        parse_entry(raw.replace(b"{", b"{ ", 1))  # valid JSON, not canonical
    with pytest.raises(EntryError):
        parse_entry(raw.replace(b'"deny"', b'"maybe"', 1))
    with pytest.raises(EntryError):
        parse_entry(raw[:-1] + b',"patient_name":"x"}')


def _log_with(n: int) -> MemoryTiles:
    log = MemoryTiles()
    log.append([canonical_json(consent(i)) for i in range(n)])
    return log


def _signed(log: MemoryTiles) -> bytes:
    return sign_checkpoint(Checkpoint(LOG.name, log.size, log.root()), LOG)


def _receipt(log: MemoryTiles, index: int, note: bytes) -> Receipt:
    return Receipt(
        entry=canonical_json(consent(index)),
        index=index,
        checkpoint=note,
        inclusion_proof=tuple(inclusion_proof(log, index, log.size)),
        log_key=LOG.verifier.to_string(),
    )


def test_a_receipt_verifies_offline_and_later_still_holds() -> None:
    log = _log_with(300)
    _, line, _ = cosign_checkpoint(
        WitnessState(LOG.verifier.to_string()), _signed(log), [], WITNESS, now_s=1_780_000_100
    )
    note = add_cosignatures(_signed(log), [line])
    receipt = Receipt.from_json(_receipt(log, 299, note).to_json())
    result = verify_receipt(receipt, LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
    assert result.entry == consent(299) and result.checkpoint.size == 300
    log.append([canonical_json(consent(i)) for i in range(300, 1000)])
    newer = _signed(log)
    key = LOG.verifier
    verify_receipt_still_included(receipt, newer, consistency_proof(log, 300, 1000), key)
    with pytest.raises(ReceiptError):
        verify_receipt_still_included(receipt, newer, consistency_proof(log, 299, 1000), key)


def test_a_receipt_with_any_bit_flipped_fails() -> None:
    log = _log_with(20)
    receipt = _receipt(log, 7, _signed(log))
    text = receipt.to_json().encode()
    verify_receipt(Receipt.from_json(text), LOG.verifier)
    survivors = []
    for bit in range(len(text) * 8):
        bad = bytearray(text)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            got = verify_receipt(Receipt.from_json(bytes(bad)), LOG.verifier)
        except (ReceiptError, UnicodeDecodeError):
            continue
        # JSON whitespace or an escape may change without changing any value
        if Receipt.from_json(bytes(bad)) != receipt or got.entry != consent(7):
            survivors.append(bit)
    assert survivors == []


def test_the_witness_refuses_a_fork_and_keeps_the_evidence() -> None:
    honest = _log_with(10)
    state, _, _ = cosign_checkpoint(
        WitnessState(LOG.verifier.to_string()), _signed(honest), [], WITNESS, now_s=1
    )
    forked = MemoryTiles()
    forked.append([canonical_json(consent(i + 1000)) for i in range(10)])
    with pytest.raises(ForkError) as same_size:
        cosign_checkpoint(state, _signed(forked), [], WITNESS, now_s=2)
    assert same_size.value.evidence["seen_checkpoint"] == _signed(honest).decode()
    forked.append([canonical_json(consent(i)) for i in range(5)])
    with pytest.raises(ForkError):
        proof = consistency_proof(forked, 10, 15)
        cosign_checkpoint(state, _signed(forked), proof, WITNESS, now_s=3)
    honest.append([canonical_json(consent(i)) for i in range(10, 15)])
    state, line, checkpoint = cosign_checkpoint(
        state, _signed(honest), consistency_proof(honest, 10, 15), WITNESS, now_s=4
    )
    assert checkpoint.size == 15 and line.startswith("— hospital.test/witness ")
    with pytest.raises(StaleCheckpointError):
        cosign_checkpoint(state, _signed(_log_with(12)), [], WITNESS, now_s=5)
    assert WitnessState.from_json(state.to_json()) == state
