"""Private attributes: the Retain Safe Private list and the private-block bookkeeping.

Without the Retain Safe Private option every private attribute is removed. With it, only
elements on :data:`SAFE_PRIVATE` survive, and only when their value is numeric (a safe
dose value cannot hold a name); every element of an unknown private creator is removed,
as are private creator elements whose block ends up empty.
"""

from __future__ import annotations

import re

from pydicom import Dataset
from pydicom.dataelem import DataElement, RawDataElement

__all__ = ["SAFE_PRIVATE", "is_numeric_value", "keep_safe_private"]

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


def is_numeric_value(elem: DataElement | RawDataElement) -> bool:
    """Return whether a private element's value is a number (or numbers) and nothing else."""
    if elem.VR in _NUMERIC_VRS:
        return True
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return bool(_NUMERIC_TEXT.match(bytes(value)))
    if isinstance(value, str):
        return bool(_NUMERIC_TEXT.match(value.encode("latin_1", "replace")))
    return False


def keep_safe_private(ds: Dataset, tags: list[int]) -> list[int]:
    """Return which of the private ``tags`` of ``ds`` to delete under Retain Safe Private."""
    creators: dict[tuple[int, int], str] = {}
    for tag in tags:
        element = tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            value = ds.get_item(tag).value
            if isinstance(value, bytes | bytearray):
                value = bytes(value).decode("latin_1", "replace")
            creators[(tag >> 16, element)] = str(value or "").strip().rstrip("\x00")
    kept_blocks: set[tuple[int, int]] = set()
    doomed: list[int] = []
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x1000:
            continue
        block = (group, element >> 8)
        creator = creators.get(block)
        raw = ds.get_item(tag)
        if creator and (creator, group, element & 0xFF) in SAFE_PRIVATE and is_numeric_value(raw):
            kept_blocks.add(block)
        else:
            doomed.append(tag)
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x1000 and (group, element) not in kept_blocks:
            doomed.append(tag)  # creators of emptied blocks, group lengths, (gggg,0001-000F)
    return doomed
