"""C2SP tlog-tiles layout maths: tile coordinates, widths, paths, bundles and appends.

A tile at level ``L`` and index ``N`` holds up to 256 consecutive hashes of tree level
``8*L``, starting at node ``N*256``; the levels inside a tile are recomputed by hashing.
Level-0 tiles hold leaf hashes; entry bundles hold the entries themselves, each prefixed by
its length as a big-endian uint16. A tile of width ``W < 256`` is *partial*; it is a prefix of
the full tile it grows into, so a store keeps one row per tile and serves any ``.p/W`` as a
slice. Everything here is pure: a store supplies tiles through :class:`TileReader`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, Protocol

from medcoop.ledger.errors import TileError
from medcoop.ledger.merkle import (
    HASH_SIZE,
    Node,
    consistency_recipe,
    empty_root,
    fold,
    inclusion_recipe,
    leaf_hash,
    node_hash,
    range_nodes,
    resolve,
)

__all__ = [
    "ENTRIES_LEVEL",
    "MAX_ENTRY_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "MemoryTiles",
    "TileKey",
    "TileReader",
    "append_entries",
    "append_leaves",
    "consistency_proof",
    "decode_bundle",
    "edge_keys",
    "encode_bundle",
    "entries_path",
    "inclusion_proof",
    "node_from_tile",
    "parse_tile_path",
    "right_edge",
    "root_hash",
    "tile_path",
    "tile_width",
    "tiles_for_nodes",
    "tiles_of_tree",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES = 0xFFFF  # the uint16 length prefix of an entry bundle
ENTRIES_LEVEL = -1  # the key level under which a store keeps entry bundles
_MAX_LEVEL = 63


class TileKey(NamedTuple):
    """A tile's coordinates: level (``-1`` for entry bundles) and index."""

    level: int
    index: int


class TileReader(Protocol):
    """Where proofs read tiles from: a database, a mirror over HTTP, or memory."""

    def read_tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
        """Return the stored bytes of each tile in ``keys`` (full or partial, as stored)."""
        ...


# --- paths ----------------------------------------------------------------------------------


def _encode_index(index: int) -> str:
    digits = f"{index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    parts = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{p}" for p in parts[:-1]] + [parts[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/<L>/<N>[.p/<W>]`` per C2SP tlog-tiles (``N`` in 3-digit elements)."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{_encode_index(index)}{suffix}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/entries/<N>[.p/<W>]`` for an entry bundle."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/entries/{_encode_index(index)}{suffix}"


_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> tuple[TileKey, int]:
    """Parse a tile or entries path into its key and width; raise :class:`TileError`.

    The encoding must be the canonical one (no leading zero element, widths 1-255), so each
    tile has one name and caches cannot be poisoned through aliases.
    """
    match = _PATH.fullmatch(path)
    if match is None:
        raise TileError(f"not a tlog-tiles path: {path!r}")
    elements = match["index"].split("/")
    if len(elements) > 1 and elements[0] == "x000":
        raise TileError(f"tile index has a leading zero element: {path!r}")
    index = int("".join(e.lstrip("x") for e in elements))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise TileError(f"partial tile width must be 1-255: {path!r}")
    level = ENTRIES_LEVEL if match["level"] == "entries" else int(match["level"])
    if level > _MAX_LEVEL:
        raise TileError(f"tile level must be 0-{_MAX_LEVEL}: {path!r}")
    return TileKey(level, index), width


# --- widths and coordinates -----------------------------------------------------------------


def tile_width(key: TileKey, size: int) -> int:
    """Return the width of tile ``key`` in a tree of ``size`` leaves (0 if it does not exist)."""
    level = max(key.level, 0)
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - key.index * TILE_WIDTH))


def tiles_of_tree(size: int) -> list[tuple[TileKey, int]]:
    """Return every hash tile of a tree of ``size`` with its width, level by level."""
    out = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        for index in range((nodes + TILE_WIDTH - 1) // TILE_WIDTH):
            out.append((TileKey(level, index), tile_width(TileKey(level, index), size)))
        level += 1
    return out


def _locate(node: Node) -> tuple[TileKey, int, int]:
    """Return the tile holding ``node``'s descendants at the tile's base level, and their span."""
    tile_level, sub = divmod(node.level, TILE_HEIGHT)
    first = node.index << sub
    return TileKey(tile_level, first >> TILE_HEIGHT), first % TILE_WIDTH, 1 << sub


def tiles_for_nodes(nodes: Iterable[Node]) -> list[TileKey]:
    """Return the tiles needed to compute ``nodes`` (sorted, without repeats)."""
    return sorted({_locate(node)[0] for node in nodes})


def _hash_level(hashes: list[bytes]) -> list[bytes]:
    return [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    levels = [hashes]
    while len(levels[-1]) > 1:
        levels.append(_hash_level(levels[-1]))
    return levels


@lru_cache(maxsize=8192)
def _full_tile_levels(tile: bytes) -> list[list[bytes]]:
    # A full tile never changes, so its 8 inner levels are worth keeping (64 KiB each).
    return _levels([tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)])


def _tile_root(tile: bytes) -> bytes:
    if len(tile) == TILE_WIDTH * HASH_SIZE:
        return _full_tile_levels(tile)[-1][0]
    return _levels([tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)])[-1][0]


def node_from_tile(tile: bytes, node: Node) -> bytes:
    """Return the hash of complete subtree ``node`` from the bytes of its tile."""
    _, offset, count = _locate(node)
    end = (offset + count) * HASH_SIZE
    if len(tile) < end:
        raise TileError(f"tile of {len(tile) // HASH_SIZE} hashes cannot hold node {node}")
    sub = count.bit_length() - 1
    if len(tile) == TILE_WIDTH * HASH_SIZE:
        return _full_tile_levels(tile)[sub][offset >> sub]
    hashes = [tile[i : i + HASH_SIZE] for i in range(offset * HASH_SIZE, end, HASH_SIZE)]
    return _levels(hashes)[-1][0]


