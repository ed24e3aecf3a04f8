"""The DICOM byte-level reader: the encoding rules of PS3.5 §7 and PS3.10 §7, in one place.

Every module that reads DICOM bytes without pydicom builds on this one:

- :mod:`medcoop.dicom.part10` (a Part 10 file's top level to a pydicom Dataset of
  still-encoded elements, through :func:`read_elements` and :func:`read_sequence`),
- :mod:`medcoop.dicom.rawsr` (an SR content tree straight to :class:`~.content.Node`
  objects),
- :mod:`medcoop.deid.elements` (the de-identification engine's element trees, read and
  written back byte for byte).

What they share is defined here once: the data element header layouts of each transfer
syntax (§7.1.2 explicit VR with 2- or 4-byte lengths, §7.1.3 implicit VR, little and big
endian), the item and delimitation tags and the undefined length (§7.5), the File
Meta Information and its ``DICM`` prefix (PS3.10 §7.1), skipping an undefined-length
sequence, and the one :class:`~pydicom.tag.BaseTag` object per tag that fast dict lookups
rely on. Each builder keeps its own inner loop because they build different things (a
callback per element would cost more than the read); the rules they follow are these.

This module imports nothing of medcoop, so any module may import it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, STANDARD_VR

__all__ = [
    "ELEMENT_HEADERS",
    "ITEM",
    "ITEM_DELIMITATION",
    "ITEM_HEADERS",
    "LONG_LENGTH_VRS",
    "MAX_NESTING",
    "PIXEL_TAGS",
    "SEQUENCE_DELIMITATION",
    "TAGS",
    "UINT32",
    "UNDEFINED_LENGTH",
    "VR_KIND",
    "Elements",
    "EncodingError",
    "FileMeta",
    "Unpack",
    "has_preamble",
    "is_sequence",
    "lookup_tag",
    "new_dataset",
    "read_elements",
    "read_file_meta",
    "read_sequence",
    "sequence_end",
    "shared_tag",
    "skip_sequence",
]

# --- PS3.5 §7.5: items, delimiters, undefined length -------------------------------------
#: Value Length meaning "until the delimitation item" (PS3.5 §7.1.1).
UNDEFINED_LENGTH = 0xFFFFFFFF
#: (FFFE,E000) Item, (FFFE,E00D) Item Delimitation Item, (FFFE,E0DD) Sequence Delimitation Item.
ITEM = 0xFFFEE000
ITEM_DELIMITATION = 0xFFFEE00D
SEQUENCE_DELIMITATION = 0xFFFEE0DD
#: (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float, (7FE0,0010) Pixel Data.
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
#: Nesting of sequences deeper than this is junk (pydicom would recurse).
MAX_NESTING = 128

# --- PS3.5 §7.1.2: explicit VR headers --------------------------------------------------
#: VRs whose explicit VR header has 2 reserved bytes and a 4-byte length (Table 7.1-1).
LONG_LENGTH_VRS = frozenset(str(vr).encode() for vr in EXPLICIT_VR_LENGTH_32)
#: Explicit VR (as encoded) → 0: 2-byte length, 1: 4-byte length, 2: sequence. A VR not
#: here is not a standard VR (an implicit VR element inside an explicit VR encoding?).
VR_KIND: dict[bytes, int] = {
    str(vr).encode(): (1 if str(vr).encode() in LONG_LENGTH_VRS else 0) for vr in STANDARD_VR
}
VR_KIND[b"SQ"] = 2

# --- struct layouts, by transfer syntax ----------------------------------------------------
#: A ``struct`` reader: ``(buffer, offset) -> values``.
Unpack = Callable[..., tuple[Any, ...]]
#: (implicit VR, little endian) → the element header: (group, element, length) in implicit
#: VR, (group, element, VR, 2-byte length) in explicit VR (a long VR's length follows).
ELEMENT_HEADERS: dict[tuple[bool, bool], Unpack] = {
    (True, True): struct.Struct("<HHI").unpack_from,
    (True, False): struct.Struct(">HHI").unpack_from,
    (False, True): struct.Struct("<HH2sH").unpack_from,
    (False, False): struct.Struct(">HH2sH").unpack_from,
}
#: little endian → an item or delimiter header: (group, element, length); also an implicit
#: VR element header.
ITEM_HEADERS: dict[bool, Unpack] = {
    True: struct.Struct("<HHI").unpack_from,
    False: struct.Struct(">HHI").unpack_from,
}
#: little endian → a 4-byte length.
UINT32: dict[bool, Unpack] = {
    True: struct.Struct("<I").unpack_from,
    False: struct.Struct(">I").unpack_from,
}
#: little endian → a tag: (group, element).
TAGS: dict[bool, Unpack] = {
    True: struct.Struct("<HH").unpack_from,
    False: struct.Struct(">HH").unpack_from,
}


class EncodingError(ValueError):
    """Bytes this reader does not take (malformed, truncated, or a layout it leaves to pydicom)."""


# --- PS3.10 §7.1: the preamble, DICM and the File Meta Information ------------------------
def has_preamble(data: bytes) -> bool:
    """Return whether ``data`` starts with a 128-byte preamble and the ``DICM`` prefix."""
    return len(data) >= 132 and data[128:132] == b"DICM"


class FileMeta(NamedTuple):
    """The File Meta Information group (0002,xxxx) of a Part 10 file, still encoded."""

    #: (tag, VR as encoded, value) of each element, in file order.
    elements: list[tuple[int, bytes, bytes]]
    #: Transfer Syntax UID (0002,0010) without its padding, ``None`` when absent.
    transfer_syntax: str | None
    #: Offset of the dataset (the first byte after the group).
    end: int


def read_file_meta(data: bytes) -> FileMeta | None:
    """Return the File Meta Information of a Part 10 file, or ``None`` if not read here.

    The group is always Explicit VR Little Endian (PS3.10 §7.1). ``None``: no preamble and
    ``DICM``, an element whose VR is not a standard VR (an implicit VR group, lowercase VRs:
    pydicom's reader guesses), an undefined length or a value past the end of the data.
    """
    if not has_preamble(data):
        return None
    size = len(data)
    pos = 132
    elements: list[tuple[int, bytes, bytes]] = []
    syntax: str | None = None
    header = ELEMENT_HEADERS[(False, True)]
    u32 = UINT32[True]
    while pos + 8 <= size:
        group, element, vr, length = header(data, pos)
        if group != 0x0002:
            break
        kind = VR_KIND.get(vr)
        if kind is None:
            return None
        if kind:
            if pos + 12 > size:
                return None
            length = u32(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        if length == UNDEFINED_LENGTH or pos + length > size:
            return None
        value = data[pos : pos + length]
        if element == 0x0010:
            syntax = value.decode("latin-1").rstrip("\0 ")
        elements.append((0x00020000 | element, vr, value))
        pos += length
    return FileMeta(elements, syntax, pos)


# --- one BaseTag per tag -------------------------------------------------------------------
#: One BaseTag object per tag, shared by the datasets read here: a dict lookup finds an
#: identical key object without calling ``BaseTag.__eq__`` (Python code, ~0.3 µs; int keys
#: against BaseTag keys pay it on every hit).
_BASE_TAGS: dict[int, BaseTag] = {}


def shared_tag(tag: int) -> BaseTag:
    """Return the one :class:`BaseTag` object used for ``tag`` in datasets read here."""
    found = _BASE_TAGS.get(tag)
    if found is None:
        found = BaseTag(tag)
        if len(_BASE_TAGS) < 65536:  # bounded: junk tags must not grow it forever
            _BASE_TAGS[tag] = found
    return found


def lookup_tag(tag: int) -> BaseTag | int:
    """Return the key to look ``tag`` up in a dataset read here (never adds a tag)."""
    return _BASE_TAGS.get(tag, tag)


# --- sequences of undefined length (PS3.5 §7.5.2) -----------------------------------------
def is_sequence(data: bytes, pos: int, tag: int, vr: bytes | None, little: bool) -> bool:
    """Return whether an undefined-length element is a sequence, as ``dcmread`` decides.

    ``vr`` is the explicit VR (``None`` in implicit VR, where the dictionary decides, and a
    private element is a sequence when an item follows at ``pos``). An explicit ``UN`` is
    not taken here: pydicom reads it as an implicit VR sequence.
    """
    if vr is not None:
        return vr == b"SQ"
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        group, element = TAGS[little](data, pos)
        return (group << 16 | element) == ITEM


def sequence_end(data: bytes, pos: int, implicit: bool, little: bool, nesting: int = 0) -> int:
    """Return the offset after the delimiter of the undefined-length sequence at ``pos``.

    ``pos`` is where its first item starts. Raises :class:`EncodingError` (or
    :class:`struct.error` at the end of the data) when the items do not end as PS3.5 §7.5
    says.
    """
    if nesting > MAX_NESTING:
        raise EncodingError("sequences nested too deep")
    item_header = ITEM_HEADERS[little]
    size = len(data)
    while True:
        group, element, length = item_header(data, pos)
        pos += 8
        if group == 0xFFFE and element == 0xE0DD:
            return pos
        if group != 0xFFFE or element != 0xE000:
            raise EncodingError("expected an item")
        if length == UNDEFINED_LENGTH:
            pos = _item_end(data, pos, implicit, little, nesting + 1)
        else:
            pos += length
            if pos > size:
                raise EncodingError("item runs past the end")


def _item_end(data: bytes, pos: int, implicit: bool, little: bool, nesting: int) -> int:
    """Return the offset after the Item Delimitation Item of the item whose elements start
    at ``pos``."""
    if nesting > MAX_NESTING:
        raise EncodingError("sequences nested too deep")
    item_header = ITEM_HEADERS[little]
    header = ELEMENT_HEADERS[(False, little)]
    u32 = UINT32[little]
    size = len(data)
    while pos < size:
        group, element, length = item_header(data, pos)
        if group == 0xFFFE:
            if element == 0xE00D:
                return pos + 8
            raise EncodingError("unexpected item or delimiter")
        vr: bytes | None = None
        if implicit:
            pos += 8
        else:
            _, _, vr, length = header(data, pos)
            kind = VR_KIND.get(vr)
            if kind is None:
                raise EncodingError("unknown VR (implicit VR inside an explicit VR sequence?)")
            if kind:
                length = u32(data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
        if length == UNDEFINED_LENGTH:
            if not is_sequence(data, pos, (group << 16) | element, vr, little):
                raise EncodingError("undefined length outside a sequence")
            pos = sequence_end(data, pos, implicit, little, nesting + 1)
        else:
            pos += length
            if pos > size:
                raise EncodingError("element runs past its item")
    raise EncodingError("item without its delimiter")


def skip_sequence(data: bytes, pos: int, implicit: bool, little: bool) -> int | None:
    """:func:`sequence_end`, or ``None`` when the items are not read here."""
    try:
        return sequence_end(data, pos, implicit, little)
    except (EncodingError, struct.error, IndexError):
        return None


# --- elements to pydicom's raw elements ----------------------------------------------------
_VR_TEXT = {vr: vr.decode() for vr in VR_KIND}
#: A zero-length value as ``dcmread`` holds it raw: ``b""``, or ``None`` for a sequence.
_EMPTY_RAW: dict[str | None, bytes | None] = {
    vr: b"" if empty_value_for_VR(vr, raw=True) == b"" else None
    for vr in (None, *_VR_TEXT.values())
}
_ITEM_END_BYTES = {True: b"\xfe\xff\x0d\xe0", False: b"\xff\xfe\xe0\x0d"}
_new = tuple.__new__


def _dataset_template() -> dict[str, object] | None:
    """Return what ``Dataset.__init__`` sets, to copy; ``None`` if pydicom changed shape."""
    probe = Dataset({}, parent_encoding=default_encoding)
    if type(probe).__new__ is not object.__new__ or not hasattr(probe, "__dict__"):
        return None
    return dict(vars(probe))


#: ``Dataset()`` costs ~11 µs (a dozen attributes set through its ``__setattr__``), more
#: than reading a small dataset; copying the attributes it sets costs ~1 µs.
_TEMPLATE = _dataset_template()
_MUTABLE = tuple(
    (k, v) for k, v in (_TEMPLATE or {}).items() if isinstance(v, dict | list | set)
)


#: What a pydicom Dataset holds: elements by tag, raw or converted.
Elements = dict[BaseTag, DataElement | RawDataElement]


def new_dataset(elements: Elements, encoding: str | list[str]) -> Dataset:
    """Return ``Dataset(elements, parent_encoding=encoding)``, the same object, faster."""
    if _TEMPLATE is None:
        return Dataset(elements, parent_encoding=encoding)
    ds = object.__new__(Dataset)
    attributes = ds.__dict__
    attributes.update(_TEMPLATE)
    for name, value in _MUTABLE:
        attributes[name] = value.copy()
    attributes["_dict"] = elements
    attributes["_parent_encoding"] = encoding
    return ds


def read_elements(
    data: bytes,
    pos: int,
    stop: int | None,
    implicit: bool,
    little: bool,
    offset: int,
    top: bool = False,
) -> tuple[Elements, int] | None:
    """Return the raw elements from ``pos`` to ``stop`` (``None``: the item delimiter).

    The ``RawDataElement`` tuples are those ``dcmread`` builds (tag, VR, length, value,
    offset, encoding flags); an undefined-length sequence stays encoded (its items' bytes),
    which pydicom converts to the same items on access. ``offset`` is where ``data`` starts
    in the file (value offsets are the file's, as dcmread's); ``top`` reads a file's top
    level, where the pixel data elements are left out (not copied) and what follows them is
    read. ``None`` for anything ``dcmread`` would read otherwise (an unknown VR, an
    undefined-length value that is not a sequence, a value past its container...).
    """
    header = ELEMENT_HEADERS[(implicit, little)]
    u32 = UINT32[little]
    size = len(data)
    end = size if stop is None else stop
    elements: Elements = {}
    value: bytes | None
    try:
        while pos < end:
            if pos + 8 > size:
                return None  # a truncated header
            if implicit:
                group, element, length = header(data, pos)
                vr = vr_text = None
                if group == 0xFFFE:
                    if element == 0xE00D and stop is None and not top:
                        return elements, pos + 8
                    return None
                pos += 8
            else:
                group, element, vr, length = header(data, pos)
                if group == 0xFFFE:
                    if element == 0xE00D and stop is None and not top:
                        return elements, pos + 8
                    return None
                kind = VR_KIND.get(vr)
                if kind is None:
                    return None  # dcmread would guess (implicit VR, 16-bit length)
                vr_text = _VR_TEXT[vr]
                if kind:
                    length = u32(data, pos + 8)[0]
                    pos += 12
                else:
                    pos += 8
            tag = (group << 16) | element
            if top and (tag in PIXEL_TAGS or group == 0x0002):
                if group == 0x0002:
                    return None
                # left out, not copied (extraction never reads pixels); what follows is read
                if length == UNDEFINED_LENGTH:  # encapsulated: fragments, then a delimiter
                    after = skip_sequence(data, pos, implicit, little)
                    if after is None:
                        return None
                    pos = after
                elif pos + length > end:
                    return None
                else:
                    pos += length
                continue
            if length == UNDEFINED_LENGTH:
                if not is_sequence(data, pos, tag, vr, little):
                    return None
                after = skip_sequence(data, pos, implicit, little)
                if after is None:
                    return None
                value = data[pos : after - 8]
                next_pos = after
            else:
                next_pos = pos + length
                if next_pos > end:
                    return None  # truncated: dcmread keeps a short value
                value = data[pos:next_pos] if length else _EMPTY_RAW[vr_text]
            base = shared_tag(tag)
            elements[base] = _new(
                RawDataElement,
                (base, vr_text, length, value, offset + pos, implicit, little, True, False),
            )
            pos = next_pos
    except struct.error:
        return None
    if stop is None and not top:
        return None  # an item without its delimiter
    return elements, pos


def read_sequence(elem: RawDataElement, encoding: str | list[str]) -> list[Dataset] | None:
    """Return the items of a still-encoded sequence as pydicom's conversion would.

    Each item is a Dataset of still-encoded elements, as ``convert_SQ`` builds it; ``None``
    when this reader does not handle the value (convert it with pydicom).

    Parameters
    ----------
    elem : RawDataElement
        A sequence element as read (``VR`` ``SQ``, or ``None`` in implicit VR).
    encoding : str or list of str
        The parent dataset's character set (``Dataset._character_set``).
    """
    data = elem.value
    if not isinstance(data, bytes):
        return None
    implicit, little = bool(elem.is_implicit_VR), bool(elem.is_little_endian)
    item_header = ITEM_HEADERS[little]
    size = len(data)
    items: list[Dataset] = []
    pos = 0
    try:
        while pos < size:
            group, element, length = item_header(data, pos)
            if (group, element) == (0xFFFE, 0xE0DD):
                break
            if (group, element) != (0xFFFE, 0xE000):
                return None
            pos += 8
            stop = None if length == UNDEFINED_LENGTH else pos + length
            if stop is not None and stop > size:
                return None
            opened = pos < size and (stop is None or pos < stop)
            opened = opened and not implicit and data[pos : pos + 4] != _ITEM_END_BYTES[little]
            # pydicom reads an item whose first element has no valid VR as implicit VR
            if opened and not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B):
                return None
            found = read_elements(data, pos, stop, implicit, little, elem.value_tell + pos)
            if found is None:
                return None
            items.append(new_dataset(found[0], encoding))
            pos = found[1] if stop is None else stop
    except (struct.error, IndexError):
        return None
    return items
