"""SR content items as light :class:`Node` objects, looked up by concept CODE, never by meaning.

A node's ``key`` is ``"SCHEME:VALUE"`` of its concept name (SCT aliases folded onto SRT,
see :mod:`medcoop.dicom.codes`). Templates look children up by key, which avoids repeated
pydicom attribute lookups and vendor spellings of meanings ("X-ray" vs "X-Ray"). This
module owns the node model, the tree limits and the reading of one pydicom item
(:func:`read_item`); :mod:`medcoop.dicom.sr` reads whole trees, through
:mod:`medcoop.dicom.rawsr` where the bytes allow.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset

from medcoop.dicom import codes
from medcoop.dicom.units import Quantity, convert
from medcoop.dicom.values import first_float, parse_dt, text_or_none

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "Node", "TreeError", "code_key", "read_item"]

_CONCEPT_NAME = 0x0040A043
_VALUE_TYPE = 0x0040A040
_RELATIONSHIP = 0x0040A010
_MEASURED_VALUE = 0x0040A300
_NUMERIC_VALUE = 0x0040A30A
_UNITS = 0x004008EA
_CONCEPT_CODE = 0x0040A168
_TEXT_VALUE = 0x0040A160
_UID = 0x0040A124
_DATETIME = 0x0040A120
_DATE = 0x0040A121
_TIME = 0x0040A122
_PERSON_NAME = 0x0040A123
_CODE_VALUE = 0x00080100
_SCHEME = 0x00080102
_MEANING = 0x00080104
_LONG_CODE_VALUE = 0x00080119
_URN_CODE_VALUE = 0x00080120

#: Deeper trees than this are not dose reports; a bound keeps junk from recursing forever.
MAX_DEPTH = 32
#: More items than this in one report is junk (the largest real reports have ~50,000).
MAX_ITEMS = 2_000_000

_TEXT_TYPES = {
    "TEXT": _TEXT_VALUE,
    "UIDREF": _UID,
    "DATETIME": _DATETIME,
    "DATE": _DATE,
    "TIME": _TIME,
    "PNAME": _PERSON_NAME,
    "PERSON NAME": _PERSON_NAME,
}


class TreeError(ValueError):
    """The content tree cannot be read (too deep, too large)."""


#: Up to this many children a lookup scans them; beyond, the first lookup indexes them
#: (an irradiation event has ~25-50 children and is asked for ~35 concepts).
_SCAN_MAX = 8


class Node:
    """One content item: concept key, value and children."""

    __slots__ = ("_index", "children", "code", "key", "meaning", "num", "text", "unit", "vt")

    def __init__(self, key: str, vt: str) -> None:
        self.key = key
        self.vt = vt
        self.meaning: str | None = None
        self.text: str | None = None
        self.num: float | None = None
        self.unit: str | None = None
        self.code: str | None = None
        self.children: list[Node] = []
        #: (the children list indexed, its length, first child by key)
        self._index: tuple[list[Node], int, dict[str, Node]] | None = None

    def __repr__(self) -> str:
        return f"Node({self.key!r}, {self.vt}, {self.text!r}, {self.num}, {self.code})"

    def find(self, key: str) -> Node | None:
        """Return the first child whose concept is ``key``."""
        children = self.children
        if len(children) <= _SCAN_MAX:
            for child in children:
                if child.key == key:
                    return child
            return None
        index = self._index
        if index is None or index[0] is not children or index[1] != len(children):
            # built in reverse, so the first child of each key is the one kept
            first = {child.key: child for child in reversed(children)}
            index = self._index = (children, len(children), first)
        return index[2].get(key)

    def find_all(self, key: str) -> Iterator[Node]:
        """Yield every child whose concept is ``key``."""
        for child in self.children:
            if child.key == key:
                yield child

    def number(self, key: str, quantity: Quantity) -> float | None:
        """Return the first child NUM ``key`` converted to ``quantity``'s unit."""
        child = self.find(key)
        if child is None or child.num is None:
            return None
        return convert(child.num, child.unit, quantity)

    def count(self, key: str) -> float | None:
        """Return the first child NUM ``key`` as a dimensionless number."""
        child = self.find(key)
        return None if child is None else child.num

    def string(self, key: str) -> str | None:
        """Return the first child's text (TEXT, UIDREF, PNAME...) or code meaning."""
        child = self.find(key)
        if child is None:
            return None
        return child.text if child.text is not None else child.meaning

    def coded(self, key: str) -> tuple[str, str | None] | None:
        """Return ``(code key, meaning)`` of the first CODE child ``key``."""
        child = self.find(key)
        if child is None or child.code is None:
            return None
        return child.code, child.meaning

    def datetime(self, key: str) -> datetime | None:
        """Return the first child DATETIME ``key`` as a naive datetime."""
        child = self.find(key)
        return None if child is None else parse_dt(child.text)

    def walk(self) -> Iterator[Node]:
        """Yield every descendant, depth first."""
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def code_key(item: Dataset) -> tuple[str, str | None] | None:
    """Return ``("SCHEME:VALUE", meaning)`` of a code sequence item, SCT folded onto SRT."""
    elements: MutableMapping[Any, Any] = item._dict  # int keys: the hot path skips BaseTag()
    value_elem = elements.get(_CODE_VALUE) or elements.get(_LONG_CODE_VALUE)
    if value_elem is None:
        value_elem = elements.get(_URN_CODE_VALUE)
        if value_elem is None:
            return None
    value = text_or_none(item[value_elem.tag].value)
    scheme = text_or_none(item[_SCHEME].value) if _SCHEME in elements else None
    if value is None:
        return None
    key = codes.concept_key(scheme, value)
    meaning = text_or_none(item[_MEANING].value) if _MEANING in elements else None
    return key, meaning


def _first_item(ds: Dataset, tag: int) -> Dataset | None:
    if tag not in ds._dict:
        return None
    seq = ds[tag].value
    if not seq:
        return None
    first = seq[0]
    return first if isinstance(first, Dataset) else None


def read_item(item: Dataset) -> Node:
    """Return one content item (or the document's root) as a :class:`Node`, children aside."""
    elements = item._dict
    name_item = _first_item(item, _CONCEPT_NAME) if _CONCEPT_NAME in elements else None
    name = code_key(name_item) if name_item is not None else None
    vt = text_or_none(item[_VALUE_TYPE].value) if _VALUE_TYPE in elements else None
    node = Node(name[0] if name else "?", (vt or "?").upper())
    vt = node.vt
    if vt == "NUM":
        measured = _first_item(item, _MEASURED_VALUE)
        if measured is not None:
            if _NUMERIC_VALUE in measured._dict:
                node.num = first_float(measured[_NUMERIC_VALUE].value)
            unit_item = _first_item(measured, _UNITS)
            if unit_item is not None and _CODE_VALUE in unit_item._dict:
                node.unit = text_or_none(unit_item[_CODE_VALUE].value)
    elif vt == "CODE":
        concept = _first_item(item, _CONCEPT_CODE)
        if concept is not None:
            code = code_key(concept)
            if code is not None:
                node.code, node.meaning = code
    elif vt in _TEXT_TYPES:
        tag = _TEXT_TYPES[vt]
        if tag in elements:
            node.text = text_or_none(item[tag].value)
    return node
