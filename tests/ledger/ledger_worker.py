"""A ledger worker in its own process, for the crash and concurrency tests.

``python -m tests.ledger.ledger_worker URL KEYFILE append N START [BATCH]`` appends N
consent entries (numbered from START) in batches; ``... crash N START`` queues N entries,
then stops inside the sequencing transaction after it wrote everything but before commit,
prints READY and waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from medcoop.hub.db.engine import make_engine
from medcoop.hub.services.ledger import SqlLedger, load_or_create_log_key
from medcoop.hub.settings import HubSettings
from medcoop.ledger.entries import canonical_json
from tests.ledger.factories import consent

ORIGIN = "medcoop.test/ledger"


def main(url: str, key_file: str, mode: str, n: int, start: int, batch: int = 100) -> None:
    engine = make_engine(HubSettings(database_url=url))
    ledger = SqlLedger(engine, load_or_create_log_key(Path(key_file), ORIGIN))
    entries = [canonical_json(consent(start + i)) for i in range(n)]
    if mode == "append":
        for i in range(0, n, batch):
            ledger.append(entries[i : i + batch])
        print("DONE", flush=True)
        return
    ledger.accept(entries)
    original = SqlLedger._sequence_batch

    def stall(self: SqlLedger, conn: object) -> int:
        done = original(self, conn)  # type: ignore[arg-type]
        print("READY", flush=True)
        time.sleep(600)
        return done

    SqlLedger._sequence_batch = stall  # type: ignore[method-assign]
    ledger.sequence()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[2], *[int(a) for a in args[3:]])
