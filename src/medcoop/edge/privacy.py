"""The edge's use of :mod:`medcoop.deid` for free text and the residual-identifier scan.

The de-identification package owns the scanner and the text cleaner; this module only adapts
their calls to the pipeline, with a cheap word test that skips the scanner when no form of
any value can be in a record.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache

from medcoop.deid import clean_text as deid_clean_text
from medcoop.deid import verify_no_residuals
from medcoop.deid.residuals import expand_values

__all__ = ["clean_text", "residual_hits", "warm_privacy_caches"]


@dataclass(frozen=True, slots=True)
class _Forms:
    """The words of every form of one object's values, and each form as word indexes."""

    words: tuple[tuple[str, str, bool], ...]  # (upper, lower, is ASCII)
    needles: tuple[tuple[int, ...], ...]


@lru_cache(maxsize=1024)
def _forms(values: frozenset[str]) -> _Forms:
    # Expanding values into their forms costs ~0.2 ms; one object's values are tested
    # against each of its texts and its record, so expand them once per value set.
    # Forms share words (a name's orderings), so each distinct word is searched once.
    needles = [needle.split() for needle in expand_values(values)]
    words = sorted({word for needle in needles for word in needle})
    index = {word: i for i, word in enumerate(words)}
    return _Forms(
        words=tuple((word, word.lower(), word.isascii()) for word in words),
        needles=tuple(tuple(index[word] for word in needle) for needle in needles),
    )


def _could_contain(values: AbstractSet[str], text: str) -> bool:
    """Return False only when no form of any value can occur in ``text``.

    A necessary condition of the deid scanner's match (every word of a needle present,
    case-insensitively): when it fails, the scanner cannot match, so its costly per-object
    pattern need not be built. When it holds, the deid scanner decides.
    """
    forms = _forms(frozenset(values))
    if not forms.needles:
        return False
    lower, ascii_text, upper = text.lower(), text.isascii(), None
    present = []
    for up, low, ascii_word in forms.words:
        found = low in lower
        # Case mapping can turn other characters into ASCII ones (ß -> SS): the upper-case
        # test is redundant only for an ASCII word in ASCII text.
        if not found and not (ascii_word and ascii_text):
            upper = text.upper() if upper is None else upper
            found = up in upper
        present.append(found)
    if True not in present:  # the usual case: not one word of any form
        return False
    return any(all(present[i] for i in needle) for needle in forms.needles)


def clean_text(
    text: str | None, identifying_values: AbstractSet[str], *, max_len: int = 128
) -> str | None:
    """Return ``text`` cleaned of identifying values (``None`` when nothing safe remains).

    Parameters
    ----------
    text : str or None
        A protocol name or study description read from the object.
    identifying_values : set of str
        The object's identifying strings (a frozenset saves a copy per call).
    max_len : int
        Records hold short text only; longer text is cut.
    """
    if not text or not text.strip():
        return None
    cleaned = _clean(text, frozenset(identifying_values))
    return None if cleaned is None else cleaned[:max_len]


def _clean(text: str, values: frozenset[str]) -> str | None:
    # deid caches the scanner per value set and the cleaned text per scanner
    cleaned = deid_clean_text(text, values)  # type: ignore[arg-type]  # any set will do
    if not cleaned or not cleaned.strip():
        return None
    return str(cleaned).strip()


def warm_privacy_caches(values: frozenset[str], texts: Iterable[str | None]) -> None:
    """Prepare the cached forms of ``values`` and the cleaned ``texts`` ahead of their use.

    The pipeline calls this before it queues an object's merge for the group commit, so
    that the expansion and the cleaning run outside the serial part.
    """
    _forms(values)
    for text in texts:
        clean_text(text, values)


def residual_hits(identifying_values: AbstractSet[str], payload: bytes | str) -> int:
    """Return how many identifying values are found in ``payload`` (0 means clean).

    ``payload`` is the record's JSON (UTF-8 bytes or text). Only a count is returned: the
    caller must not log or store the values found.
    """
    values = {v for v in identifying_values if v and v.strip()}
    if not values:
        return 0
    text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
    # The object's own value set (not the filtered copy): its forms are cached already.
    if not _could_contain(identifying_values, text):
        return 0
    data = payload.encode() if isinstance(payload, str) else payload
    return len(verify_no_residuals(values, data))
