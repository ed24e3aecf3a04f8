"""Search stored or transmitted bytes for the fleet's planted identifiers, as whole tokens.

Used by the tests and by ``medcoop demo --check``.

A leaked value stands as a token of its own (``DOE^JOHN``, ``"19560312"``). Searching for
bare substrings instead gives false alarms: the hub holds thousands of random ``2.25.``
UIDs, in which any 8-digit birth date occurs by chance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["leaked_values"]


def leaked_values(identifying: Iterable[str], haystack: bytes, *, min_length: int = 4) -> list[str]:
    """Return the identifying values (of ``min_length`` or more) found in ``haystack``."""
    text = haystack.decode("utf-8", "replace").upper()
    found = []
    for value in identifying:
        token = value.strip().upper()
        if len(token) < min_length or token not in text:  # cheap filter first
            continue
        if re.search(rf"(?<![A-Z0-9]){re.escape(token)}(?![A-Z0-9])", text):
            found.append(value)
    return sorted(found)
