"""Private attributes: the Retain Safe Private list and the private-block bookkeeping.

Without the Retain Safe Private option every private attribute is removed. With it, only
elements on :data:`SAFE_PRIVATE` survive, and only when their value is numeric (a safe
dose value cannot hold a name); every element of an unknown private creator is removed,
as are private creator elements whose block ends up empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SAFE_PRIVATE", "safe_private_tags"]

#: (private creator, group, element byte) → what it holds. Dose-related values that
#: analytics read from image headers; all numeric.
SAFE_PRIVATE: dict[tuple[str, int, int], str] = {
    ("GEMS_ACQU_01", 0x0019, 0x27): "GE CT gantry rotation time (s)",
    ("GEMS_PARM_01", 0x0043, 0x27): "GE CT scan pitch ratio",
    ("ELSCINT1", 0x00E1, 0x21): "Philips CT DLP (mGy.cm)",
}

_NUMERIC_VRS = frozenset({"DS", "IS", "FD", "FL", "US", "SS", "UL", "SL", "UV", "SV"})
_NUMERIC_TEXT = re.compile(
    rb"^[\s\x00]*[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?(?:\\[-+]?[0-9.eE+-]+)*[\s\x00]*$"
)


def _is_numeric(vr: str | None, value: object) -> bool:
    if vr in _NUMERIC_VRS:
        return True
    if isinstance(value, bytes | bytearray):
        return bool(_NUMERIC_TEXT.match(bytes(value)))
    if isinstance(value, str):
        return bool(_NUMERIC_TEXT.match(value.encode("latin_1", "replace")))
    return False


def safe_private_tags(elements: Iterable[tuple[int, str | None, object]]) -> set[int]:
    """Return which private elements of one dataset survive under Retain Safe Private.

    ``elements`` are ``(tag, VR, value)`` of every private element of the dataset (VR
    ``None`` or ``UN`` when the encoding does not say; value as encoded or converted).
    """
    elements = list(elements)
    creators: dict[tuple[int, int], str] = {}
    for tag, _, value in elements:
        element = tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            if isinstance(value, bytes | bytearray):
                value = bytes(value).decode("latin_1", "replace")
            creators[(tag >> 16, element)] = str(value or "").strip().rstrip("\x00")
    kept_blocks: set[tuple[int, int]] = set()
    keep: set[int] = set()
    for tag, vr, value in elements:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x1000:
            continue
        block = (group, element >> 8)
        creator = creators.get(block)
        if creator and (creator, group, element & 0xFF) in SAFE_PRIVATE and _is_numeric(vr, value):
            kept_blocks.add(block)
            keep.add(tag)
    for tag, _, _ in elements:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x1000 and (group, element) in kept_blocks:
            keep.add(tag)  # the creator of a block that keeps an element
    return keep
