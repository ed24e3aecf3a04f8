"""The transparency log in the hub's database (SQLite or PostgreSQL).

Appending is two steps. :meth:`SqlLedger.accept` stores entries in ``ledger_queue`` and
commits: from then on they cannot be lost. :meth:`SqlLedger.sequence` takes queued entries
in one transaction that first locks the ``ledger_state`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so one sequencer at a time extends the tree:
it reads the right edge of the tiles, appends, writes the changed tiles, the leaf index,
the new state and the signed checkpoint, and deletes exactly the queue rows it took. A
sequencer killed mid-batch rolls back whole; the entries wait in the queue for the next one.
A proof reads only the O(log n) tiles its nodes live in, in one query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from medcoop.hub.db.engine import WRITE_OPTION
from medcoop.hub.db.ledger_models import (
    LedgerCheckpoint,
    LedgerCosignature,
    LedgerLeaf,
    LedgerQueued,
    LedgerState,
    LedgerTile,
)
from medcoop.ledger import tiles as layout
from medcoop.ledger.checkpoint import Checkpoint, add_cosignatures, sign_checkpoint
from medcoop.ledger.entries import parse_entry
from medcoop.ledger.errors import (
    CosignatureError,
    EntryError,
    MalformedNoteError,
    SignatureError,
)
from medcoop.ledger.merkle import HASH_SIZE, empty_root, leaf_hash
from medcoop.ledger.note import Signer, Verifier, parse_signatures, split_note
from medcoop.ledger.tiles import ENTRIES_LEVEL, TILE_WIDTH, TileKey

__all__ = ["LedgerView", "SqlLedger", "TileNotFoundError"]

_QUEUE = LedgerQueued.__table__
_TILES = LedgerTile.__table__
_LEAVES = LedgerLeaf.__table__
_STATE = LedgerState.__table__
_CHECKPOINTS = LedgerCheckpoint.__table__
_COSIGS = LedgerCosignature.__table__
_IN_CHUNK = 500  # keys per IN list: well under SQLite's bound-parameter limit


class TileNotFoundError(LookupError):
    """The tile, bundle, entry or size asked for is not in the log (yet)."""


class LedgerView(Protocol):
    """What the public read API needs from a log."""

    def size(self) -> int: ...
    def checkpoint(self) -> bytes: ...
    def verifier(self) -> Verifier: ...
    def tile(self, key: TileKey, width: int) -> bytes: ...
    def entry(self, index: int) -> bytes: ...
    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


_FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE


class FullTileCache:
    """Full hash tiles by key, least recently used out (a full tile never changes, so
    every worker may keep its own copy: a proof then reads only its cold tiles)."""

    def __init__(self, max_tiles: int = 8192) -> None:  # 8192 tiles: 64 MiB
        self.max_tiles = max_tiles
        self._tiles: OrderedDict[TileKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        with self._lock:
            found = {k: self._tiles[k] for k in keys if k in self._tiles}
            for key in found:
                self._tiles.move_to_end(key)
        return found

    def keep(self, tiles: Mapping[TileKey, bytes]) -> None:
        with self._lock:
            for key, data in tiles.items():
                if key.level != ENTRIES_LEVEL and len(data) == _FULL_TILE_BYTES:
                    self._tiles[key] = data
            while len(self._tiles) > self.max_tiles:
                self._tiles.popitem(last=False)


@dataclass
class _ConnTiles:
    """A :class:`~medcoop.ledger.tiles.TileReader` over one connection."""

    conn: Connection
    overlay: Mapping[TileKey, bytes] | None = None
    cache: FullTileCache | None = None

    def read_tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
        found: dict[TileKey, bytes] = {}
        wanted = list(keys)
        if self.overlay:
            found = {k: self.overlay[k] for k in wanted if k in self.overlay}
            wanted = [k for k in wanted if k not in found]
        if self.cache is not None and wanted:
            cached = self.cache.get_many(wanted)
            found.update(cached)
            wanted = [k for k in wanted if k not in cached]
        by_level: dict[int, list[int]] = {}
        for key in wanted:
            by_level.setdefault(key.level, []).append(key.index)
        # One indexed select per level, in one driver-level statement: SQLite does not use
        # the primary key for a row-value IN list, and a proof is a handful of rows, where
        # building a SQLAlchemy statement would cost more than the read.
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        parts, params = [], []
        for level, indices in by_level.items():
            for i in range(0, len(indices), _IN_CHUNK):
                chunk = indices[i : i + _IN_CHUNK]
                parts.append(
                    f"SELECT level, idx, data FROM ledger_tiles WHERE level = {mark} "
                    f"AND idx IN ({', '.join([mark] * len(chunk))})"
                )
                params += [level, *chunk]
        if parts:
            rows = self.conn.exec_driver_sql(" UNION ALL ".join(parts), tuple(params))
            read = {TileKey(level, idx): bytes(data) for level, idx, data in rows}
            if self.cache is not None:
                self.cache.keep(read)
            found.update(read)
        return found


class SqlLedger:
    """The log stored as tiles in ``engine``'s database, signed by ``signer``."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        *,
        witnesses: Sequence[Verifier] = (),
        batch_max: int = 20_000,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.witnesses = {(w.name, w.key_id): w for w in witnesses}
        self.batch_max = batch_max
        self.tile_cache = FullTileCache()
        self._known_size = 0  # a size the log has reached (it never shrinks)
        self._ensure_state()

    # --- writing ------------------------------------------------------------------------

    def _ensure_state(self) -> None:
        with self._writing() as conn, conn.begin():
            if conn.execute(select(_STATE.c.id).where(_STATE.c.id == 1)).first() is None:
                empty = Checkpoint(self.signer.name, 0, empty_root())
                note = sign_checkpoint(empty, self.signer).decode()
                values = {"id": 1, "size": 0, "root_hash": empty_root(), "checkpoint": note}
                conn.execute(_insert_ignore(conn, _STATE, ["id"]), [values])

    def _writing(self) -> Any:
        return self.engine.connect().execution_options(**{WRITE_OPTION: True})

    @staticmethod
    def validate(entries: Sequence[bytes], *, parse: bool = True) -> None:
        """Raise :class:`EntryError` for an entry too large, or (``parse``) not a valid,
        canonical entry."""
        for position, raw in enumerate(entries):
            if len(raw) > layout.MAX_ENTRY_BYTES:
                raise EntryError(f"entry {position} exceeds {layout.MAX_ENTRY_BYTES} bytes")
            if not parse:
                continue
            try:
                parse_entry(raw)
            except EntryError as exc:
                raise EntryError(f"entry {position}: {exc}") from exc

    def accept(self, entries: Sequence[bytes]) -> None:
        """Validate and durably queue ``entries``; raise :class:`EntryError` for a bad one."""
        self.validate(entries)
        if not entries:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(_QUEUE), [{"entry": raw} for raw in entries])  # type: ignore[arg-type]

    def sequence(self) -> int:
        """Sequence everything queued, a batch per transaction; return how many entries."""
        total = 0
        while True:
            with self._writing() as conn, conn.begin():
                done, _ = self._sequence_batch(conn)
            total += done
            if done < self.batch_max:
                return total

    def _sequence_batch(self, conn: Connection, extra: Sequence[bytes] = ()) -> tuple[int, int]:
        """Sequence the queue's oldest entries, then ``extra``; return how many entries
        in all, and the index of the first of ``extra``."""
        state = conn.execute(
            select(_STATE.c.size).where(_STATE.c.id == 1).with_for_update()
        ).one()
        size = int(state.size)
        taken = select(_QUEUE.c.seq).order_by(_QUEUE.c.seq).limit(self.batch_max)
        rows = conn.execute(
            delete(_QUEUE)  # type: ignore[arg-type]
            .where(_QUEUE.c.seq.in_(taken.scalar_subquery()))
            .returning(_QUEUE.c.seq, _QUEUE.c.entry)
        ).all()
        entries = [bytes(entry) for _, entry in sorted(rows)]
        first_extra = size + len(entries)
        entries += extra
        if not entries:
            return 0, first_extra
        hashes = [leaf_hash(e) for e in entries]
        edge = _ConnTiles(conn).read_tiles(layout.edge_keys(size))
        changed = layout.append_leaves(edge, size, hashes)
        bundle_key = TileKey(ENTRIES_LEVEL, size // TILE_WIDTH)
        changed.update(layout.append_entries(edge.get(bundle_key, b""), size, entries))
        new_size = size + len(entries)
        root = layout.root_hash(_ConnTiles(conn, {**edge, **changed}), new_size)
        note = sign_checkpoint(Checkpoint(self.signer.name, new_size, root), self.signer).decode()
        tile_rows = [{"level": k.level, "idx": k.index, "data": v} for k, v in changed.items()]
        conn.execute(_upsert(conn, _TILES, ["level", "idx"], "data"), tile_rows)
        # through the driver: SQLAlchemy's per-value processing of a batch of binary
        # parameters costs more than the insert itself
        if conn.dialect.name == "postgresql":  # one statement, two arrays: no row trips
            conn.exec_driver_sql(
                "INSERT INTO ledger_leaves (leaf_index, leaf_hash) "
                "SELECT * FROM unnest(%s::bigint[], %s::bytea[])",
                (list(range(size, size + len(hashes))), hashes),
            )
        else:
            conn.exec_driver_sql(
                "INSERT INTO ledger_leaves (leaf_index, leaf_hash) VALUES (?, ?)",
                [(size + i, h) for i, h in enumerate(hashes)],
            )
        conn.execute(
            update(_STATE)  # type: ignore[arg-type]
            .where(_STATE.c.id == 1)
            .values(size=new_size, root_hash=root, checkpoint=note)
        )
        conn.execute(insert(_CHECKPOINTS), [{"size": new_size, "note": note}])  # type: ignore[arg-type]
        return len(entries), first_extra

    def append(self, entries: Sequence[bytes], *, validated: bool = False) -> list[int]:
        """Sequence ``entries`` now and return the index of each.

        One transaction under the sequencer's lock: the entries other workers accepted
        (queued) first, then these, so none waits and none is looked up afterwards. The
        caller hears the indices only once they are committed; a failure leaves nothing.
        ``validated``: the caller parsed or built every entry (only sizes are checked).
        """
        if not entries:
            return []
        self.validate(entries, parse=not validated)
        with self._writing() as conn, conn.begin():
            _, first = self._sequence_batch(conn, entries)
        return list(range(first, first + len(entries)))

    def indices_of(self, entries: Sequence[bytes], *, at_least: int = 0) -> list[int]:
        """Return the index of each entry, matching repeats to successive indices."""
        hashes = [leaf_hash(e) for e in entries]
        found: dict[bytes, list[int]] = {}
        with self.engine.connect() as conn:
            unique = list(set(hashes))
            for i in range(0, len(unique), _IN_CHUNK):
                rows = conn.execute(
                    select(_LEAVES.c.leaf_hash, _LEAVES.c.leaf_index)
                    .where(_LEAVES.c.leaf_hash.in_(unique[i : i + _IN_CHUNK]))
                    .where(_LEAVES.c.leaf_index >= at_least)
                    .order_by(_LEAVES.c.leaf_index)
                )
                for h, index in rows:
                    found.setdefault(bytes(h), []).append(int(index))
        out = []
        for h in hashes:
            if not found.get(h):
                raise TileNotFoundError("an accepted entry is not sequenced yet")
            out.append(found[h].pop(0))
        return out

    def add_cosignature(self, size: int, line: str) -> str:
        """Verify a witness's cosignature line on the checkpoint of ``size`` and keep it."""
        try:
            (sig,) = parse_signatures(line.encode())
        except (MalformedNoteError, ValueError) as exc:
            raise CosignatureError(f"not one cosignature line: {exc}") from exc
        witness = self.witnesses.get((sig.name, sig.key_id))
        if witness is None:
            raise CosignatureError(f"{sig.name} is not a witness of this log")
        with self.engine.connect() as conn:
            note = conn.execute(
                select(_CHECKPOINTS.c.note).where(_CHECKPOINTS.c.size == size)
            ).scalar()
        if note is None:
            raise CosignatureError(f"the log signed no checkpoint of size {size}")
        text, _ = split_note(note.encode())
        try:
            witness.verify(text, sig.signature)
        except SignatureError as exc:
            raise CosignatureError(f"cosignature by {sig.name} does not verify") from exc
        with self.engine.begin() as conn:
            conn.execute(_upsert(conn, _COSIGS, ["size", "witness"], "line"),
                         [{"size": size, "witness": sig.name, "line": sig.line()}])
        return sig.name

    # --- reading ------------------------------------------------------------------------

    def verifier(self) -> Verifier:
        return self.signer.verifier

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one())

    def checkpoint(self, size: int | None = None) -> bytes:
        """Return the signed checkpoint (latest, or of ``size``) with its cosignatures."""
        with self.engine.connect() as conn:
            if size is None:
                row = conn.execute(
                    select(_STATE.c.size, _STATE.c.checkpoint).where(_STATE.c.id == 1)
                ).one()
                size, note = int(row.size), row.checkpoint
            else:
                note = conn.execute(
                    select(_CHECKPOINTS.c.note).where(_CHECKPOINTS.c.size == size)
                ).scalar()
                if note is None:
                    raise TileNotFoundError(f"no checkpoint of size {size}")
            lines = conn.execute(
                select(_COSIGS.c.line).where(_COSIGS.c.size == size).order_by(_COSIGS.c.witness)
            ).scalars().all()
        return add_cosignatures(note.encode(), list(lines)) if lines else note.encode()

    def read_tiles(self, keys: Sequence[TileKey]) -> Mapping[TileKey, bytes]:
        with self.engine.connect() as conn:
            return _ConnTiles(conn, cache=self.tile_cache).read_tiles(keys)

    def tile(self, key: TileKey, width: int) -> bytes:
        """Return tile ``key`` at ``width`` (a prefix of the stored tile); raise if absent."""
        if layout.tile_width(key, self.size()) < width:
            raise TileNotFoundError(f"tile {key} has fewer than {width} entries")
        data = self.read_tiles([key]).get(key)
        if data is None:
            raise TileNotFoundError(f"tile {key} is not stored")
        if key.level != ENTRIES_LEVEL:
            return data[: width * HASH_SIZE]
        return layout.encode_bundle(layout.decode_bundle(data)[:width])

    def entry(self, index: int) -> bytes:
        """Return the entry at ``index``."""
        if not 0 <= index < self.size():
            raise TileNotFoundError(f"no entry {index}")
        key = TileKey(ENTRIES_LEVEL, index // TILE_WIDTH)
        data = self.read_tiles([key])[key]
        return layout.decode_bundle(data)[index % TILE_WIDTH]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            return layout.inclusion_proof(self._sized(conn, size), index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            return layout.consistency_proof(self._sized(conn, new_size), old_size, new_size)

    def root(self, size: int) -> bytes:
        with self.engine.connect() as conn:
            return layout.root_hash(self._sized(conn, size), size)

    def _sized(self, conn: Connection, size: int) -> _ConnTiles:
        """Return a tile reader on ``conn`` once the log is known to hold ``size`` leaves."""
        if size > self._known_size:  # else known already: a log only grows
            stored = conn.execute(select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one()
            if size > stored:
                raise TileNotFoundError(f"the log is smaller than {size}")
            self._known_size = max(self._known_size, int(stored))
        return _ConnTiles(conn, cache=self.tile_cache)


def _dialect_insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _upsert(conn: Connection, table: Any, keys: list[str], column: str) -> Any:
    stmt = _dialect_insert(conn, table)
    return stmt.on_conflict_do_update(index_elements=keys, set_={column: stmt.excluded[column]})


def _insert_ignore(conn: Connection, table: Any, keys: list[str]) -> Any:
    return _dialect_insert(conn, table).on_conflict_do_nothing(index_elements=keys)
