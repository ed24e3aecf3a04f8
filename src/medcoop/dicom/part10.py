"""A Part 10 file's bytes to a pydicom Dataset of still-encoded elements, without ``dcmread``.

``dcmread`` costs ~250 µs even for a 15 KB dose report (file-object reads, a generator per
dataset, File Meta checks), more than the fast extraction itself, and it parses every
undefined-length sequence eagerly (seconds for some fluoroscopy reports). This reader
walks the top level with ``struct`` and builds exactly the ``RawDataElement`` tuples
``dcmread`` builds (tag, VR, length, value, offset, encoding flags), so that everything
downstream, pydicom's own conversion included, sees the same dataset. Two deliberate
differences, neither read by extraction: the pixel data elements are left out (not
copied), and an undefined-length sequence stays encoded (its items' bytes, length
``0xFFFFFFFF``) instead of being parsed at once; pydicom converts it to the same items on
access.

Anything else (no preamble, deflate, a command group, an unknown VR, an undefined-length
value that is not a sequence, a truncated element...) returns ``None``, and the caller reads
the bytes with ``dcmread``.
"""

from __future__ import annotations

import io
import struct

import pydicom.uid
from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from medcoop.dicom.rawsr import VR_KIND, skip_sequence
from medcoop.dicom.values import shared_tag

__all__ = [
    "PIXEL_TAGS",
    "TruncatedFileError",
    "find_truncation",
    "new_dataset",
    "read_dataset",
    "read_part10",
    "read_sequence",
]


