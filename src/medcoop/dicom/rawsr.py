"""A fast content-tree reader straight from the encoded bytes of ContentSequence.

pydicom reads a file's top level eagerly and each sequence lazily; walking an SR through
pydicom then converts every nested element through its generic machinery (tens of
microseconds each), which made extraction ~60× slower than the read itself. This module
parses the still-encoded ContentSequence value (explicit or implicit VR, little or big
endian, defined or undefined lengths) with ``struct`` and builds :class:`~.sr.Node` objects
directly. It returns ``None`` whenever it meets something it does not handle (ISO 2022
character sets, malformed lengths...), and the caller falls back on pydicom.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.dataset import Dataset

from medcoop.dicom import codes
from medcoop.dicom.sr import MAX_DEPTH, MAX_ITEMS, Node, TreeError
from medcoop.dicom.values import dataset_encoding

__all__ = ["read_content_raw"]

_UNDEFINED = 0xFFFFFFFF
_EXPLICIT_LE_HEADER = struct.Struct("<HH2sH").unpack_from
_U32_LE = struct.Struct("<I").unpack_from
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})  # fmt: skip
#: Sequences an SR item may hold, for implicit VR (where the VR is not written).
_SQ_TAGS = frozenset({0x0040A730, 0x0040A043, 0x0040A300, 0x004008EA, 0x0040A168, 0x0040A195,
                      0x0040A504, 0x00081199, 0x0040DB73, 0x0040A170})  # fmt: skip

_CONCEPT_NAME = 0x0040A043
_VALUE_TYPE = 0x0040A040
_CONTENT = 0x0040A730
_MEASURED = 0x0040A300
_NUMERIC = 0x0040A30A
_UNITS = 0x004008EA
_CONCEPT_CODE = 0x0040A168
_CODE_VALUE = 0x00080100
_SCHEME = 0x00080102
_MEANING = 0x00080104
_LONG_CODE_VALUE = 0x00080119
_TEXT_TAGS = {
    "TEXT": 0x0040A160,
    "UIDREF": 0x0040A124,
    "DATETIME": 0x0040A120,
    "DATE": 0x0040A121,
    "TIME": 0x0040A122,
    "PNAME": 0x0040A123,
    "PERSON NAME": 0x0040A123,
}

Item = dict[int, Any]  # tag -> bytes, or list[Item] for sequences


class _Unsupported(Exception):
    """The bytes need pydicom's general reader."""


class _Parser:
    __slots__ = ("budget", "buf", "explicit_le", "implicit", "item_header", "u16", "u32")

    def __init__(self, buf: bytes, implicit: bool, little: bool) -> None:
        self.buf = buf
        self.implicit = implicit
        self.u16 = struct.Struct("<H" if little else ">H").unpack_from
        self.u32 = struct.Struct("<I" if little else ">I").unpack_from
        self.budget = MAX_ITEMS
        self.explicit_le = little and not implicit
        self.item_header = struct.Struct("<HHI" if little else ">HHI").unpack_from

    def sequence(self, pos: int, end: int | None, depth: int) -> tuple[list[Item], int]:
        if depth > 3 * MAX_DEPTH:
            raise TreeError(f"content tree deeper than {MAX_DEPTH} levels")
        items: list[Item] = []
        buf = self.buf
        item_header = self.item_header
        while end is None or pos < end:
            group, element, length = item_header(buf, pos)
            tag = (group << 16) | element
            pos += 8
            if tag == _SEQ_END:
                return items, pos
            if tag != _ITEM:
                raise _Unsupported("expected an item")
            self.budget -= 1
            if self.budget < 0:
                raise TreeError(f"content tree larger than {MAX_ITEMS} items")
            if length == _UNDEFINED:
                item, pos = self.dataset(pos, None, depth + 1)
            else:
                item, _ = self.dataset(pos, pos + length, depth + 1)
                pos += length
            items.append(item)
        return items, pos

    def dataset(self, pos: int, end: int | None, depth: int) -> tuple[Item, int]:
        if self.explicit_le:
            return self._dataset_explicit_le(pos, end, depth)
        item: Item = {}
        buf, u16, u32 = self.buf, self.u16, self.u32
        size = len(buf)
        while end is None or pos < end:
            tag = (u16(buf, pos)[0] << 16) | u16(buf, pos + 2)[0]
            if tag == _ITEM_END:
                return item, pos + 8
            if self.implicit:
                vr = b""
                length = u32(buf, pos + 4)[0]
                pos += 8
            else:
                vr = buf[pos + 4 : pos + 6]
                if vr in _LONG_VRS:
                    length = u32(buf, pos + 8)[0]
                    pos += 12
                else:
                    length = u16(buf, pos + 6)[0]
                    pos += 8
            pos = self._value(item, tag, vr, length, pos, size, depth)
        return item, pos

    def _value(self, item: Item, tag: int, vr: bytes, length: int, pos: int, size: int,
               depth: int) -> int:  # fmt: skip
        if vr == b"SQ" or (self.implicit and tag in _SQ_TAGS):
            if length == _UNDEFINED:
                item[tag], pos = self.sequence(pos, None, depth)
                return pos
            item[tag], _ = self.sequence(pos, pos + length, depth)
            return pos + length
        if length == _UNDEFINED:
            raise _Unsupported("undefined length outside a sequence")
        if pos + length > size:
            raise _Unsupported("element runs past the end")
        item[tag] = self.buf[pos : pos + length]
        return pos + length

    def _dataset_explicit_le(self, pos: int, end: int | None, depth: int) -> tuple[Item, int]:
        # the common encoding, unrolled: one unpack per element header
        item: Item = {}
        buf = self.buf
        size = len(buf)
        header = _EXPLICIT_LE_HEADER
        long_length = _U32_LE
        long_vrs = _LONG_VRS
        stop = size if end is None else end
        while pos < stop:
            group, element, vr, length = header(buf, pos)
            tag = (group << 16) | element
            if tag == _ITEM_END:
                return item, pos + 8
            if vr in long_vrs:
                length = long_length(buf, pos + 8)[0]
                pos += 12
                if vr == b"SQ":
                    if length == _UNDEFINED:
                        item[tag], pos = self.sequence(pos, None, depth)
                    else:
                        item[tag], _ = self.sequence(pos, pos + length, depth)
                        pos += length
                    continue
                if length == _UNDEFINED:
                    raise _Unsupported("undefined length outside a sequence")
            else:
                pos += 8
            if pos + length > size:
                raise _Unsupported("element runs past the end")
            item[tag] = buf[pos : pos + length]
            pos += length
        if end is None:
            raise _Unsupported("item without its delimiter")
        return item, pos


