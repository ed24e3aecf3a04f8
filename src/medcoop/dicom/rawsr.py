"""A fast content-tree reader straight from the encoded bytes of an SR document.

pydicom reads a file's top level eagerly and each sequence lazily; walking an SR through
pydicom then converts every nested element through its generic machinery (tens of
microseconds each), which made extraction ~60× slower than the read itself. This module
parses the still-encoded ContentSequence (explicit or implicit VR, little or big endian,
defined or undefined lengths) with ``struct`` and builds :class:`~.content.Node` objects in one
pass, without an intermediate dataset per item:

- an item's elements are read in one loop (unrolled for Explicit VR Little Endian) and
  only the concept name, value type, value and children are kept;
- code sequences (concept names, coded values, units) repeat across items and files, so
  their encoded bytes are looked up in a bounded cache before anything is parsed.

Every text value is decoded as pydicom would decode it (the element's VR, the dataset's
character set). Whatever this reader does not handle (ISO 2022 escapes, an element whose VR
is not its dictionary VR, items switching to implicit VR, malformed lengths) makes it
return ``None``, and the caller walks pydicom's tree instead; a test requires both trees to
be equal on every corpus SR and on the simulated fleet's reports. The byte-level rules
(header layouts, items, delimiters, skipping a sequence) are :mod:`medcoop.dicom.reader`'s.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from medcoop.dicom import codes
from medcoop.dicom.content import MAX_DEPTH, MAX_ITEMS, Node, TreeError, read_item
from medcoop.dicom.reader import (
    ELEMENT_HEADERS,
    ITEM_DELIMITATION,
    ITEM_HEADERS,
    MAX_NESTING,
    UINT32,
    UNDEFINED_LENGTH,
    VR_KIND,
    EncodingError,
    is_sequence,
    sequence_end,
    shared_tag,
)
from medcoop.dicom.values import dataset_encoding, first_float

__all__ = ["clear_caches", "read_tree_raw"]

_UNDEFINED = UNDEFINED_LENGTH
_ITEM_END = ITEM_DELIMITATION
#: Entries per cache; a full cache is emptied (junk input must not grow it forever).
_CACHE_SIZE = 8192

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
_URN_CODE_VALUE = 0x00080120
_TEXT_TAGS = {
    "TEXT": 0x0040A160,
    "UIDREF": 0x0040A124,
    "DATETIME": 0x0040A120,
    "DATE": 0x0040A121,
    "TIME": 0x0040A122,
    "PNAME": 0x0040A123,
    "PERSON NAME": 0x0040A123,
}
#: Dictionary VRs of the elements read. A file that writes another VR is left to pydicom,
#: whose conversion follows the written VR.
_VRS: dict[int, bytes] = {
    tag: dictionary_VR(tag).encode()
    for tag in (
        _CODE_VALUE, _SCHEME, _MEANING, _LONG_CODE_VALUE, _URN_CODE_VALUE, _VALUE_TYPE,
        _NUMERIC, *set(_TEXT_TAGS.values()), _CONCEPT_NAME, _MEASURED, _UNITS,
        _CONCEPT_CODE, _CONTENT,
    )
}  # fmt: skip
_TEXT_ELEMENTS = frozenset(tag & 0xFFFF for tag in _TEXT_TAGS.values())
#: A content item's elements that are read (all in group 0040), by element number.
_SEQUENCE_ELEMENTS = frozenset({0xA043, 0xA300, 0xA730, 0xA168})
_ITEM_ELEMENTS = _SEQUENCE_ELEMENTS | {0xA040} | _TEXT_ELEMENTS
#: VRs decoded with the dataset's character set (the others are ASCII, read as latin-1).
_CHARSET_VRS = frozenset({b"SH", b"LO", b"ST", b"LT", b"UC", b"UT", b"PN"})
#: VRs whose value is one string even with a backslash in it.
_SINGLE_VRS = frozenset({b"ST", b"LT", b"UT", b"UR"})

_HEADER_LE = ELEMENT_HEADERS[(False, True)]
_U32_LE = UINT32[True]
_ITEM_HEADER_LE = ITEM_HEADERS[True]
#: By endianness (little?): element header, item header, 32-bit length, sequence delimiter.
_STRUCTS = {
    little: (
        ELEMENT_HEADERS[(False, little)],
        ITEM_HEADERS[little],
        UINT32[little],
        struct.pack(end + "HHI", 0xFFFE, 0xE0DD, 0),
    )
    for little, end in ((True, "<"), (False, ">"))
}
class _Miss(enum.Enum):
    """Not in a cache (``None`` is a value caches hold)."""

    MISS = enum.auto()


_MISS = _Miss.MISS

Fields = dict[int, tuple[bytes, int, int]]  # tag -> (VR, value offset, value length)
Code = tuple[str, str | None] | None
#: key, value type, unit, code, meaning, and the VR of the value that ends the item
_Leaf = tuple[str, str, str | None, str | None, str | None, bytes]


class _Unsupported(EncodingError):
    """The bytes need pydicom's general reader."""


