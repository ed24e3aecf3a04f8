"""The log's signing key on disk: created once, mode 0600, never printed."""

from __future__ import annotations

import os
from pathlib import Path

from medcoop.ledger.errors import LedgerKeyError
from medcoop.ledger.note import Signer, generate_signer

__all__ = ["load_or_create_log_key"]


def load_or_create_log_key(path: Path, origin: str) -> Signer:
    """Return the log key in ``path``, creating it (0600, atomically) when absent.

    The key is named after the log's origin, as checkpoint verifiers expect; a key file
    for another origin is refused rather than silently reused.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first: read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_signer(origin).to_string() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    signer = Signer.from_string(path.read_text())
    if signer.name != origin:
        raise LedgerKeyError(f"log key {path} is for {signer.name!r}, not {origin!r}")
    return signer