def _node_hashes(reader: TileReader, nodes: Sequence[Node]) -> list[bytes]:
    tiles = reader.read_tiles(tiles_for_nodes(nodes))
    try:
        return [node_from_tile(tiles[_locate(node)[0]], node) for node in nodes]
    except KeyError as exc:
        raise TileError(f"tile {exc.args[0]} is missing from the store") from exc


# --- proofs and roots over tiles ------------------------------------------------------------


def root_hash(reader: TileReader, size: int) -> bytes:
    """Return the root of the tree of ``size`` from its tiles (O(log n) tile reads)."""
    if size == 0:
        return empty_root()
    return fold(_node_hashes(reader, range_nodes(0, size)))


def inclusion_proof(reader: TileReader, index: int, size: int) -> list[bytes]:
    """Return the RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
    return resolve(inclusion_recipe(index, size), lambda n: _node_hashes(reader, n))


def consistency_proof(reader: TileReader, old_size: int, new_size: int) -> list[bytes]:
    """Return the RFC 9162 consistency proof from ``old_size`` to ``new_size``."""
    return resolve(consistency_recipe(old_size, new_size), lambda n: _node_hashes(reader, n))


# --- appending ------------------------------------------------------------------------------


def right_edge(size: int) -> list[TileKey]:
    """Return the tiles an append to a tree of ``size`` may extend (the last of each level)."""
    keys = []
    level = 0
    while True:
        nodes = size >> (TILE_HEIGHT * level)
        keys.append(TileKey(level, nodes // TILE_WIDTH))
        if nodes < TILE_WIDTH:
            return keys
        level += 1


def append_leaves(
    edge: Mapping[TileKey, bytes], size: int, leaf_hashes: Sequence[bytes]
) -> dict[TileKey, bytes]:
    """Append leaf hashes to a tree of ``size``; return every tile that changed.

    ``edge`` must hold the tiles of :func:`right_edge` ``(size)`` that exist. When a tile
    fills up, the hash of its 256 nodes becomes the next node of the tile one level up.
    """
    changed: dict[TileKey, bytes] = {}

    def current(key: TileKey) -> bytes:
        return changed.get(key, edge.get(key, b""))

    pending = list(leaf_hashes)
    level, first = 0, size
    while pending:
        promoted: list[bytes] = []
        key = TileKey(level, first // TILE_WIDTH)
        data = bytearray(current(key))
        expected = (first % TILE_WIDTH) * HASH_SIZE
        if len(data) != expected:
            raise TileError(f"tile {key} holds {len(data)} bytes, expected {expected}")
        for h in pending:
            data += h
            if len(data) == TILE_WIDTH * HASH_SIZE:
                changed[key] = bytes(data)
                promoted.append(_tile_root(bytes(data)))
                key = TileKey(level, key.index + 1)
                data = bytearray()
        if data:
            changed[key] = bytes(data)
        pending = promoted
        first //= TILE_WIDTH
        level += 1
    return changed


# --- entry bundles --------------------------------------------------------------------------


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Encode entries as a tlog-tiles entry bundle (uint16 big-endian length, then bytes)."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise TileError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY_BYTES}")
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into its entries; raise :class:`TileError` if truncated."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileError("entry bundle ends inside a length prefix")
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > len(data):
            raise TileError("entry bundle ends inside an entry")
        entries.append(data[pos : pos + length])
        pos += length
    if len(entries) > TILE_WIDTH:
        raise TileError(f"entry bundle holds {len(entries)} entries, more than {TILE_WIDTH}")
    return entries


def append_entries(bundle: bytes, size: int, entries: Sequence[bytes]) -> dict[TileKey, bytes]:
    """Append entries to the bundles of a log of ``size``; return every bundle that changed.

    ``bundle`` is the stored (partial) bundle at index ``size // 256``, empty if none.
    """
    changed: dict[TileKey, bytes] = {}
    index, pos, current = size, 0, bundle
    while pos < len(entries):
        key = TileKey(ENTRIES_LEVEL, index // TILE_WIDTH)
        take = min(TILE_WIDTH - index % TILE_WIDTH, len(entries) - pos)
        changed[key] = current + encode_bundle(entries[pos : pos + take])
        index, pos, current = index + take, pos + take, b""
    return changed


def edge_keys(size: int) -> list[TileKey]:
    """Return the tiles and the entry bundle an append to a log of ``size`` reads."""
    return [*right_edge(size), TileKey(ENTRIES_LEVEL, size // TILE_WIDTH)]


@dataclass
class MemoryTiles:
    """A whole tiled log in memory: for tests, benchmarks and verifying a downloaded copy."""

    size: int = 0
    tiles: dict[TileKey, bytes] = field(default_factory=dict)

    def read_tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
        return {key: self.tiles[key] for key in keys if key in self.tiles}

    def append(self, entries: Sequence[bytes]) -> int:
        """Append entries; return the index of the first."""
        first = self.size
        self.tiles.update(append_leaves(self.tiles, first, [leaf_hash(e) for e in entries]))
        bundle = self.tiles.get(TileKey(ENTRIES_LEVEL, first // TILE_WIDTH), b"")
        self.tiles.update(append_entries(bundle, first, entries))
        self.size += len(entries)
        return first

    def root(self) -> bytes:
        return root_hash(self, self.size)
