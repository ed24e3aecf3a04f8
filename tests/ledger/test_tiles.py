"""C2SP tlog-tiles layout: paths, widths, bundles, and appends in uneven batches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medcoop.ledger.errors import TileError
from medcoop.ledger.merkle import leaf_hash, root_from_leaf_hashes
from medcoop.ledger.tiles import (
    ENTRIES_LEVEL,
    MemoryTiles,
    TileKey,
    decode_bundle,
    encode_bundle,
    entries_path,
    parse_tile_path,
    tile_path,
    tile_width,
    tiles_of_tree,
)


def test_index_is_encoded_in_three_digit_elements() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tile_path(1, 0) == "tile/1/000"
    assert entries_path(1000) == "tile/entries/x001/000"
    assert entries_path(3, 255) == "tile/entries/003.p/255"


@pytest.mark.parametrize(
    "path,key,width",
    [
        ("tile/0/x001/x234/067", TileKey(0, 1234067), 256),
        ("tile/3/000.p/1", TileKey(3, 0), 1),
        ("tile/entries/x001/000.p/9", TileKey(ENTRIES_LEVEL, 1000), 9),
    ],
)
def test_paths_parse_back(path: str, key: TileKey, width: int) -> None:
    assert parse_tile_path(path) == (key, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",  # not three digits
        "tile/0/x000/001",  # leading zero element
        "tile/01/001",  # leading zero in level
        "tile/0/001.p/256",  # a full tile is not partial
        "tile/0/001.p/0",
        "tile/0/001.p/007",
        "tile/64/001",
        "tile/0/001/",
        "tile/0/x001",
        "../tile/0/001",
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_tile_path(path)


@given(st.integers(0, 2**64), st.integers(1, 256))
def test_every_index_round_trips(index: int, width: int) -> None:
    assert parse_tile_path(tile_path(5, index, width)) == (TileKey(5, index), width)


def test_widths_at_a_size() -> None:
    size = 256 * 256 * 2 + 256 * 3 + 7
    assert tile_width(TileKey(0, 0), size) == 256
    assert tile_width(TileKey(0, size // 256), size) == 7
    assert tile_width(TileKey(1, 2), size) == 3
    assert tile_width(TileKey(2, 0), size) == 2
    assert tile_width(TileKey(3, 0), size) == 0
    widths = dict(tiles_of_tree(size))
    assert widths[TileKey(2, 0)] == 2 and TileKey(3, 0) not in widths


def test_bundles_round_trip_and_reject_truncation() -> None:
    entries = [b"", b"x", b"\x00" * 300]
    data = encode_bundle(entries)
    assert decode_bundle(data) == entries
    with pytest.raises(TileError):
        decode_bundle(data[:-1])
    with pytest.raises(TileError):
        encode_bundle([b"y" * 70_000])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=6))
def test_batches_of_any_size_give_the_same_tiles(batches: list[int]) -> None:
    total = sum(batches)
    entries = [i.to_bytes(3, "big") for i in range(total)]
    one = MemoryTiles()
    one.append(entries)
    many = MemoryTiles()
    pos = 0
    for n in batches:
        many.append(entries[pos : pos + n])
        pos += n
    assert many.tiles == one.tiles
    assert many.root() == root_from_leaf_hashes([leaf_hash(e) for e in entries])
    for key, width in tiles_of_tree(total):
        assert len(one.tiles[key]) == 32 * width
    bundles = [decode_bundle(one.tiles[TileKey(ENTRIES_LEVEL, n)]) for n in range(total // 256 + 1)
               if TileKey(ENTRIES_LEVEL, n) in one.tiles]
    assert [e for b in bundles for e in b] == entries
