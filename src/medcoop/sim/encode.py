"""A fast Part 10 encoder for the fleet's own datasets (Explicit VR Little Endian).

pydicom's writer is general (any transfer syntax, ambiguous VRs, deferred values) and
spends about 35 ms on one of our dose reports; this encoder handles only what the fleet
builds, in the same layout pydicom writes (sorted tags, defined-length sequences and
items, the same padding), so its output is byte-identical to ``dcmwrite``'s — the tests
hold it to that. Anything it does not know raises :class:`UnsupportedElementError`, and
:func:`medcoop.sim.files.write_study` then falls back to pydicom.
"""

from __future__ import annotations

from collections.abc import Iterable
from struct import Struct
from typing import Any

from pydicom.dataset import Dataset

__all__ = ["UnsupportedElementError", "encode_part10"]

_TEXT_VRS = frozenset({"SH", "LO", "ST", "PN", "LT", "UC", "UT"})  # follow the charset
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "UR", "DS", "IS"})
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"})
_BINARY = {
    "US": Struct("<H"),
    "SS": Struct("<h"),
    "UL": Struct("<I"),
    "SL": Struct("<i"),
    "FD": Struct("<d"),
    "FL": Struct("<f"),
}
_SHORT_HEADER = Struct("<HH2sH")
_LONG_HEADER = Struct("<HH2s2xI")
_ITEM = Struct("<HHI")
_CODECS = {"ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8", "": "ascii"}


class UnsupportedElementError(ValueError):
    """An element this encoder does not handle (the caller falls back to pydicom)."""


def encode_part10(ds: Dataset) -> bytes:
    """Return ``ds`` as a Part 10 file: preamble, ``DICM``, File Meta, Explicit VR LE data.

    Raises
    ------
    UnsupportedElementError
        For a transfer syntax, VR, value type or character set the fleet never writes.
    """
    meta = ds.file_meta
    if meta.get("TransferSyntaxUID") != "1.2.840.10008.1.2.1":
        raise UnsupportedElementError("only Explicit VR Little Endian is encoded")
    meta_body = _encode_dataset((e for e in meta if e.tag != 0x00020000), "ascii")
    group_length = _element(0x00020000, "UL", len(meta_body), "ascii")
    charset = ds.get("SpecificCharacterSet", "") or ""
    codec = _CODECS.get(charset)
    if codec is None:
        raise UnsupportedElementError(f"character set {charset!r}")
    data = _encode_dataset(ds, codec)
    return b"".join((bytes(128), b"DICM", group_length, meta_body, data))


def _encode_dataset(elements: Iterable[Any], codec: str) -> bytes:
    parts = []
    for element in sorted(elements, key=lambda e: e.tag):
        parts.append(_element(element.tag, element.VR, element.value, codec))
    return b"".join(parts)


def _element(tag: int, vr: str, value: Any, codec: str) -> bytes:
    if vr == "SQ":
        body = b"".join(_item(item, codec) for item in value)
    else:
        body = _value(vr, value, codec)
    group, number = tag >> 16, tag & 0xFFFF
    if vr in _LONG_VRS:
        return _LONG_HEADER.pack(group, number, vr.encode(), len(body)) + body
    if len(body) > 0xFFFF:
        raise UnsupportedElementError(f"{vr} value of {len(body)} bytes")
    return _SHORT_HEADER.pack(group, number, vr.encode(), len(body)) + body


def _item(item: Dataset, codec: str) -> bytes:
    body = _encode_dataset(item, codec)
    return _ITEM.pack(0xFFFE, 0xE000, len(body)) + body


def _value(vr: str, value: Any, codec: str) -> bytes:
    if value is None or value == "":
        return b""
    if vr in _BINARY:
        packer = _BINARY[vr]
        if isinstance(value, list | tuple) or hasattr(value, "_list"):
            return b"".join(packer.pack(v) for v in value)
        return packer.pack(value)
    if vr in {"OB", "OW"}:
        if not isinstance(value, bytes):
            raise UnsupportedElementError(f"{vr} value of type {type(value).__name__}")
        return value + b"\x00" if len(value) % 2 else value
    if vr in _TEXT_VRS:
        raw = _text(value).encode(codec)
    elif vr in _ASCII_VRS:
        raw = _text(value).encode("ascii")
    else:
        raise UnsupportedElementError(f"VR {vr}")
    if len(raw) % 2:
        raw += b"\x00" if vr == "UI" else b" "
    return raw


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "_list") or isinstance(value, list | tuple):
        return "\\".join(_text(v) for v in value)
    return str(value)