class TruncatedFileError(ValueError):
    """The file ends inside an element, item or sequence: part of the object is missing.

    pydicom keeps what it could read (a short value, a sequence with fewer items), which
    would count a report's first events as the whole study. ``reason`` names where the
    bytes end (tag and offset), never a value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

_UNDEFINED = 0xFFFFFFFF
#: (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float, (7FE0,0010) Pixel Data.
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_VR_TEXT = {vr: vr.decode() for vr in VR_KIND}
_EMPTY = {vr: empty_value_for_VR(vr, raw=True) for vr in (None, *_VR_TEXT.values())}
_SYNTAXES = {  # transfer syntax -> (implicit VR, little endian), as dcmread reads it
    pydicom.uid.ImplicitVRLittleEndian: (True, True),
    pydicom.uid.ExplicitVRLittleEndian: (False, True),
    pydicom.uid.ExplicitVRBigEndian: (False, False),
}
_META_HEADER = struct.Struct("<HH2sH").unpack_from
_U32_LE = struct.Struct("<I").unpack_from
_U32_BE = struct.Struct(">I").unpack_from
_ITEM_END = {True: b"\xfe\xff\x0d\xe0", False: b"\xff\xfe\xe0\x0d"}
_ITEM_HEADERS = {True: struct.Struct("<HHI").unpack_from, False: struct.Struct(">HHI").unpack_from}
_HEADERS = {  # (implicit, little) -> element header
    (True, True): struct.Struct("<HHI").unpack_from,
    (False, True): struct.Struct("<HH2sH").unpack_from,
    (False, False): struct.Struct(">HH2sH").unpack_from,
}
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
_MUTABLE = tuple(k for k, v in (_TEMPLATE or {}).items() if isinstance(v, dict | list | set))


def new_dataset(elements: dict[BaseTag, RawDataElement], encoding: str | list[str]) -> Dataset:
    """Return ``Dataset(elements, parent_encoding=encoding)``, the same object, faster."""
    if _TEMPLATE is None:
        return Dataset(elements, parent_encoding=encoding)
    ds = object.__new__(Dataset)
    attributes = ds.__dict__
    attributes.update(_TEMPLATE)
    for name in _MUTABLE:
        attributes[name] = _TEMPLATE[name].copy()  # type: ignore[attr-defined]
    attributes["_dict"] = elements
    attributes["_parent_encoding"] = encoding
    return ds


def _syntax(data: bytes) -> tuple[bool, bool, int] | None:
    """Return ``(implicit VR, little endian, offset of the dataset)`` from the File Meta."""
    size = len(data)
    if size < 132 or data[128:132] != b"DICM":
        return None
    pos = 132
    syntax: str | None = None
    while pos + 8 <= size:
        group, element, vr, length = _META_HEADER(data, pos)
        if group != 0x0002:
            break
        kind = VR_KIND.get(vr)
        if kind is None:
            return None  # an implicit VR File Meta: dcmread's retry handles it
        if kind:
            length = _U32_LE(data, pos + 8)[0] if pos + 12 <= size else _UNDEFINED
            pos += 12
        else:
            pos += 8
        if length == _UNDEFINED or pos + length > size:
            return None
        if element == 0x0010:
            syntax = data[pos : pos + length].decode("latin-1").rstrip("\0 ")
        pos += length
    if syntax is None:
        return None  # dcmread guesses the encoding from the first element
    if syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        return None
    if syntax in pydicom.uid.PrivateTransferSyntaxes:
        return None
    # as dcmread: any other syntax (JPEG and the like) encodes the dataset explicit VR LE
    implicit, little = _SYNTAXES.get(syntax, (False, True))
    return implicit, little, pos


def read_part10(data: bytes) -> Dataset | None:
    """Return the dataset of a Part 10 file as ``dcmread`` holds it, or ``None``.

    Parameters
    ----------
    data : bytes
        The whole file: preamble, ``DICM``, File Meta Information and dataset.

    Returns
    -------
    pydicom.dataset.Dataset or None
        Top-level elements but the pixel data, still encoded; ``None`` when this reader
        does not handle the file (read it with ``pydicom.dcmread(..., force=True)``).
    """
    syntax = _syntax(data)
    if syntax is None:
        return None
    implicit, little, pos = syntax
    size = len(data)
    if data[pos : pos + 2] == b"\0\0":
        return None  # a command group (0000,xxxx): dcmread reads it apart
    if pos + 6 <= size:
        # dcmread checks the first element's VR and follows what it finds, with a warning
        found_implicit = not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B)
        if found_implicit != implicit:
            return None
    found = _read_elements(data, pos, size, implicit, little, 0, top=True)
    return None if found is None else new_dataset(found[0], default_encoding)


def read_dataset(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """Return the dataset of a DICOM file: :func:`read_part10`'s where it applies, else pydicom's.

    The one place that chooses between the two readers. Files without a preamble (bare
    datasets) are read as ``dcmread(..., force=True)`` reads them; whatever pydicom raises on
    junk is raised.

    Raises
    ------
    TruncatedFileError
        If a Part 10 file ends inside an element, item or sequence (checked only where the
        fast reader declined the file, so a whole file costs nothing more).
    """
    try:
        ds = read_part10(data)
    except Exception:  # any doubt about the fast reader: let pydicom read (and fail) as it does
        ds = None
    if ds is not None:
        return ds
    reason = find_truncation(data)
    if reason is not None:
        raise TruncatedFileError(reason)
    return pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=stop_before_pixels)


def find_truncation(data: bytes) -> str | None:
    """Return where a Part 10 file's bytes end too early, or ``None`` if they do not.

    Walks every element, item and sequence (defined and undefined lengths) of a file with
    a preamble and an uncompressed, not deflated transfer syntax, checking that each
    length fits in its container and each undefined length finds its delimiter. Files it
    cannot walk (no preamble, deflated) give ``None``: pydicom reads them as before.
    """
    syntax = _syntax(data)
    if syntax is None:
        return None
    implicit, little, pos = syntax
    walker = _Walker(data, implicit, little)
    try:
        walker.elements(pos, len(data), 0)
    except _Truncated as exc:
        return str(exc)
    except (struct.error, RecursionError):
        return None  # not a layout this walker knows: no claim either way
    return None


class _Truncated(Exception):
    pass


class _Walker:
    """Lengths only, no values: where does each element, item and sequence end?"""

    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.header = _HEADERS[(implicit, little)]
        self.item_header = _ITEM_HEADERS[little]
        self.u32 = _U32_LE if little else _U32_BE
        self.little = little

    def elements(self, pos: int, end: int | None, depth: int) -> int:
        """Walk elements from ``pos`` to ``end`` (``None``: to an item delimiter)."""
        data, size = self.data, len(self.data)
        stop = size if end is None else end
        while pos < stop:
            if pos + 8 > size:
                raise _Truncated(f"the file ends inside an element header at offset {pos}")
            if self.implicit:
                group, element, length = self.header(data, pos)
                vr = None
                pos += 8
            else:
                group, element, raw_vr, length = self.header(data, pos)
                if group == 0xFFFE:
                    vr = None
                    length = self.u32(data, pos + 4)[0]
                    pos += 8
                else:
                    kind = VR_KIND.get(raw_vr)
                    if kind is None:
                        raise struct.error("unknown VR")
                    vr = raw_vr
                    if kind:
                        if pos + 12 > size:
                            raise _Truncated(f"the file ends inside ({group:04X},{element:04X})")
                        length = self.u32(data, pos + 8)[0]
                        pos += 12
                    else:
                        pos += 8
            tag = f"({group:04X},{element:04X})"
            if group == 0xFFFE and element == 0xE00D:
                if end is None:
                    return pos
                raise struct.error("an item delimiter in a defined-length item")
            if length == _UNDEFINED:
                is_sequence = vr in (b"SQ", b"UN") or (
                    vr is None and _is_sequence(data, pos, (group << 16) | element, None,
                                                True, self.little)
                ) or (group << 16 | element) in PIXEL_TAGS  # fmt: skip
                if not is_sequence:
                    raise struct.error("undefined length on a value")
                pos = self.items(pos, None, depth + 1, tag)
            else:
                if pos + length > stop:
                    raise _Truncated(
                        f"{tag} at offset {pos} declares {length} bytes; "
                        f"{stop - pos} remain in its container"
                    )
                if vr == b"SQ" and length:
                    self.items(pos, pos + length, depth + 1, tag)
                pos += length
        if end is None:
            raise _Truncated(f"the file ends before an item's delimiter (offset {pos})")
        return pos

    def items(self, pos: int, end: int | None, depth: int, tag: str) -> int:
        """Walk a sequence's items from ``pos`` (``end`` ``None``: to its delimiter)."""
        if depth > 64:
            raise RecursionError
        data, size = self.data, len(self.data)
        stop = size if end is None else end
        while pos < stop:
            if pos + 8 > size:
                raise _Truncated(f"the file ends inside sequence {tag}")
            group, element, length = self.item_header(data, pos)
            pos += 8
            if (group, element) == (0xFFFE, 0xE0DD):
                return pos
            if (group, element) != (0xFFFE, 0xE000):
                raise struct.error("expected an item")
            if length == _UNDEFINED:
                pos = self.elements(pos, None, depth)
            elif pos + length > stop:
                raise _Truncated(f"an item of {tag} runs past the end of its sequence")
            else:
                self.elements(pos, pos + length, depth)
                pos += length
        if end is None:
            raise _Truncated(f"the file ends before the delimiter of sequence {tag}")
        return pos


