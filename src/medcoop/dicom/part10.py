"""A Part 10 file's bytes to a pydicom Dataset of still-encoded elements, without ``dcmread``.

Built on :mod:`medcoop.dicom.reader` (the byte-level rules: headers, items, the File
Meta); this module decides which files it takes and which it leaves to ``dcmread``, and
finds where a truncated file ends.

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
from pydicom.dataset import Dataset

from medcoop.dicom.reader import (
    ELEMENT_HEADERS,
    ITEM_HEADERS,
    PIXEL_TAGS,
    UINT32,
    UNDEFINED_LENGTH,
    VR_KIND,
    is_sequence,
    new_dataset,
    read_elements,
    read_file_meta,
)

__all__ = [
    "TruncatedFileError",
    "find_truncation",
    "read_dataset",
    "read_part10",
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


#: Transfer syntax -> (implicit VR, little endian), as dcmread reads it.
_SYNTAXES: dict[str, tuple[bool, bool]] = {
    pydicom.uid.ImplicitVRLittleEndian: (True, True),
    pydicom.uid.ExplicitVRLittleEndian: (False, True),
    pydicom.uid.ExplicitVRBigEndian: (False, False),
}


def _syntax(data: bytes) -> tuple[bool, bool, int] | None:
    """Return ``(implicit VR, little endian, offset of the dataset)`` from the File Meta."""
    meta = read_file_meta(data)
    if meta is None:
        return None  # no preamble, or a File Meta dcmread's retry reads (implicit VR...)
    syntax = meta.transfer_syntax
    if syntax is None:
        return None  # dcmread guesses the encoding from the first element
    if syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        return None
    if syntax in pydicom.uid.PrivateTransferSyntaxes:
        return None
    # as dcmread: any other syntax (JPEG and the like) encodes the dataset explicit VR LE
    implicit, little = _SYNTAXES.get(syntax, (False, True))
    return implicit, little, meta.end


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
    found = read_elements(data, pos, size, implicit, little, 0, top=True)
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
        self.header = ELEMENT_HEADERS[(implicit, little)]
        self.item_header = ITEM_HEADERS[little]
        self.u32 = UINT32[little]
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
            if length == UNDEFINED_LENGTH:
                tag_int = (group << 16) | element
                sequence = (
                    vr in (b"SQ", b"UN")
                    or (vr is None and is_sequence(data, pos, tag_int, None, self.little))
                    or tag_int in PIXEL_TAGS
                )
                if not sequence:
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
            if length == UNDEFINED_LENGTH:
                pos = self.elements(pos, None, depth)
            elif pos + length > stop:
                raise _Truncated(f"an item of {tag} runs past the end of its sequence")
            else:
                self.elements(pos, pos + length, depth)
                pos += length
        if end is None:
            raise _Truncated(f"the file ends before the delimiter of sequence {tag}")
        return pos
