"""Structured logs for the edge: one JSON object per line, with no identifying values.

Log calls in ``medcoop.edge`` pass only counts, categories, ports, quarantine IDs and
remapped UIDs in ``extra``; this formatter writes the message plus those fields.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from datetime import UTC, datetime

__all__ = ["JsonLineFormatter", "configure_logging"]

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """Format a log record as one JSON line (``at``, ``level``, ``logger``, ``msg``, extras)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        line: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: values may identify
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send ``medcoop`` logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger("medcoop")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # pynetdicom logs dataset contents at debug level, and pydicom's warnings about
    # invalid values quote the values (a malformed name is still a name): keep both quiet.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
