"""The edge's use of :mod:`medcoop.deid` for free text and the residual-identifier scan.

The de-identification package owns the scanner and the text cleaner; this module only adapts
their calls to the pipeline. Until that package ships them, the edge falls back to the safe
side: free text is dropped and the scan is a case-insensitive search for each identifying
value (and each component of a person name) in the record's JSON bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = ["clean_text", "residual_hits"]

_MIN_FALLBACK_LEN = 3


def _load_scanner() -> Callable[[set[str], bytes], list[object]] | None:
    try:
        from medcoop.deid import verify_no_residuals
    except ImportError:
        return None
    return verify_no_residuals  # type: ignore[no-any-return]


def _load_cleaner() -> Callable[[str, set[str]], str | None] | None:
    try:
        from medcoop.deid import clean_text as deid_clean_text
    except ImportError:
        return None
    return deid_clean_text  # type: ignore[no-any-return]


_SCANNER = _load_scanner()
_CLEANER = _load_cleaner()


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
    if _CLEANER is None:
        return None  # no cleaner yet: drop free text rather than risk it
    cleaned = _CLEANER(text, identifying_values)
    if not cleaned or not cleaned.strip():
        return None
    return cleaned.strip()[:max_len]


def residual_hits(identifying_values: set[str], payload: bytes) -> int:
    """Return how many identifying values are found in ``payload`` (0 means clean).

    Only a count is returned: the caller must not log or store the values found.
    """
    values = {v for v in identifying_values if v and v.strip()}
    if not values:
        return 0
    if _SCANNER is not None:
        return len(_SCANNER(values, payload))
    return _fallback_hits(values, payload)


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
