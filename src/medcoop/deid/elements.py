"""Encoded DICOM elements: the engine's view of a dataset, parsed and written as bytes.

pydicom converts an element's bytes to Python values on access and writes converted
elements back through per-VR writers; for de-identification, where most elements stay
unchanged, that costs more than the de-identification itself. The engine therefore
works on :class:`Elem` trees: one object per element with its encoded value, sequence
items parsed into trees of their own. Elements ``dcmread`` left raw are taken as they
are; elements built in memory are encoded by pydicom one at a time and parsed back.
Unchanged values are written back byte for byte; only changed values are re-encoded.

Text is decoded exactly as pydicom decodes it (same character-set handling, same
splitting and stripping), so the engine's decisions match a walk of converted values.

The byte-level rules (header layouts, item and delimitation tags, the File Meta and its
``DICM`` prefix) are :mod:`medcoop.dicom.reader`'s; this module builds the engine's trees
on them and writes them back. Unlike the Part 10 reader, which declines whatever
``dcmread`` would read otherwise, it takes what a tolerant reader must rewrite: pixel data,
an implicit VR element inside an explicit VR sequence, a sequence sent as ``UN``.
"""

from __future__ import annotations

import copy
import struct
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from pydicom import Dataset
from pydicom.charset import convert_encodings, decode_bytes, encode_string
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

from medcoop.dicom import reader

__all__ = [
    "Elem",
    "Part10",
    "charset_codecs",
    "charset_of",
    "decode_texts",
    "emit",
    "emit_encoded",
    "encode_text",
    "encode_values",
    "from_dataset",
    "parse",
    "parse_part10",
    "pydicom_str",
    "to_dataset",
    "to_file_meta",
]

ITEM = reader.ITEM
ITEM_END = reader.ITEM_DELIMITATION
SEQ_END = reader.SEQUENCE_DELIMITATION
UNDEFINED = reader.UNDEFINED_LENGTH
CHARSET_TAG = 0x00080005
DEFAULT_ENCODINGS: tuple[str, ...] = ("iso8859",)
_first = itemgetter(0)
_ITEM_BYTES = {True: b"\xfe\xff\x00\xe0", False: b"\xff\xfe\xe0\x00"}

#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR encodings.
LONG_VRS = reader.LONG_LENGTH_VRS
#: Text VRs pydicom decodes with the Specific Character Set, and splits on backslashes.
CHARSET_MULTI_VRS = frozenset({"SH", "LO", "UC"})
#: Text VRs pydicom decodes with the Specific Character Set, never split.
CHARSET_SINGLE_VRS = frozenset({"ST", "LT", "UT"})
#: Text VRs pydicom decodes as ASCII (its default encoding) and splits on backslashes.
ASCII_MULTI_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "DS", "IS", "UI"})
_UINT = {"UL": "L", "US": "H"}
TEXT_VRS = CHARSET_MULTI_VRS | CHARSET_SINGLE_VRS | ASCII_MULTI_VRS | {"PN", "UR"}


class Elem:
    """One encoded element.

    Attributes
    ----------
    tag : int
    vr : str
        The VR the engine decides by: as encoded, except that ``UN`` of a public tag
        pydicom knows is that tag's VR (as pydicom converts it), and implicit VR
        encodings take the dictionary's.
    code : bytes or None
        The VR written in explicit VR encodings (``None``: the element came from an
        implicit VR encoding and is written back to one).
    value : bytes
        The encoded value (empty for sequences).
    items : list of list of Elem, or None
        Sequence items, or ``None`` for every other element.
    undefined : bool
        An undefined-length value other than a sequence (encapsulated pixel data): the
        fragments, written back between an undefined length and a delimiter.
    inner_implicit : bool
        The items are encoded in implicit VR little endian (a sequence sent as ``UN``).
    """

    __slots__ = ("code", "inner_implicit", "items", "tag", "undefined", "value", "vr")

    def __init__(
        self,
        tag: int,
        vr: str,
        code: bytes | None,
        value: bytes = b"",
        items: list[list[Elem]] | None = None,
        *,
        undefined: bool = False,
        inner_implicit: bool = False,
    ) -> None:
        self.tag = tag
        self.vr = vr
        self.code = code
        self.value = value
        self.items = items
        self.undefined = undefined
        self.inner_implicit = inner_implicit

    def __repr__(self) -> str:  # tag and VR only: values may identify a patient
        return f"Elem({self.tag:08X} {self.vr})"