def _read_elements(
    data: bytes,
    pos: int,
    stop: int | None,
    implicit: bool,
    little: bool,
    offset: int,
    top: bool = False,
) -> tuple[dict[BaseTag, RawDataElement], int] | None:
    """Return the raw elements from ``pos`` to ``stop`` (``None``: the item delimiter).

    ``offset`` is where ``data`` starts in the file (value offsets are the file's, as
    dcmread's); ``top`` reads a file's top level, which ends at the pixel data.
    """
    header = _HEADERS[(implicit, little)]
    u32 = _U32_LE if little else _U32_BE
    size = len(data)
    end = size if stop is None else stop
    elements: dict[BaseTag, RawDataElement] = {}
    try:
        while pos < end:
            if pos + 8 > size:
                return None  # a truncated header
            if implicit:
                group, element, length = header(data, pos)
                vr_text = None
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
                if length == _UNDEFINED:  # encapsulated: fragments, then a delimiter
                    after = skip_sequence(data, pos, implicit, little)
                    if after is None:
                        return None
                    pos = after
                elif pos + length > end:
                    return None
                else:
                    pos += length
                continue
            if length == _UNDEFINED:
                if not _is_sequence(data, pos, tag, vr_text, implicit, little):
                    return None
                after = skip_sequence(data, pos, implicit, little)
                if after is None:
                    return None
                value: bytes | None = data[pos : after - 8]
                next_pos = after
            else:
                next_pos = pos + length
                if next_pos > end:
                    return None  # truncated: dcmread keeps a short value
                value = data[pos:next_pos] if length else _EMPTY[vr_text]
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
    item_header = _ITEM_HEADERS[little]
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
            stop = None if length == _UNDEFINED else pos + length
            if stop is not None and stop > size:
                return None
            opened = pos < size and (stop is None or pos < stop)
            opened = opened and not implicit and data[pos : pos + 4] != _ITEM_END[little]
            # pydicom reads an item whose first element has no valid VR as implicit VR
            if opened and not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B):
                return None
            found = _read_elements(data, pos, stop, implicit, little, elem.value_tell + pos)
            if found is None:
                return None
            items.append(new_dataset(found[0], encoding))
            pos = found[1] if stop is None else stop
    except (struct.error, IndexError):
        return None
    return items


def _is_sequence(
    data: bytes, pos: int, tag: int, vr: str | None, implicit: bool, little: bool
) -> bool:
    """Return whether an undefined-length element is a sequence, as dcmread decides."""
    if not implicit:
        return vr == "SQ"  # UN: dcmread reads it as an implicit VR sequence
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:  # private: a sequence if an item follows
        item = struct.unpack_from("<HH" if little else ">HH", data, pos)
        return item == (0xFFFE, 0xE000)
