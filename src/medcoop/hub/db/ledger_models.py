"""The ledger's tables: one platform-wide log, so none of them is tenant-owned.

``ledger_queue`` holds accepted entries until the sequencer gives them an index;
``ledger_tiles`` holds the C2SP tiles (level -1 for entry bundles), one row per tile that
grows in place until full; ``ledger_leaves`` finds an entry's index by its leaf hash;
``ledger_state`` is the single row the sequencer locks; ``ledger_checkpoints`` and
``ledger_cosignatures`` keep every signed tree head and the witnesses' cosignatures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, UtcDateTime, utcnow

__all__ = [
    "LedgerCheckpoint",
    "LedgerCosignature",
    "LedgerLeaf",
    "LedgerQueued",
    "LedgerState",
    "LedgerTile",
]

_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class LedgerQueued(Base):
    """An accepted entry waiting for the sequencer (durable before the caller hears OK)."""

    __tablename__ = "ledger_queue"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class LedgerTile(Base):
    """One tile (or entry bundle, level -1) as it stands: partial tiles grow in place."""

    __tablename__ = "ledger_tiles"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class LedgerLeaf(Base):
    """The index of each sequenced entry, found by its leaf hash."""

    __tablename__ = "ledger_leaves"
    __table_args__ = (Index("ix_ledger_leaves_leaf_hash", "leaf_hash"),)

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class LedgerState(Base):
    """The tree as last sequenced (one row, ``id`` 1): the sequencer's lock."""

    __tablename__ = "ledger_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    checkpoint: Mapped[str] = mapped_column(Text, nullable=False)


class LedgerCheckpoint(Base):
    """Every checkpoint the log signed, by tree size."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class LedgerCosignature(Base):
    """A witness's cosignature line on the checkpoint of one size."""

    __tablename__ = "ledger_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    line: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
