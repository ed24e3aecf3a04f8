"""RFC 9162 hashing and proofs against the transparency-dev vectors, and over random trees."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medcoop.ledger.errors import ConsistencyProofError, InclusionProofError
from medcoop.ledger.merkle import (
    empty_root,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from medcoop.ledger.tiles import MemoryTiles, consistency_proof, inclusion_proof
from tests.ledger.conftest import load_jsonl


def _b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _leaves(tree8: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(h) for h in tree8["leaf_inputs_hex"]]


def test_hasher_known_answers(tree8: dict[str, Any]) -> None:
    answers = tree8["hasher_known_answers"]
    assert leaf_hash(b"").hex() == answers[0]["hash_hex"]
    assert leaf_hash(b"L123456").hex() == answers[1]["hash_hex"]
    assert node_hash(b"N123", b"N456").hex() == answers[2]["hash_hex"]
    assert empty_root().hex() == tree8["empty_tree_root_hex"]


def test_roots_for_every_size(tree8: dict[str, Any]) -> None:
    leaves = _leaves(tree8)
    for size, want in enumerate(tree8["root_hash_by_tree_size_hex"]):
        hashes = [leaf_hash(e) for e in leaves[:size]]
        assert root_from_leaf_hashes(hashes).hex() == want
        log = MemoryTiles()
        log.append(leaves[:size])
        assert log.root().hex() == want


def test_generated_proofs_match_the_reference_tables(tree8: dict[str, Any]) -> None:
    log = MemoryTiles()
    log.append(_leaves(tree8))
    for case in tree8["inclusion_proofs_zero_based"]:
        proof = inclusion_proof(log, case["leaf_index"], case["tree_size"])
        assert [p.hex() for p in proof] == case["proof_hex"]
    for case in tree8["consistency_proofs"]:
        proof = consistency_proof(log, case["size1"], case["size2"])
        assert [p.hex() for p in proof] == case["proof_hex"]


@pytest.mark.parametrize("case", load_jsonl("inclusion.jsonl"), ids=lambda c: c["file"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    args = (
        case["leafIdx"],
        case["treeSize"],
        base64.b64decode(case["leafHash"]),
        _b64(case["proof"]),
        base64.b64decode(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("case", load_jsonl("consistency.jsonl"), ids=lambda c: c["file"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    args = (
        case["size1"],
        case["size2"],
        base64.b64decode(case["root1"]),
        base64.b64decode(case["root2"]),
        _b64(case["proof"]),
    )
    if case["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_consistency_from_size_zero_is_refused() -> None:
    with pytest.raises(ConsistencyProofError):
        verify_consistency(0, 0, empty_root(), empty_root(), [])
    with pytest.raises(ConsistencyProofError):
        verify_consistency(0, 1, empty_root(), leaf_hash(b""), [])


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# Trees large enough to cross tile boundaries at levels 0 and 1 (256 and 65,536 leaves) are
# built once; hypothesis draws sizes and indices inside them.
_BIG = MemoryTiles()
_BIG.append([i.to_bytes(4, "big") for i in range(70_000)])
_ROOTS: dict[int, bytes] = {}


def _root(size: int) -> bytes:
    if size not in _ROOTS:
        _ROOTS[size] = _BIG.root() if size == _BIG.size else _root_at(size)
    return _ROOTS[size]


def _root_at(size: int) -> bytes:
    from medcoop.ledger.tiles import root_hash

    return root_hash(_BIG, size)


@st.composite
def _index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.one_of(st.integers(1, 600), st.integers(1, _BIG.size)))
    return draw(st.integers(0, size - 1)), size


@settings(max_examples=150, deadline=None)
@given(_index_and_size(), st.data())
def test_every_inclusion_proof_verifies_and_every_bit_flip_is_caught(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    proof = inclusion_proof(_BIG, index, size)
    leaf = leaf_hash(index.to_bytes(4, "big"))
    verify_inclusion(index, size, leaf, proof, _root(size))
    entry_bit = data.draw(st.integers(0, 31))
    with pytest.raises(InclusionProofError):
        verify_inclusion(
            index, size, leaf_hash(_flip(index.to_bytes(4, "big"), entry_bit)), proof, _root(size)
        )
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = [*proof[:which], _flip(proof[which], bit), *proof[which + 1 :]]
        with pytest.raises(InclusionProofError):
            verify_inclusion(index, size, leaf, bad, _root(size))


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.one_of(st.integers(1, 600), st.integers(1, _BIG.size)))
    return draw(st.integers(1, new)), new


@settings(max_examples=150, deadline=None)
@given(_two_sizes(), st.data())
def test_every_consistency_proof_verifies_and_every_bit_flip_is_caught(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    proof = consistency_proof(_BIG, old, new)
    verify_consistency(old, new, _root(old), _root(new), proof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = [*proof[:which], _flip(proof[which], bit), *proof[which + 1 :]]
        with pytest.raises(ConsistencyProofError):
            verify_consistency(old, new, _root(old), _root(new), bad)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ConsistencyProofError):
        verify_consistency(old, new, _flip(_root(old), bit), _root(new), proof)
