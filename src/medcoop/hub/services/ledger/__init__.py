"""The hub's ledger service: the transparency log stored as C2SP tiles in the database.

:class:`~medcoop.hub.services.ledger.store.SqlLedger` accepts entries (durable in a queue),
sequences them in batches under the database lock of the single ``ledger_state`` row, and
serves tiles, proofs, checkpoints and cosignatures. The proof and tile maths is
:mod:`medcoop.ledger`; this package only stores and fetches.
"""

from medcoop.hub.services.ledger.keys import load_or_create_log_key
from medcoop.hub.services.ledger.store import LedgerView, SqlLedger

__all__ = ["LedgerView", "SqlLedger", "load_or_create_log_key"]