#: An element with its encoded value.
Encoded = tuple[Elem, bytes]


class _Codec:
    """Struct layouts of one byte order."""

    __slots__ = ("explicit_long", "explicit_short", "implicit", "tag", "u32")

    def __init__(self, order: str) -> None:
        self.implicit = struct.Struct(order + "HHL")
        self.explicit_short = struct.Struct(order + "HH2sH")
        self.explicit_long = struct.Struct(order + "HH2s2xL")
        self.tag = struct.Struct(order + "HH")
        self.u32 = struct.Struct(order + "L")


_LITTLE = _Codec("<")
_BIG = _Codec(">")


@lru_cache(maxsize=8192)
def dictionary_vr(tag: int) -> str:
    """Return pydicom's dictionary VR for a public ``tag`` (``UN`` if unknown or private)."""
    if (tag >> 16) & 1:
        return "UN"
    if tag & 0xFFFF == 0:
        return "UL"
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _resolved_vr(tag: int, code: bytes, length: int) -> str:
    vr = code.decode("ascii")
    # pydicom replaces UN of a known public tag by the dictionary VR (not beyond 64 KiB).
    if vr == "UN" and not (tag >> 16) & 1 and length < 0xFFFF:
        known = dictionary_vr(tag)
        return known if known != "UN" else vr
    return vr


# --- parsing ----------------------------------------------------------------------------


def parse(
    data: bytes, pos: int, end: int, *, implicit: bool, little: bool = True
) -> tuple[list[Elem], int]:
    """Parse the elements of ``data[pos:end]``; ``end < 0`` reads to an item delimiter.

    Returns the elements and the position after them (after the delimiter). Raises
    :class:`ValueError` on truncated or malformed encodings.
    """
    codec = _LITTLE if little else _BIG
    size = len(data)
    limit = size if end < 0 else end
    if limit > size:
        raise ValueError("value runs past the end of the data")
    elems: list[Elem] = []
    while pos < limit:
        if pos + 8 > limit:
            raise ValueError("truncated element header")
        group, element = codec.tag.unpack_from(data, pos)
        tag = group << 16 | element
        if tag == ITEM_END:  # tolerated in a defined-length item too, as pydicom does
            return elems, pos + 8
        switched = False
        if implicit:
            length = codec.u32.unpack_from(data, pos + 4)[0]
            start = pos + 8
            code = None
            vr = dictionary_vr(tag)
        else:
            code = data[pos + 4 : pos + 6]
            if code in LONG_VRS:
                if pos + 12 > limit:
                    raise ValueError("truncated element header")
                length = codec.u32.unpack_from(data, pos + 8)[0]
                start = pos + 12
                vr = _resolved_vr(tag, code, length)
            elif b"AA" <= code <= b"ZZ":
                length = codec.explicit_short.unpack_from(data, pos)[3]
                start = pos + 8
                vr = code.decode("ascii")
            else:
                # Some writers switch to implicit VR inside sequences; pydicom reads
                # such an element as implicit, and it is written back explicit.
                switched = True
                length = codec.u32.unpack_from(data, pos + 4)[0]
                start = pos + 8
                vr = dictionary_vr(tag)
                known = vr.encode("ascii")
                code = known if len(known) == 2 else b"UN"
        if length == UNDEFINED:
            elem, pos = _undefined(data, tag, vr, code, start, implicit, little, switched)
        else:
            stop = start + length
            if stop > limit:
                raise ValueError("value runs past its container")
            if vr == "SQ":
                elem, _ = _sequence(data, tag, code, start, stop, implicit=implicit, little=little)
            else:
                elem = Elem(tag, vr, code, data[start:stop])
            pos = stop
        elems.append(elem)
    if end < 0:
        raise ValueError("item without its delimiter")
    return elems, pos


