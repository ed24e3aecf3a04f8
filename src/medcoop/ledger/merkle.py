"""RFC 9162 Merkle tree hashing, proof generation and proof verification.

Hashing is §2.1.1 (leaf ``SHA-256(0x00 || entry)``, node ``SHA-256(0x01 || left || right)``).
Proofs are generated as lists of *recipes*: each proof element is the Merkle tree hash of a
range of leaves, which is a fold of complete subtrees (:class:`Node`), so a store can fetch all
the nodes a proof needs in one read and hash nothing else. Verification follows the algorithms
of §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) literally, with the stricter conventions of
the transparency-dev reference verifier (a consistency proof from size 0 is an error).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from medcoop.ledger.errors import ConsistencyProofError, InclusionProofError

__all__ = [
    "HASH_SIZE",
    "Node",
    "consistency_recipe",
    "empty_root",
    "fold",
    "inclusion_recipe",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "resolve",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256


class Node(NamedTuple):
    """A complete subtree: ``2**level`` leaves starting at leaf ``index << level``."""

    level: int
    index: int


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || entry)``."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    """Return the root of the empty tree, ``SHA-256("")``."""
    return _sha256(b"").digest()


def _split(n: int) -> int:
    """Return the largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """Return the complete subtrees whose fold is the Merkle tree hash of leaves [start, end).

    ``start`` must be aligned as RFC 9162's recursion leaves it (a multiple of the largest
    power of two not exceeding ``end - start``); the nodes are listed left to right.
    """
    nodes = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        # the largest aligned power-of-two block starting at `start` that fits
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append(Node(level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Fold complete-subtree hashes listed left to right into one range hash (right first)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_recipe(index: int, size: int) -> list[list[Node]]:
    """Return the recipe of the inclusion proof of leaf ``index`` in a tree of ``size``.

    This is PATH(m, D[n]) of RFC 9162 §2.1.3.1, bottom-most element first.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    recipe: list[list[Node]] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _split(n)
        if m < k:
            recipe.append(range_nodes(start + k, start + n))
            n = k
        else:
            recipe.append(range_nodes(start, start + k))
            start, n, m = start + k, n - k, m - k
    recipe.reverse()
    return recipe


def consistency_recipe(old_size: int, new_size: int) -> list[list[Node]]:
    """Return the recipe of the consistency proof from ``old_size`` to ``new_size``.

    This is PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1; it is empty when
    the sizes are equal.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    recipe: list[list[Node]] = []
    start, n, m, complete = 0, new_size, old_size, True
    while m != n:
        k = _split(n)
        if m <= k:
            recipe.append(range_nodes(start + k, start + n))
            n = k
        else:
            recipe.append(range_nodes(start, start + k))
            start, n, m, complete = start + k, n - k, m - k, False
    if not complete:
        recipe.append(range_nodes(start, start + n))
    recipe.reverse()
    return recipe


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH(D[n]) of RFC 9162 §2.1.1 for leaf hashes held in memory."""
    if not hashes:
        return empty_root()
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _check_hash(value: bytes, what: str, error: type[Exception]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf`` (a leaf hash) is at ``leaf_index`` in the tree with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`InclusionProofError` on any failure.
    """
    if not 0 <= leaf_index < tree_size:
        raise InclusionProofError(f"leaf index {leaf_index} is outside tree size {tree_size}")
    _check_hash(leaf, "leaf hash", InclusionProofError)
    _check_hash(root, "root hash", InclusionProofError)
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in proof:
        _check_hash(p, "proof element", InclusionProofError)
        if sn == 0:
            raise InclusionProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InclusionProofError(
            f"inclusion proof of leaf {leaf_index} gives root {r.hex()}, not {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the tree of ``new_size`` with ``new_root`` extends ``old_size``/``old_root``.

    RFC 9162 §2.1.4.2, with the reference verifier's conventions: size 0 is never consistent
    (an empty tree proves nothing), equal sizes need an empty proof and equal roots.
    Raises :class:`ConsistencyProofError`.
    """
    # Roots are compared, not parsed, as the reference verifier does: a root of the wrong
    # length can never equal a computed hash, and equal sizes compare the two roots given.
    if old_size <= 0 or old_size > new_size:
        raise ConsistencyProofError(f"no consistency from size {old_size} to {new_size}")
    for p in proof:
        _check_hash(p, "proof element", ConsistencyProofError)
    if old_size == new_size:
        if proof:
            raise ConsistencyProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ConsistencyProofError(
                f"two roots for size {old_size}: {old_root.hex()} and {new_root.hex()}"
            )
        return
    if not proof:
        raise ConsistencyProofError("empty consistency proof between different sizes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError("consistency proof is too short")
    if fr != old_root:
        raise ConsistencyProofError(f"consistency proof gives old root {fr.hex()}")
    if sr != new_root:
        raise ConsistencyProofError(f"consistency proof gives new root {sr.hex()}")


def resolve(
    recipe: Iterable[Sequence[Node]], hashes: Callable[[Sequence[Node]], Sequence[bytes]]
) -> list[bytes]:
    """Turn a recipe into proof hashes, fetching every node it needs in one call of ``hashes``."""
    recipe = list(recipe)
    wanted = sorted({node for element in recipe for node in element})
    found = dict(zip(wanted, hashes(wanted), strict=True))
    return [fold([found[node] for node in element]) for element in recipe]
