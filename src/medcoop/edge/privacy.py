"""The edge's use of :mod:`medcoop.deid` for free text and the residual-identifier scan.

The de-identification package owns the scanner and the text cleaner; this module only adapts
their calls to the pipeline. Until that package ships them, the edge falls back to the safe
side: free text is dropped and the scan is a case-insensitive search for each identifying
value (and each component of a person name) in the record's JSON bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

__all__ = ["clean_text", "residual_hits"]

_MIN_FALLBACK_LEN = 3


def _load_deid() -> tuple[Any, Any, Any] | None:
    try:
        from medcoop.deid import clean_text as deid_clean_text
        from medcoop.deid import verify_no_residuals
        from medcoop.deid.residuals import expand_values
    except ImportError:
        return None
    return verify_no_residuals, deid_clean_text, expand_values


_DEID = _load_deid()


def _could_contain(values: set[str], text: str) -> bool:
    """Return False only when no form of any value can occur in ``text``.

    A necessary condition of the deid scanner's match (every word of a needle present,
    case-insensitively): when it fails, the scanner cannot match, so its costly per-object
    pattern need not be built. When it holds, the deid scanner decides.
    """
    if _DEID is None:
        return True
    upper, lower = text.upper(), text.lower()
    for needle in _DEID[2](values):
        if all(w in upper or w.lower() in lower for w in needle.split()):
            return True
    return False


@lru_cache(maxsize=4096)
def _clean_generic(text: str) -> str | None:
    assert _DEID is not None
    result: str | None = _DEID[1](text, set())
    return result


def clean_text(text: str | None, identifying_values: set[str], *, max_len: int = 128) -> str | None:
    """Return ``text`` cleaned of identifying values (``None`` when nothing safe remains).

    Parameters
    ----------
    text : str or None
        A protocol name or study description read from the object.
    identifying_values : set of str
        The object's identifying strings.
    max_len : int
        Records hold short text only; longer text is cut.
    """
    if not text or not text.strip():
        return None
    if _DEID is None:
        return None  # no cleaner: drop free text rather than risk it
    if _could_contain(identifying_values, text):
        cleaned = _DEID[1](text, identifying_values)
    else:  # no value can be in it: only the generic patterns (dates, numbers...) apply
        cleaned = _clean_generic(text)
    if not cleaned or not cleaned.strip():
        return None
    return str(cleaned).strip()[:max_len]


def residual_hits(identifying_values: set[str], payload: bytes) -> int:
    """Return how many identifying values are found in ``payload`` (0 means clean).

    ``payload`` is UTF-8 text (the record's JSON). Only a count is returned: the caller
    must not log or store the values found.
    """
    values = {v for v in identifying_values if v and v.strip()}
    if not values:
        return 0
    if _DEID is None:
        return _fallback_hits(values, payload)
    if not _could_contain(values, payload.decode("utf-8", "replace")):
        return 0
    return len(_DEID[0](values, payload))


def _fallback_hits(values: Iterable[str], payload: bytes) -> int:
    haystack = payload.decode("utf-8", "replace").casefold()
    hits = 0
    for value in values:
        for part in {value, *re.split(r"[\^=]", value)}:
            part = part.strip().casefold()
            if len(part) >= _MIN_FALLBACK_LEN and part in haystack:
                hits += 1
                break
    return hits