def _undefined(
    data: bytes,
    tag: int,
    vr: str,
    code: bytes | None,
    start: int,
    implicit: bool,
    little: bool,
    switched: bool,
) -> tuple[Elem, int]:
    codec = _LITTLE if little else _BIG
    is_sequence = vr == "SQ" or code == b"UN"  # PS3.5 6.2.2: undefined-length UN is SQ
    if not is_sequence and (implicit or switched) and vr == "UN" and start + 4 <= len(data):
        group, element = codec.tag.unpack_from(data, start)
        is_sequence = (group << 16 | element) == ITEM
    if is_sequence:
        return _sequence(
            data, tag, code, start, -1, implicit=implicit, little=little, items_implicit=switched
        )
    # Encapsulated fragments: items of defined length up to the sequence delimiter.
    pos = start
    while True:
        if pos + 8 > len(data):
            raise ValueError("undefined-length value without its delimiter")
        group, element = codec.tag.unpack_from(data, pos)
        length = codec.u32.unpack_from(data, pos + 4)[0]
        item_tag = group << 16 | element
        if item_tag == SEQ_END:
            return Elem(tag, vr, code, data[start:pos], undefined=True), pos + 8
        if item_tag != ITEM or length == UNDEFINED:
            raise ValueError("malformed encapsulated value")
        pos += 8 + length


def _sequence(
    data: bytes,
    tag: int,
    code: bytes | None,
    start: int,
    end: int,
    *,
    implicit: bool,
    little: bool,
    items_implicit: bool = False,
) -> tuple[Elem, int]:
    """Return a sequence element parsed from ``data[start:end]`` (``end < 0``: to its
    delimiter) and the position after it.

    A sequence sent as explicit VR ``UN`` holds items in implicit VR little endian
    (PS3.5 6.2.2); ``items_implicit`` says the items are implicit VR anyway (an element
    read as implicit inside an explicit VR encoding).
    """
    inner = code == b"UN" and not implicit
    items, pos = parse_items(
        data, start, end, implicit=implicit or inner or items_implicit, little=little or inner
    )
    return Elem(tag, "SQ", code, b"", items, inner_implicit=inner), pos


class Part10(NamedTuple):
    """A PS3.10 file parsed: its meta group, its dataset and the transfer syntax."""

    meta: list[Elem]
    body: list[Elem]
    transfer_syntax: UID


def parse_part10(data: bytes) -> Part10 | None:
    """Parse a PS3.10 file into elements; ``None`` for a file not taken here.

    Not taken (pydicom's reader guesses at these): no ``DICM`` prefix, a File Meta that
    :func:`medcoop.dicom.reader.read_file_meta` does not read, no or a private transfer
    syntax, a dataset whose first element is not encoded as the syntax declares. A deflated
    dataset is inflated first. Raises :class:`ValueError` (or ``struct.error``,
    ``zlib.error``) on malformed or truncated encodings.
    """
    meta = reader.read_file_meta(data)
    if meta is None or meta.transfer_syntax is None:
        return None
    uid = UID(meta.transfer_syntax)
    if not uid.is_transfer_syntax or uid.is_private:
        return None
    start = meta.end
    if uid.is_deflated:
        data = zlib.decompress(data[start:], -zlib.MAX_WBITS)
        start = 0
    if not _starts_as(data, start, uid.is_implicit_VR):
        return None
    implicit, little = uid.is_implicit_VR, uid.is_little_endian
    body, _ = parse(data, start, len(data), implicit=implicit, little=little)
    elems = [Elem(tag, vr.decode("ascii"), vr, value) for tag, vr, value in meta.elements]
    return Part10(elems, body, uid)


def _starts_as(data: bytes, start: int, implicit: bool) -> bool:
    # The first element's VR field is two capitals exactly when the VR is explicit.
    if start + 6 > len(data):
        return start == len(data)
    code = data[start + 4 : start + 6]
    explicit = b"AA" <= code <= b"ZZ" and code.isalpha()
    return explicit != implicit


def parse_items(
    data: bytes, pos: int, end: int, *, implicit: bool, little: bool
) -> tuple[list[list[Elem]], int]:
    """Parse sequence items from ``pos`` to ``end`` (``end < 0``: to a sequence delimiter)."""
    codec = _LITTLE if little else _BIG
    limit = len(data) if end < 0 else end
    items: list[list[Elem]] = []
    while pos < limit:
        if pos + 8 > limit:
            raise ValueError("truncated item header")
        group, element = codec.tag.unpack_from(data, pos)
        length = codec.u32.unpack_from(data, pos + 4)[0]
        tag = group << 16 | element
        pos += 8
        if tag == SEQ_END:
            if end >= 0:
                raise ValueError("sequence delimiter in a defined-length sequence")
            return items, pos
        if tag != ITEM:
            raise ValueError("sequence holds something other than items")
        if length == UNDEFINED:
            elems, pos = parse(data, pos, -1, implicit=implicit, little=little)
        else:
            elems, _ = parse(data, pos, pos + length, implicit=implicit, little=little)
            pos += length
        items.append(elems)
    if end < 0:
        raise ValueError("sequence without its delimiter")
    return items, pos