class _Caches:
    """What encoded bytes were read as, for one character set and transfer syntax.

    Only vocabulary is kept (concept names, codes, units, item layouts), never a value
    that varies from one report to the next (numbers, text, UIDs, times): those are read
    from each item's own bytes.
    """

    __slots__ = ("codes", "codes_open", "leaves", "prefixes", "units", "units_open")

    def __init__(self) -> None:
        # defined-length values and undefined-length ones (delimiter included) apart
        self.codes: dict[bytes, Code] = {}
        self.codes_open: dict[bytes, Code] = {}
        self.units: dict[bytes, str | None] = {}
        self.units_open: dict[bytes, str | None] = {}
        #: A whole leaf item without a value of its own (CODE, CONTAINER) -> its node.
        self.leaves: dict[bytes, _Leaf] = {}
        #: A leaf item's bytes up to its value (a NUM's number, a TEXT's text), which end
        #: the item -> its node but the value, and the value's VR.
        self.prefixes: dict[bytes, _Leaf] = {}


_CACHES: dict[tuple[bool, bool, str], _Caches] = {}
_VT_CACHE: dict[bytes, str] = {}


def clear_caches() -> None:
    """Forget every remembered encoding (tests compare cold and warm reads)."""
    _CACHES.clear()
    _VT_CACHE.clear()


