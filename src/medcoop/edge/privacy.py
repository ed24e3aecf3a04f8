"""The edge's use of :mod:`medcoop.deid` for free text and the residual-identifier check.

The de-identification package owns the matching and the text cleaner; this module chooses
what of a record is checked (the fields that came from the object's text, never the
schema's names, enumerations, numbers or dates), says where a hit is and of what kind
(never the value), and skips the matching when no word of any value can be there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from medcoop.deid import clean_text as deid_clean_text
from medcoop.deid.residuals import expand_values, fold, text_kind

__all__ = [
    "DEVICE_FIELDS",
    "FREE_TEXT_FIELDS",
    "Finding",
    "clean_text",
    "residual_findings",
    "residual_hits",
    "warm_privacy_caches",
]


@dataclass(frozen=True, slots=True)
class _Forms:
    """The words of every form of one object's values, and each form as word indexes."""

    words: tuple[str, ...]  # folded (case, diacritics), as deid matches them
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
        words=tuple(words),
        needles=tuple(tuple(index[word] for word in needle) for needle in needles),
    )


def _could_contain(values: AbstractSet[str], text: str) -> bool:
    """Return False only when no form of any value can occur in ``text``.

    A necessary condition of deid's match (every word of a form present in the folded
    text): when it fails, the matching need not run.
    """
    forms = _forms(frozenset(values))
    if not forms.needles:
        return False
    folded = fold(text)
    present = [word in folded for word in forms.words]
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


#: Record fields whose values came from the object's free text (descriptions, protocols).
FREE_TEXT_FIELDS = frozenset({"study_description", "performed_protocol", "protocol"})
#: Record fields the device named itself (kept by design): a word shared with a patient's
#: name is chance, a whole name, an ID or a date there is not.
DEVICE_FIELDS = frozenset(
    {"manufacturer", "model", "serial_number", "station_name", "software_versions"}
)


@dataclass(frozen=True, slots=True)
class Finding:
    """An identifying value found in a record: the field and the kind, never the value."""

    field: str
    kind: str


def residual_findings(
    identifying_values: AbstractSet[str], payload: bytes | str
) -> list[Finding]:
    """Return where the record ``payload`` (its JSON) holds an identifying value, and what kind.

    Only values that came from the object's text are looked at: free-text fields
    (:data:`FREE_TEXT_FIELDS`, every form as whole words, as the de-identification gate
    matches) and the device's names (:data:`DEVICE_FIELDS`: IDs, dates and whole names
    only). Field names, enumerated values, numbers, dates and keys the record carries by
    design are never compared: a department called "Mammography" or a study on the
    patient's birthday is not a finding.
    """
    values = frozenset(v for v in identifying_values if v and v.strip())
    if not values:
        return []
    texts = list(_texts(json.loads(payload)))
    if not texts or not _could_contain(values, "\n".join(text for _, text, _ in texts)):
        return []
    findings = []
    for field, text, device in texts:
        kind = text_kind(values, text, whole_names_only=device)
        if kind is not None:
            findings.append(Finding(field, kind))
    return findings


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, str, bool]]:
    # (field path, text, whether the device wrote it) for every field looked at.
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if isinstance(value, str):
                if key in FREE_TEXT_FIELDS or key in DEVICE_FIELDS:
                    yield where, value, key in DEVICE_FIELDS
            elif isinstance(value, dict | list):
                yield from _texts(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _texts(item, f"{path}[{index}]")


def residual_hits(identifying_values: AbstractSet[str], payload: bytes | str) -> int:
    """Return how many identifying values :func:`residual_findings` finds (0 means clean).

    Only a count is returned: the caller must not log or store the values found.
    """
    return len(residual_findings(identifying_values, payload))