# --- from a pydicom dataset -------------------------------------------------------------


def from_dataset(
    ds: Dataset,
    *,
    implicit: bool,
    little: bool,
    encodings: Sequence[str] | None = None,
    compressed: bool = False,
) -> list[Elem]:
    """Return the elements of ``ds`` (not its file meta) in tag order, in one encoding.

    Raw elements already in that encoding are taken as they are (``ds`` is neither
    modified nor converted); any other element is encoded by pydicom and parsed back.
    ``compressed`` says the transfer syntax encapsulates pixel data.
    """
    if encodings is None:
        encodings = _dataset_encodings(ds, DEFAULT_ENCODINGS)
    elems: list[Elem] = []
    # items() gives the stored elements, raw ones unconverted.
    for tag, raw in sorted(ds.items(), key=_first):
        if (
            isinstance(raw, RawDataElement)
            and raw.is_implicit_VR == implicit
            and raw.is_little_endian == little
            and isinstance(raw.value, bytes)
        ):
            elems.append(_from_raw(raw, implicit, little))
            continue
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            elem = ds[tag]  # a deferred value: pydicom reads it from the file now
        elif isinstance(raw, RawDataElement):
            elem = convert_raw_data_element(raw, encoding=list(encodings), ds=ds)
        else:
            elem = raw
        if elem.VR == "SQ":
            items = [
                from_dataset(
                    item,
                    implicit=implicit,
                    little=little,
                    encodings=_dataset_encodings(item, encodings),
                    compressed=compressed,
                )
                for item in elem.value or ()
            ]
            elems.append(Elem(int(tag), "SQ", None if implicit else b"SQ", b"", items))
        else:
            elems.append(_encode_one(elem, ds, implicit, little, encodings, compressed))
    return elems


def _from_raw(raw: RawDataElement, implicit: bool, little: bool) -> Elem:
    tag = int(raw.tag)
    value = raw.value or b""
    if raw.VR is None and not implicit:  # pydicom read an implicit VR switch
        known = dictionary_vr(tag).encode("ascii")
        code: bytes | None = known if len(known) == 2 else b"UN"
    else:
        code = None if implicit else str(raw.VR).encode("ascii")
    if raw.length == UNDEFINED:
        # dcmread keeps undefined-length values other than sequences (encapsulated
        # pixel data) as their fragments, without the delimiter.
        vr = dictionary_vr(tag) if code is None else _resolved_vr(tag, code, 0)
        return Elem(tag, vr, code, value, undefined=True)
    if code is None:
        vr = dictionary_vr(tag)
    elif code in LONG_VRS or b"AA" <= code <= b"ZZ":
        vr = _resolved_vr(tag, code, len(value))
    else:
        raise ValueError("unknown VR")
    if vr == "SQ":
        return _sequence(value, tag, code, 0, len(value), implicit=implicit, little=little)[0]
    return Elem(tag, vr, code, value)