def _remember(cache: dict[bytes, Any], raw: bytes, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[raw] = value


def _float(raw: bytes) -> float | None:
    """Return a DS value's first number exactly as ``first_float`` of pydicom's value."""
    if raw.isascii() and b"\\" not in raw and b"\x00" not in raw:
        # pydicom strips the padding that float() ignores anyway
        try:
            number = float(raw)
        except ValueError:
            return None
        if number != number or number in (float("inf"), float("-inf")):
            return None
        return number
    from pydicom.values import convert_DS_string

    try:
        value: Any = convert_DS_string(raw, True)
    except Exception:  # pydicom keeps the bytes of a value it cannot convert
        value = raw
    return first_float(value)


class _Reader:
    """One encoded buffer (a sequence value) in one transfer syntax and character set."""

    __slots__ = ("budget", "buf", "caches", "encoding", "header", "implicit", "item_header",
                 "little", "number_at", "plain", "seq_end", "size", "u32", "value_at")  # fmt: skip

    def __init__(
        self, buf: bytes, implicit: bool, little: bool, encoding: str, budget: list[int]
    ) -> None:
        self.buf = buf
        self.size = len(buf)
        self.implicit = implicit
        self.little = little
        self.encoding = encoding
        self.budget = budget  # shared by every reader of one tree
        self.header, self.item_header, self.u32, self.seq_end = _STRUCTS[little]
        # what item_le saw of its item's layout, for the leaf caches
        self.plain = False
        self.value_at = -1
        self.number_at = -1
        key = (implicit, little, encoding)
        caches = _CACHES.get(key)
        if caches is None:
            caches = _CACHES[key] = _Caches()
        self.caches = caches

    # --- text ----------------------------------------------------------------------------
    def text(self, vr: bytes, pos: int, length: int) -> str | None:
        """Return the value at ``pos`` as ``text_or_none`` of pydicom's value would."""
        if not length:
            return None
        raw = self.buf[pos : pos + length]
        value = raw.decode(self.encoding if vr in _CHARSET_VRS else "latin-1", "replace")
        if vr not in _SINGLE_VRS and "\\" in value:
            value = value.split("\\", 1)[0]
        value = value.strip().strip("\x00").strip()
        return value or None

    # --- element headers -----------------------------------------------------------------
    def element(self, pos: int) -> tuple[int, bytes, int, int]:
        """Return ``(tag, VR, length, value offset)`` of the element at ``pos``."""
        group, element, length = self.item_header(self.buf, pos)
        tag = (group << 16) | element
        if group == 0xFFFE or self.implicit:
            # items and delimiters have no VR; implicit VR: the dictionary's, where it matters
            vr = _VRS.get(tag, b"")
            if self.implicit and length == _UNDEFINED and tag >> 16 != 0xFFFE:
                vr = self._implicit_undefined_vr(tag, pos + 8)
            return tag, vr, length, pos + 8
        _, _, vr, length = self.header(self.buf, pos)
        kind = VR_KIND.get(vr)
        if kind is None:
            raise _Unsupported("unknown VR (implicit VR inside an explicit VR sequence?)")
        if kind:
            return tag, vr, self.u32(self.buf, pos + 8)[0], pos + 12
        return tag, vr, length, pos + 8

    def _implicit_undefined_vr(self, tag: int, pos: int) -> bytes:
        if not is_sequence(self.buf, pos, tag, None, self.little):
            raise _Unsupported("undefined length outside a sequence")
        return b"SQ"

    # --- skipping ------------------------------------------------------------------------
    def skip_sequence(self, pos: int, nesting: int) -> int:
        """Return the offset after the delimiter of the undefined-length sequence at ``pos``."""
        return sequence_end(self.buf, pos, self.implicit, self.little, nesting)

    def fields(
        self, pos: int, stop: int | None, nesting: int, keep: bool = True
    ) -> tuple[Fields, int]:
        """Return the elements of the item at ``pos`` (to ``stop``, else its delimiter)."""
        if nesting > MAX_NESTING:
            raise _Unsupported("sequences nested too deep")
        found: Fields = {}
        end = self.size if stop is None else stop
        while pos < end:
            tag, vr, length, pos = self.element(pos)
            if tag == _ITEM_END:
                if stop is None:
                    return found, pos
                raise _Unsupported("item delimiter in a defined-length item")
            if length == _UNDEFINED:
                if vr != b"SQ":
                    raise _Unsupported("undefined length outside a sequence")
                if keep:
                    found[tag] = (vr, pos, _UNDEFINED)
                pos = self.skip_sequence(pos, nesting + 1)
                continue
            if keep:
                found[tag] = (vr, pos, length)
            pos += length
            if pos > end:
                raise _Unsupported("element runs past its item")
        if stop is None:
            raise _Unsupported("item without its delimiter")
        return found, pos

    def first_item(self, pos: int, length: int, nesting: int) -> tuple[Fields | None, int]:
        """Return the first item's elements of the sequence value at ``pos``, and its end."""
        buf, item_header = self.buf, self.item_header
        first: Fields | None = None
        if length != _UNDEFINED:
            end = pos + length
            if end > self.size:
                raise _Unsupported("sequence runs past the end")
            if pos < end:
                group, element, item_length = item_header(buf, pos)
                if (group, element) == (0xFFFE, 0xE0DD):
                    return None, end
                if (group, element) != (0xFFFE, 0xE000):
                    raise _Unsupported("expected an item")
                stop = None if item_length == _UNDEFINED else pos + 8 + item_length
                if stop is not None and stop > end:
                    raise _Unsupported("item runs past its sequence")
                first, _ = self.fields(pos + 8, stop, nesting + 1)
            return first, end
        while True:
            group, element, item_length = item_header(buf, pos)
            pos += 8
            if (group, element) == (0xFFFE, 0xE0DD):
                return first, pos
            if (group, element) != (0xFFFE, 0xE000):
                raise _Unsupported("expected an item")
            stop = None if item_length == _UNDEFINED else pos + item_length
            if first is None:
                first, pos = self.fields(pos, stop, nesting + 1)
            else:
                _, pos = self.fields(pos, stop, nesting + 1, keep=False)
            if stop is not None:
                pos = stop
                if pos > self.size:
                    raise _Unsupported("item runs past the end")

    # --- code sequences --------------------------------------------------------------------
    def _lookup(
        self, pos: int, length: int, cache: dict[bytes, Any], open_cache: dict[bytes, Any]
    ) -> tuple[Any, int, bytes | None, dict[bytes, Any] | None]:
        """Return ``(cached value or _MISS, end, key to remember, cache to remember in)``."""
        buf = self.buf
        if length != _UNDEFINED:
            end = pos + length
            raw = buf[pos:end]
            return cache.get(raw, _MISS), end, raw, cache
        # undefined length: the first sequence delimiter ends the value unless an item holds
        # a nested sequence; a value is only remembered when parsing ended right there
        delimiter = buf.find(self.seq_end, pos)
        if delimiter < 0:
            return _MISS, -1, None, None
        end = delimiter + 8
        raw = buf[pos:end]
        return open_cache.get(raw, _MISS), end, raw, open_cache

    def code(self, pos: int, length: int, nesting: int) -> tuple[Code, int]:
        """Return ``(key, meaning)`` of a code sequence value (as :func:`.content.code_key`)."""
        caches = self.caches
        value, end, raw, cache = self._lookup(pos, length, caches.codes, caches.codes_open)
        if value is not _MISS:
            return value, end
        first, parsed_end = self.first_item(pos, length, nesting)
        value = None if first is None else self._code_of(first)
        if raw is not None and cache is not None and parsed_end == end:
            _remember(cache, raw, value)
        return value, parsed_end

    def _code_of(self, item: Fields) -> Code:
        for tag in (_CODE_VALUE, _LONG_CODE_VALUE, _URN_CODE_VALUE):
            ref = item.get(tag)
            if ref is not None:
                value = self.checked_text(ref, tag)
                break
        else:
            return None
        scheme_ref = item.get(_SCHEME)
        scheme = None if scheme_ref is None else self.checked_text(scheme_ref, _SCHEME)
        if value is None:
            return None
        key = codes.concept_key(scheme, value)
        meaning_ref = item.get(_MEANING)
        meaning = None if meaning_ref is None else self.checked_text(meaning_ref, _MEANING)
        return key, meaning

    def checked_text(self, ref: tuple[bytes, int, int], tag: int) -> str | None:
        vr, pos, length = ref
        if vr != _VRS[tag] and not self.implicit:
            raise _Unsupported("an element with another VR than its dictionary's")
        if length == _UNDEFINED:
            raise _Unsupported("undefined length text")
        return self.text(vr, pos, length)

    def unit(self, pos: int, length: int, nesting: int) -> tuple[str | None, int]:
        """Return the first item's Code Value of a Measurement Units Code Sequence value."""
        caches = self.caches
        value, end, raw, cache = self._lookup(pos, length, caches.units, caches.units_open)
        if value is not _MISS:
            return value, end
        first, parsed_end = self.first_item(pos, length, nesting)
        ref = None if first is None else first.get(_CODE_VALUE)
        value = None if ref is None else self.checked_text(ref, _CODE_VALUE)
        if raw is not None and cache is not None and parsed_end == end:
            _remember(cache, raw, value)
        return value, parsed_end

    def measured(
        self, pos: int, length: int, nesting: int
    ) -> tuple[tuple[float | None, str | None] | None, int]:
        """Return ``(number, unit)`` of a Measured Value Sequence value, and its end."""
        first, end = self.first_item(pos, length, nesting)
        if first is None:
            return None, end
        number = unit = None
        ref = first.get(_NUMERIC)
        if ref is not None:
            vr, at, size = ref
            if (vr != b"DS" and not self.implicit) or size == _UNDEFINED:
                raise _Unsupported("Numeric Value is not a DS")
            number = _float(self.buf[at : at + size]) if size else None
        ref = first.get(_UNITS)
        if ref is not None:
            if ref[0] != b"SQ":
                raise _Unsupported("units are not a sequence")
            unit, _ = self.unit(ref[1], ref[2], nesting + 1)
        return (number, unit), end

    # --- content items ---------------------------------------------------------------------
    def content(self, pos: int, stop: int | None, depth: int) -> tuple[list[Node], int]:
        """Return the items of a ContentSequence value at ``depth``, and its end."""
        buf, item_header, size = self.buf, self.item_header, self.size
        nodes: list[Node] = []
        explicit_le = self.little and not self.implicit
        item = self.item_le if explicit_le else self.item
        leaves, prefixes = self.caches.leaves, self.caches.prefixes
        end = size if stop is None else stop
        while pos < end:
            group, element, length = item_header(buf, pos)
            pos += 8
            if group != 0xFFFE or element != 0xE000:
                if (group, element) == (0xFFFE, 0xE0DD):
                    return nodes, (pos if stop is None else stop)
                raise _Unsupported("expected an item")
            if depth > MAX_DEPTH:
                raise TreeError(f"content tree deeper than {MAX_DEPTH} levels")
            self.budget[0] -= 1
            if self.budget[0] < 0:
                raise TreeError(f"content tree larger than {MAX_ITEMS} items")
            if length == _UNDEFINED:
                node, pos = item(pos, None, depth)
                nodes.append(node)
                continue
            item_end = pos + length
            if item_end > end:
                raise _Unsupported("item runs past its sequence")
            if explicit_le:
                leaf = self.leaf(pos, item_end, leaves, prefixes)
                if leaf is not None:
                    nodes.append(leaf)
                    pos = item_end
                    continue
            node, _ = item(pos, item_end, depth)
            if explicit_le and self.plain and not node.children:
                self.remember_leaf(node, pos, item_end)
            nodes.append(node)
            pos = item_end
        if stop is None:
            raise _Unsupported("sequence without its delimiter")
        return nodes, pos

    def leaf(
        self, pos: int, end: int, leaves: dict[bytes, _Leaf], prefixes: dict[bytes, _Leaf]
    ) -> Node | None:
        """Return the node of the leaf item ``[pos, end)`` from the caches, else ``None``.

        A hit is exact: the cached bytes were read in full before, and reading is
        deterministic; what follows a prefix is the value element's own value, whose length
        its header (the prefix's last bytes) states.
        """
        buf = self.buf
        # most leaves end with their value (NUM, TEXT, UIDREF, DATETIME), whose element's
        # tag is the item's last to start with group 0040
        at = buf.rfind(b"@\x00", pos, end - 6)
        if at >= 0:
            _, _, vr, length = _HEADER_LE(buf, at)
            value_pos = at + 8
            if vr == b"UT":  # a 4-byte length
                value_pos += 4
                length = _U32_LE(buf, at + 8)[0] if value_pos <= end else _UNDEFINED
            if value_pos + length == end:
                known = prefixes.get(buf[pos:value_pos])
                if known is not None:
                    node = Node(known[0], known[1])
                    if known[5] == b"DS":
                        node.unit = known[2]
                        node.num = _float(buf[value_pos:end]) if length else None
                    else:
                        node.text = self.text(known[5], value_pos, length)
                    return node
        known = leaves.get(buf[pos:end])
        if known is not None:
            node = Node(known[0], known[1])
            node.unit, node.code, node.meaning = known[2], known[3], known[4]
            return node
        return None

    def remember_leaf(self, node: Node, pos: int, end: int) -> None:
        """Cache the layout of the leaf item ``[pos, end)`` that :meth:`item_le` just read."""
        value_at = self.value_at
        if value_at < 0:  # no value of its own: the whole item is vocabulary
            if node.num is None and node.text is None:
                leaf = (node.key, node.vt, node.unit, node.code, node.meaning, b"")
                _remember(self.caches.leaves, self.buf[pos:end], leaf)
            return
        _, _, vr, length = _HEADER_LE(self.buf, value_at)
        if vr == b"UT":
            length = _U32_LE(self.buf, value_at + 8)[0]
            value_pos = value_at + 12
        else:
            value_pos = value_at + 8
        if value_pos + length == end:  # the value ends the item: the rest is layout
            leaf = (node.key, node.vt, node.unit, node.code, node.meaning, vr)
            _remember(self.caches.prefixes, self.buf[pos:value_pos], leaf)

    def item_le(self, pos: int, stop: int | None, depth: int) -> tuple[Node, int]:
        """Read one content item, Explicit VR Little Endian: the common case, unrolled.

        Bounds are checked once the item is read: nothing read is kept when it fails.
        """
        buf = self.buf
        header, u32 = _HEADER_LE, _U32_LE
        codes_cache = self.caches.codes
        end = self.size if stop is None else stop
        name: Code = None
        vt_raw: bytes | None = None
        measured: tuple[float | None, str | None] | None = None
        concept: Code = None
        texts: dict[int, tuple[bytes, int, int, int]] | None = None
        children: list[Node] | None = None
        plain = True  # only the elements a leaf cache may key on (no per-report values)
        number_at = -2
        while pos < end:
            group, element, vr, length = header(buf, pos)
            if vr == b"SQ":
                length = u32(buf, pos + 8)[0]
                pos += 12
                if group != 0x0040:
                    plain = False
                elif element == 0xA043 or element == 0xA168:
                    if length != _UNDEFINED:
                        after = pos + length
                        cached = codes_cache.get(buf[pos:after], _MISS)
                        if cached is _MISS:
                            code, after = self.code(pos, length, 0)
                        else:
                            code = cached
                        pos = after
                    else:
                        code, pos = self.code(pos, length, 0)
                    if element == 0xA043:
                        name = code
                    else:
                        concept = code
                    continue
                elif element == 0xA300:
                    measured, pos = self.measured_le(pos, length)
                    number_at = self.number_at  # before a child item's overwrites it
                    continue
                elif element == 0xA730:
                    children, pos = self.content(
                        pos, None if length == _UNDEFINED else pos + length, depth + 1
                    )
                    continue
                elif element in _TEXT_ELEMENTS or element == 0xA040:
                    raise _Unsupported("an element with another VR than its dictionary's")
                else:
                    plain = False
                if length == _UNDEFINED:
                    pos = self.skip_sequence(pos, 0)
                else:
                    pos += length
                continue
            if group == 0xFFFE:
                if element == 0xE00D and stop is None:
                    pos += 8
                    break
                raise _Unsupported("unexpected delimiter")
            kind = VR_KIND.get(vr)
            if kind is None:
                raise _Unsupported("unknown VR (implicit VR inside an explicit VR sequence?)")
            if kind:
                length = u32(buf, pos + 8)[0]
                if length == _UNDEFINED:
                    raise _Unsupported("undefined length outside a sequence")
                pos += 12
            else:
                pos += 8
            if group == 0x0040:
                if element == 0xA040:
                    if vr != b"CS":
                        raise _Unsupported("an element with another VR than its dictionary's")
                    vt_raw = buf[pos : pos + length]
                elif element in _TEXT_ELEMENTS:
                    tag = 0x00400000 | element
                    if vr != _VRS[tag]:
                        raise _Unsupported("an element with another VR than its dictionary's")
                    if texts is None:
                        texts = {}
                    # decoded once the value type is known
                    texts[tag] = (vr, pos, length, pos - (12 if kind else 8))
                elif element in _SEQUENCE_ELEMENTS:
                    raise _Unsupported("an element with another VR than its dictionary's")
                elif element != 0xA010 and element != 0xA050:  # relationship, continuity
                    plain = False
            else:
                plain = False
            pos += length
        else:
            if stop is None:
                raise _Unsupported("item without its delimiter")
        if pos > end:
            raise _Unsupported("element runs past its item")
        # the node, as content.read_item builds it from pydicom's item
        if vt_raw is None:
            vt = "?"
        else:
            known = _VT_CACHE.get(vt_raw)
            if known is None:
                known = (_cs_text(vt_raw) or "?").upper()
                _remember(_VT_CACHE, vt_raw, known)
            vt = known
        node = Node(name[0] if name else "?", vt)
        value_at = -1
        if vt == "NUM":
            if measured is not None:
                node.num, node.unit = measured
                value_at = number_at
                plain = plain and value_at != -2
        elif vt == "CODE":
            if concept is not None:
                node.code, node.meaning = concept
        elif texts is not None and vt in _TEXT_TAGS:
            ref = texts.get(_TEXT_TAGS[vt])
            if ref is not None:
                node.text = self.text(ref[0], ref[1], ref[2])
                value_at = ref[3]
        if children:
            node.children = children
        if value_at < 0 and (texts is not None or (measured is not None and vt != "NUM")):
            plain = False  # values the node does not show would be part of a cache key
        self.plain = plain
        self.value_at = value_at
        return node, pos

    def measured_le(
        self, pos: int, length: int
    ) -> tuple[tuple[float | None, str | None] | None, int]:
        """:meth:`measured` for a defined-length value in Explicit VR Little Endian."""
        buf = self.buf
        self.number_at = -2  # -2: a layout the leaf caches do not key on
        if length == _UNDEFINED:
            return self.measured(pos, length, 0)
        end = pos + length
        if not length:
            return None, end
        group, element, item_length = _ITEM_HEADER_LE(buf, pos)
        if group != 0xFFFE or element != 0xE000 or item_length == _UNDEFINED:
            return self.measured(pos, length, 0)
        pos += 8
        stop = pos + item_length
        if stop > end:
            raise _Unsupported("item runs past its sequence")
        header, u32 = _HEADER_LE, _U32_LE
        number: bytes | None = None
        number_at = -1
        plain = True
        unit: str | None = None
        while pos < stop:
            group, element, vr, length = header(buf, pos)
            if vr == b"SQ":
                length = u32(buf, pos + 8)[0]
                pos += 12
                if group == 0x0040 and element == 0x08EA:
                    if length != _UNDEFINED:
                        after = pos + length
                        cached_unit = self.caches.units.get(buf[pos:after], _MISS)
                        if cached_unit is _MISS:
                            unit, after = self.unit(pos, length, 1)
                        else:
                            unit = cached_unit
                        pos = after
                    else:
                        unit, pos = self.unit(pos, length, 1)
                    continue
                plain = False
                if length == _UNDEFINED:
                    pos = self.skip_sequence(pos, 1)
                else:
                    pos += length
                continue
            kind = VR_KIND.get(vr)
            if kind is None or group == 0xFFFE:
                raise _Unsupported("unexpected element in a measured value")
            if kind:
                length = u32(buf, pos + 8)[0]
                if length == _UNDEFINED:
                    raise _Unsupported("undefined length outside a sequence")
                pos += 12
            else:
                pos += 8
            if group == 0x0040 and element == 0xA30A:
                if vr != b"DS":
                    raise _Unsupported("Numeric Value is not a DS")
                number = buf[pos : pos + length]
                number_at = pos - 8
            elif group == 0x0040 and element == 0x08EA:
                raise _Unsupported("units are not a sequence")
            else:
                plain = False
            pos += length
        if pos > stop:
            raise _Unsupported("element runs past its item")
        self.number_at = number_at if plain else -2
        return (_float(number) if number else None, unit), end

    def item(self, pos: int, stop: int | None, depth: int) -> tuple[Node, int]:
        """Read one content item in any transfer syntax (implicit VR, big endian)."""
        end = self.size if stop is None else stop
        name: Code = None
        vt_raw: bytes | None = None
        measured: tuple[float | None, str | None] | None = None
        concept: Code = None
        texts: Fields | None = None
        children: list[Node] | None = None
        while pos < end:
            tag, vr, length, pos = self.element(pos)
            if tag >> 16 == 0xFFFE:
                if tag == _ITEM_END and stop is None:
                    return self.node(name, vt_raw, measured, concept, texts, children), pos
                raise _Unsupported("unexpected delimiter")
            if tag >> 16 == 0x0040 and tag & 0xFFFF in _ITEM_ELEMENTS:
                expected = _VRS[tag]
                if not self.implicit and vr != expected:
                    raise _Unsupported("an element with another VR than its dictionary's")
                if tag == _CONCEPT_NAME:
                    name, pos = self.code(pos, length, 0)
                elif tag == _VALUE_TYPE:
                    vt_raw = self.buf[pos : pos + length]
                    pos += length
                elif tag == _MEASURED:
                    measured, pos = self.measured(pos, length, 0)
                elif tag == _CONTENT:
                    children, pos = self.content(
                        pos, None if length == _UNDEFINED else pos + length, depth + 1
                    )
                elif tag == _CONCEPT_CODE:
                    concept, pos = self.code(pos, length, 0)
                else:  # text values, decoded once the value type is known
                    if texts is None:
                        texts = {}
                    texts[tag] = (expected, pos, length)
                    pos += length
                if pos > end:
                    raise _Unsupported("element runs past its item")
                continue
            if length == _UNDEFINED:
                if vr != b"SQ":
                    raise _Unsupported("undefined length outside a sequence")
                pos = self.skip_sequence(pos, 0)
            else:
                pos += length
                if pos > end:
                    raise _Unsupported("element runs past its item")
        if stop is None:
            raise _Unsupported("item without its delimiter")
        return self.node(name, vt_raw, measured, concept, texts, children), pos

    def node(
        self,
        name: Code,
        vt_raw: bytes | None,
        measured: tuple[float | None, str | None] | None,
        concept: Code,
        texts: Fields | None,
        children: list[Node] | None,
    ) -> Node:
        """Build one :class:`Node` as :func:`.content.read_item` would from pydicom's item."""
        node = _node(name, vt_raw, measured, concept)
        if texts is not None and node.vt in _TEXT_TAGS:
            ref = texts.get(_TEXT_TAGS[node.vt])
            if ref is not None:
                if ref[2] == _UNDEFINED:
                    raise _Unsupported("undefined length text")
                node.text = self.text(*ref)
        if children:
            node.children = children
        return node


def _node(
    name: Code,
    vt_raw: bytes | None,
    measured: tuple[float | None, str | None] | None,
    concept: Code,
) -> Node:
    vt = "?"
    if vt_raw is not None:
        cached = _VT_CACHE.get(vt_raw)
        if cached is None:
            cached = (_cs_text(vt_raw) or "?").upper()
            _remember(_VT_CACHE, vt_raw, cached)
        vt = cached
    node = Node(name[0] if name else "?", vt)
    if vt == "NUM" and measured is not None:
        node.num, node.unit = measured
    elif vt == "CODE" and concept is not None:
        node.code, node.meaning = concept
    return node


def _cs_text(raw: bytes) -> str | None:
    value = raw.decode("latin-1")
    if "\\" in value:
        value = value.split("\\", 1)[0]
    return value.strip().strip("\x00").strip() or None


def _raw_value(ds: Dataset, tag: int) -> tuple[bool, RawDataElement | None]:
    """Return ``(True, raw element or None)`` when ``tag`` is absent or still encoded."""
    elem = ds._dict.get(shared_tag(tag))
    if elem is None:
        return True, None
    if not isinstance(elem, RawDataElement) or not isinstance(elem.value, bytes | None):
        return False, None
    return True, elem


def _default_repertoire_first(ds: Dataset) -> bool:
    value = ds[0x00080005].value
    first = (value if isinstance(value, str) else (list(value) or [""])[0]) or ""
    return first.strip() in ("", "ISO 2022 IR 6", "ISO_IR 6")


def _encoding(ds: Dataset, values: list[bytes]) -> str | None:
    encoding = dataset_encoding(ds)
    if encoding is None:
        # ISO 2022 code extensions: without an escape byte the text never leaves the
        # first (default) repertoire, which latin-1 decodes exactly
        if any(b"\x1b" in value for value in values) or not _default_repertoire_first(ds):
            return None
        encoding = "latin-1"
    return encoding


_ROOT_TAGS = (_CONCEPT_NAME, _VALUE_TYPE, _MEASURED, _CONCEPT_CODE, *set(_TEXT_TAGS.values()))


def _root_values(ds: Dataset, implicit: bool, little: bool) -> dict[int, bytes] | None:
    """Return the document's own encoded elements, or ``None`` when one is not encoded."""
    values: dict[int, bytes] = {}
    for tag in _ROOT_TAGS:
        encoded, elem = _raw_value(ds, tag)
        if not encoded:
            return None
        if elem is not None:
            if bool(elem.is_implicit_VR) != implicit or bool(elem.is_little_endian) != little:
                return None
            vr = _VRS[tag] if elem.VR is None else str(elem.VR).encode()
            if vr != _VRS[tag]:
                return None
            values[tag] = elem.value or b""
    return values


def _root(
    values: dict[int, bytes], implicit: bool, little: bool, encoding: str, budget: list[int]
) -> Node:
    """Return the document's own node (the root) from its encoded elements."""

    def reader(tag: int) -> _Reader:
        return _Reader(values[tag], implicit, little, encoding, budget)

    name = measured = concept = None
    if _CONCEPT_NAME in values:
        name, _ = reader(_CONCEPT_NAME).code(0, len(values[_CONCEPT_NAME]), 0)
    if _MEASURED in values:
        measured, _ = reader(_MEASURED).measured(0, len(values[_MEASURED]), 0)
    if _CONCEPT_CODE in values:
        concept, _ = reader(_CONCEPT_CODE).code(0, len(values[_CONCEPT_CODE]), 0)
    root = _node(name, values.get(_VALUE_TYPE), measured, concept)
    tag = _TEXT_TAGS.get(root.vt)
    if tag is not None and tag in values:
        root.text = reader(tag).text(_VRS[tag], 0, len(values[tag]))
    return root


def read_tree_raw(ds: Dataset) -> Node | None:
    """Return the whole content tree from the encoded elements; ``None`` if not possible.

    Raises
    ------
    TreeError
        When the tree is deeper than :data:`~.content.MAX_DEPTH` or larger than
        :data:`~.content.MAX_ITEMS`.
    """
    encoded, content = _raw_value(ds, _CONTENT)
    if not encoded or content is None:
        return None
    value = content.value or b""
    implicit, little = bool(content.is_implicit_VR), bool(content.is_little_endian)
    root_values = _root_values(ds, implicit, little)
    encoding = _encoding(ds, [value, *(root_values or {}).values()])
    if encoding is None:
        return None
    budget = [MAX_ITEMS]
    try:
        if root_values is None:  # already converted by pydicom: read the root through it
            root = read_item(ds)
        else:
            root = _root(root_values, implicit, little, encoding, budget)
        root.children, _ = _Reader(value, implicit, little, encoding, budget).content(
            0, len(value), 1
        )
    except (EncodingError, struct.error, IndexError):
        return None
    return root
