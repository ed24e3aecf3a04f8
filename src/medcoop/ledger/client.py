"""Reading a log over HTTP, the way a mirror, a witness or ``medcoop ledger verify`` does.

This is the ledger package's one I/O module: it fetches C2SP tiles, entry bundles and
checkpoints with httpx and hands bytes to the pure verifiers. Proofs are recomputed here
from the tiles, never taken from the server's JSON conveniences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from medcoop.ledger.errors import LedgerError
from medcoop.ledger.tiles import (
    ENTRIES_LEVEL,
    TILE_WIDTH,
    MemoryTiles,
    TileKey,
    decode_bundle,
    entries_path,
    tile_path,
    tile_width,
)

__all__ = ["HttpLog", "LogUnavailableError", "SizedTiles"]


class LogUnavailableError(LedgerError):
    """The log could not be reached or answered with an error."""


@dataclass
class HttpLog:
    """A log served per C2SP tlog-tiles under ``<base_url>/log/``."""

    base_url: str
    client: httpx.Client

    @classmethod
    def open(cls, base_url: str, *, timeout_s: float = 30.0) -> HttpLog:
        return cls(base_url.rstrip("/"), httpx.Client(timeout=timeout_s))

    def _get(self, path: str) -> bytes:
        try:
            response = self.client.get(f"{self.base_url}/{path}")
        except httpx.HTTPError as exc:
            raise LogUnavailableError(f"{self.base_url}/{path}: {exc}") from exc
        if response.status_code != 200:
            raise LogUnavailableError(f"{self.base_url}/{path}: HTTP {response.status_code}")
        return response.content

    def checkpoint(self) -> bytes:
        return self._get("log/checkpoint")

    def key(self) -> str:
        return self._get("log/key").decode().strip()

    def tile(self, key: TileKey, width: int) -> bytes:
        if key.level == ENTRIES_LEVEL:
            return self._get("log/" + entries_path(key.index, width))
        return self._get("log/" + tile_path(key.level, key.index, width))

    def post_json(self, path: str, body: object) -> httpx.Response:
        try:
            return self.client.post(f"{self.base_url}/{path}", json=body)
        except httpx.HTTPError as exc:
            raise LogUnavailableError(f"{self.base_url}/{path}: {exc}") from exc

    def download(self, size: int, progress: Callable[[int], None] | None = None) -> MemoryTiles:
        """Fetch every entry bundle of a tree of ``size`` and rebuild the tree in memory."""
        tree = MemoryTiles()
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            key = TileKey(ENTRIES_LEVEL, index)
            entries = decode_bundle(self.tile(key, tile_width(key, size)))
            tree.append(entries)
            if progress:
                progress(len(entries))
        return tree


@dataclass
class SizedTiles:
    """A :class:`~medcoop.ledger.tiles.TileReader` fetching each tile at its width for ``size``."""

    log: HttpLog
    size: int

    def read_tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
        return {key: self.log.tile(key, tile_width(key, self.size)) for key in keys}