def _encode_one(
    elem: DataElement,
    ds: Dataset,
    implicit: bool,
    little: bool,
    encodings: Sequence[str],
    compressed: bool,
) -> Elem:
    vr = elem.VR
    value = elem.value
    if (vr in ASCII_MULTI_VRS or vr in CHARSET_MULTI_VRS or vr in CHARSET_SINGLE_VRS) and (
        isinstance(value, str)
        or (isinstance(value, MultiValue) and all(isinstance(v, str) for v in value))
    ):
        # Plain text (what dcmread itself converts: character set, transfer syntax).
        texts = [value] if isinstance(value, str) else list(value)
        code = None if implicit else vr.encode("ascii")
        return Elem(int(elem.tag), vr, code, encode_text(texts, vr, encodings) if texts else b"")
    if vr in _UINT and isinstance(value, int) and not isinstance(value, bool):
        code = None if implicit else vr.encode("ascii")
        fmt = ("<" if little else ">") + _UINT[vr]
        return Elem(int(elem.tag), vr, code, struct.pack(fmt, value))
    elem = copy.copy(elem)  # VR correction and undefined length must not touch the input
    if elem.tag == 0x7FE00010 and isinstance(elem.value, bytes):
        # As pydicom's writer: encapsulated pixel data has an undefined length.
        elem.is_undefined_length = compressed and elem.value[:4] == _ITEM_BYTES[little]
    if not implicit and elem.VR and len(elem.VR) != 2:
        corrected = correct_ambiguous_vr_element(elem, ds, little)
        if not isinstance(corrected, DataElement):  # it returns what it is given
            raise ValueError("an ambiguous VR could not be resolved")
        elem = corrected
        if len(elem.VR) != 2:
            elem.VR = "UN"
    buffer = DicomBytesIO()
    buffer.is_little_endian = little
    buffer.is_implicit_VR = implicit
    write_data_element(buffer, elem, list(encodings))
    data = buffer.getvalue()
    parsed, _ = parse(data, 0, len(data), implicit=implicit, little=little)
    if len(parsed) != 1:
        raise ValueError("an element encoded as several")
    return parsed[0]


def _dataset_encodings(ds: Dataset, parent: Sequence[str]) -> tuple[str, ...]:
    if CHARSET_TAG not in ds:
        return tuple(parent)
    raw = ds.get_item(CHARSET_TAG)
    if isinstance(raw, RawDataElement):
        terms = decode_texts(raw.value or b"", "CS", DEFAULT_ENCODINGS)
    else:
        value = raw.value
        terms = [str(v) for v in value] if isinstance(value, MultiValue) else [str(value or "")]
    return charset_of(tuple(terms), tuple(parent))


def charset_codecs(body: list[Elem]) -> list[str]:
    """Return the Python codecs of a dataset's Specific Character Set (``[]``: none)."""
    # Every (0008,0005) in file order, not a dict's last one: a parsed file may repeat it.
    for elem in body:
        if elem.tag == CHARSET_TAG:
            terms = tuple(decode_texts(elem.value, "CS", DEFAULT_ENCODINGS))
            if any(terms):
                return list(charset_of(terms, ()))
    return []


@lru_cache(maxsize=256)
def charset_of(terms: tuple[str, ...], parent: tuple[str, ...]) -> tuple[str, ...]:
    """Return Python codecs for Specific Character Set ``terms`` (``parent``'s if empty)."""
    if not any(terms):
        return parent if terms == () else DEFAULT_ENCODINGS
    value: str | list[str] = terms[0] if len(terms) == 1 else list(terms)
    return tuple(convert_encodings(value))


def item_encodings(elems: Iterable[Elem], parent: tuple[str, ...]) -> tuple[str, ...]:
    """Return the codecs of an item: its own Specific Character Set, else ``parent``."""
    for elem in elems:
        if elem.tag == CHARSET_TAG:
            return charset_of(tuple(decode_texts(elem.value, "CS", DEFAULT_ENCODINGS)), parent)
        if elem.tag > CHARSET_TAG:
            break
    return parent


# --- text -------------------------------------------------------------------------------


def decode_texts(value: bytes, vr: str, encodings: Sequence[str]) -> list[str]:
    """Return the values of a text element as pydicom converts them (``[]`` if not text).

    Multi-valued VRs are split on backslashes; each value loses its trailing spaces and
    NULs, as in pydicom. An empty element gives ``[""]`` (pydicom's empty string).
    """
    encodings = encodings or DEFAULT_ENCODINGS
    if vr in CHARSET_MULTI_VRS:
        text = decode_bytes(value, list(encodings), TEXT_VR_DELIMS)
        return [part.rstrip("\0 ") for part in text.split("\\")]
    if vr in ASCII_MULTI_VRS:
        return value.decode("iso8859").rstrip(" \x00").split("\\")
    if vr == "PN":
        text = decode_bytes(value.rstrip(b"\x00 "), list(encodings), PN_DELIMS | TEXT_VR_DELIMS)
        return text.split("\\")
    if vr in CHARSET_SINGLE_VRS:
        return [decode_bytes(value, list(encodings), TEXT_VR_DELIMS).rstrip("\0 ")]
    if vr == "UR":
        return [value.decode("iso8859").rstrip()]
    return []