class _Builder:
    __slots__ = ("encoding",)

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding

    def text(self, raw: Any) -> str | None:
        if not isinstance(raw, bytes):
            return None
        value = raw.decode(self.encoding, "replace").split("\\", 1)[0].strip().strip("\x00").strip()
        return value or None

    def code(self, seq: Any) -> tuple[str, str | None] | None:
        if not seq or not isinstance(seq, list):
            return None
        item = seq[0]
        value = self.text(item.get(_CODE_VALUE) or item.get(_LONG_CODE_VALUE))
        if value is None:
            return None
        scheme = self.text(item.get(_SCHEME)) or "?"
        if scheme in codes.SRT_SCHEMES:
            scheme = "SRT"
        key = f"{scheme}:{value}"
        return codes.SCHEME_ALIASES.get(key, key), self.text(item.get(_MEANING))

    def node(self, item: Item) -> Node:
        name = self.code(item.get(_CONCEPT_NAME))
        vt = (self.text(item.get(_VALUE_TYPE)) or "?").upper()
        node = Node(name[0] if name else "?", vt)
        if vt == "NUM":
            measured = item.get(_MEASURED)
            if measured and isinstance(measured, list):
                values = measured[0]
                number = self.text(values.get(_NUMERIC))
                if number is not None:
                    try:
                        node.num = float(number)
                    except ValueError:
                        node.num = None
                    if node.num is not None and (
                        node.num != node.num or abs(node.num) == float("inf")
                    ):
                        node.num = None
                units = values.get(_UNITS)
                if units and isinstance(units, list):
                    node.unit = self.text(units[0].get(_CODE_VALUE))
        elif vt == "CODE":
            code = self.code(item.get(_CONCEPT_CODE))
            if code is not None:
                node.code, node.meaning = code
        elif vt in _TEXT_TAGS:
            node.text = self.text(item.get(_TEXT_TAGS[vt]))
        children = item.get(_CONTENT)
        if children and isinstance(children, list):
            node.children = [self.node(child) for child in children]
        return node


def _default_repertoire_first(ds: Dataset) -> bool:
    value = ds[0x00080005].value
    first = (value if isinstance(value, str) else (list(value) or [""])[0]) or ""
    return first.strip() in ("", "ISO 2022 IR 6", "ISO_IR 6")


def read_content_raw(ds: Dataset, root: Node) -> Node | None:
    """Fill ``root.children`` from the encoded ContentSequence; ``None`` if not possible.

    Raises
    ------
    TreeError
        When the tree is deeper than :data:`~.sr.MAX_DEPTH` or larger than
        :data:`~.sr.MAX_ITEMS`.
    """
    raw = ds._dict.get(_CONTENT)  # type: ignore[call-overload]  # int tags: no Tag() on the hot path
    value = getattr(raw, "value", None)
    if raw is None or not isinstance(value, bytes) or not hasattr(raw, "is_implicit_VR"):
        return None
    encoding = dataset_encoding(ds)
    if encoding is None:
        # ISO 2022 code extensions: without an escape byte the text never leaves the
        # first (default) repertoire, which latin-1 decodes exactly
        if b"\x1b" in value or not _default_repertoire_first(ds):
            return None
        encoding = "latin-1"
    parser = _Parser(value, bool(raw.is_implicit_VR), bool(raw.is_little_endian))
    try:
        items, _ = parser.sequence(0, len(value), 0)
    except (_Unsupported, struct.error, IndexError):
        return None
    builder = _Builder(encoding)
    root.children = [builder.node(item) for item in items]
    return root