def pydicom_str(values: list[str]) -> str:
    """Return ``str()`` of the value pydicom would give: one string, or its MultiValue."""
    if len(values) == 1:
        return values[0]
    return str(MultiValue(str, values))


def encode_text(values: Sequence[str], vr: str, encodings: Sequence[str]) -> bytes:
    """Encode text values as pydicom writes them (joined, padded to an even length)."""
    text = "\\".join(values)
    if vr in ASCII_MULTI_VRS or vr == "UR":
        data = text.encode("ascii")
    else:
        data = encode_string(text, list(encodings or DEFAULT_ENCODINGS))
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return data


# --- writing ----------------------------------------------------------------------------


def emit(elems: Iterable[Elem], out: list[bytes], *, implicit: bool, little: bool = True) -> None:
    """Append the encoding of ``elems`` to ``out``."""
    emit_encoded(
        encode_values(elems, implicit=implicit, little=little),
        out,
        implicit=implicit,
        little=little,
    )


def encode_values(elems: Iterable[Elem], *, implicit: bool, little: bool) -> list[Encoded]:
    """Return each element with its encoded value (sequences encoded once, for both
    :func:`emit_encoded` and :func:`to_dataset`)."""
    return [(e, e.value if e.items is None else sequence_value(e, implicit, little)) for e in elems]


def emit_encoded(
    encoded: Iterable[Encoded], out: list[bytes], *, implicit: bool, little: bool = True
) -> None:
    """:func:`emit` of elements whose values :func:`encode_values` encoded."""
    codec = _LITTLE if little else _BIG
    for elem, value in encoded:
        _header(out, codec, elem, len(value), implicit)
        out.append(value)
        if elem.undefined:
            out.append(codec.implicit.pack(0xFFFE, 0xE0DD, 0))


def sequence_value(elem: Elem, implicit: bool, little: bool) -> bytes:
    """Return the encoded items of a sequence element (items of defined length)."""
    assert elem.items is not None
    inner = elem.inner_implicit
    item_implicit, item_little = (True, True) if inner else (implicit, little)
    codec = _LITTLE if item_little else _BIG
    parts: list[bytes] = []
    for item in elem.items:
        body: list[bytes] = []
        emit(item, body, implicit=item_implicit, little=item_little)
        encoded = b"".join(body)
        parts.append(codec.implicit.pack(0xFFFE, 0xE000, len(encoded)))
        parts.append(encoded)
    return b"".join(parts)


def _header(out: list[bytes], codec: _Codec, elem: Elem, length: int, implicit: bool) -> None:
    group, element = elem.tag >> 16, elem.tag & 0xFFFF
    if elem.undefined:
        length = UNDEFINED
    if implicit:
        out.append(codec.implicit.pack(group, element, length))
        return
    code = elem.code if elem.code is not None else elem.vr.encode("ascii")
    if code in LONG_VRS:
        out.append(codec.explicit_long.pack(group, element, code, length))
    elif length > 0xFFFF:
        raise ValueError("value too long for its VR")
    else:
        out.append(codec.explicit_short.pack(group, element, code, length))


def to_dataset(encoded: Iterable[Encoded], *, implicit: bool, little: bool) -> Dataset:
    """Return a pydicom dataset of raw elements (converted by pydicom on access)."""
    return Dataset(_raw_elements(encoded, implicit=implicit, little=little))


def to_file_meta(encoded: Iterable[Encoded]) -> FileMetaDataset:
    """:func:`to_dataset` of a file meta group (Explicit VR Little Endian)."""
    return FileMetaDataset(_raw_elements(encoded, implicit=False, little=True))


def _raw_elements(
    encoded: Iterable[Encoded], *, implicit: bool, little: bool
) -> dict[BaseTag, DataElement | RawDataElement]:
    raw: dict[BaseTag, DataElement | RawDataElement] = {}
    for elem, value in encoded:
        tag = BaseTag(elem.tag)
        if elem.items is not None:
            vr: str | None = "UN" if elem.inner_implicit else "SQ"
        else:
            vr = None if implicit else (elem.code or elem.vr.encode()).decode("ascii")
        length = UNDEFINED if elem.undefined else len(value)
        raw[tag] = RawDataElement(tag, vr, length, value, 0, implicit, little)
    return raw
