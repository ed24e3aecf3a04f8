"""Lenient readers for DICOM value representations (DA, TM, DT, AS, DS, PN) and header fields.

Devices write every VR loosely, so each reader returns ``None`` for a value it cannot read
instead of raising: a bad date must not cost the dose values beside it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from medcoop.dicom.reader import read_sequence, shared_tag

__all__ = [
    "first_float",
    "get_value",
    "parse_age_years",
    "parse_da",
    "parse_dt",
    "parse_tm",
    "text_or_none",
]


#: Python codecs for single-byte and UTF-8 Specific Character Sets (no ISO 2022 extensions).
ENCODINGS = {
    "": "latin-1",
    "ISO_IR 6": "latin-1",
    "ISO_IR 100": "latin-1",
    "ISO_IR 101": "iso8859_2",
    "ISO_IR 109": "iso8859_3",
    "ISO_IR 110": "iso8859_4",
    "ISO_IR 144": "iso8859_5",
    "ISO_IR 127": "iso8859_6",
    "ISO_IR 126": "iso8859_7",
    "ISO_IR 138": "iso8859_8",
    "ISO_IR 148": "iso8859_9",
    "ISO_IR 166": "tis_620",
    "ISO_IR 192": "utf-8",
    "GB18030": "gb18030",
    "GBK": "gbk",
}
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_CHARSET_VRS = frozenset({"LO", "PN", "SH"})
_SINGLE_VALUED_TEXT = frozenset({"LT", "ST", "UT", "UC"})
_CHARSET_TAG = 0x00080005


_ENCODING_BY_RAW: dict[bytes, str | None] = {}
_PARENT_BY_RAW: dict[tuple[bytes | None, str | None], str | list[str]] = {}


def dataset_encoding(ds: Dataset) -> str | None:
    """Return the Python codec of ``ds``'s Specific Character Set, ``None`` for ISO 2022."""
    elem = ds._dict.get(shared_tag(_CHARSET_TAG))
    if elem is None:
        return "latin-1"
    value = elem.value
    if isinstance(value, bytes):
        # read for every text element: the few values met are remembered
        if value in _ENCODING_BY_RAW:
            return _ENCODING_BY_RAW[value]
        encoding = _encoding_of(value.decode("latin-1"))
        if len(_ENCODING_BY_RAW) < 256:
            _ENCODING_BY_RAW[value] = encoding
        return encoding
    return _encoding_of(value)


def character_set(ds: Dataset) -> str | list[str]:
    """Return ``ds._character_set`` (pydicom's codecs for its text) without converting.

    pydicom converts (0008,0005) to answer, ~40 µs; the answer depends only on the
    encoded value, so it is remembered by value.
    """
    elem = ds._dict.get(shared_tag(_CHARSET_TAG))
    if elem is None:
        return ds._parent_encoding
    if not isinstance(elem, RawDataElement) or not isinstance(elem.value, bytes | None):
        return ds._character_set
    key = (elem.value, elem.VR)
    found = _PARENT_BY_RAW.get(key)
    if found is None:
        probe = Dataset({elem.tag: elem})
        found = probe._character_set
        if len(_PARENT_BY_RAW) < 256:
            _PARENT_BY_RAW[key] = found
    return list(found) if isinstance(found, list) else found


def _encoding_of(value: Any) -> str | None:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("\\") if p.strip()]
    else:
        parts = [str(p).strip() for p in value if p and str(p).strip()]
    if len(parts) > 1:
        return None
    return ENCODINGS.get(parts[0] if parts else "")


def get_value(ds: Dataset, tag: int) -> Any:
    """Return the value of ``tag`` in ``ds``, or ``None`` when absent or unreadable.

    Text elements still encoded are decoded here directly (pydicom's generic conversion
    costs ~20 µs an element, most of an extraction's time); multi-valued text comes back
    as a list of strings, person names as ``str``; a still-encoded sequence comes back as
    a list of Datasets read by :func:`medcoop.dicom.reader.read_sequence` (the items
    pydicom would build, without converting the whole sequence). Anything else goes
    through pydicom.
    """
    elem = ds._dict.get(shared_tag(tag))
    if elem is None:
        return None
    raw = getattr(elem, "value", None)
    if isinstance(raw, bytes) and isinstance(elem, RawDataElement):
        vr = elem.VR
        if vr is None:  # implicit VR: the dictionary's, as pydicom's conversion takes it
            vr = _dictionary_vr(tag)
        encoding = None
        if vr in _ASCII_VRS:
            encoding = "latin-1"
        elif vr in _CHARSET_VRS or vr in _SINGLE_VALUED_TEXT:
            encoding = dataset_encoding(ds)
        if encoding is not None:
            text = raw.decode(encoding, "replace").rstrip(" \x00")
            if vr in _SINGLE_VALUED_TEXT:
                return text
            if "\\" in text:
                return [part.strip() for part in text.split("\\")]
            return text.strip()
        if vr == "SQ":
            try:
                items = read_sequence(elem, character_set(ds))
            except Exception:  # a corrupt charset: pydicom decides below
                items = None
            if items is not None:
                return items
    try:
        return ds[tag].value
    except Exception:  # a corrupt element must not cost its neighbours
        return None


_VR_BY_TAG: dict[int, str | None] = {}


def _dictionary_vr(tag: int) -> str | None:
    """Return the dictionary VR of a standard tag (``None`` for private or ambiguous)."""
    if tag in _VR_BY_TAG:
        return _VR_BY_TAG[tag]
    try:
        vr: str | None = dictionary_VR(tag)
    except KeyError:
        vr = None
    if vr is not None and " " in vr:  # "US or SS": pydicom resolves it from the dataset
        vr = None
    if len(_VR_BY_TAG) < 4096:  # bounded: junk tags must not grow it forever
        _VR_BY_TAG[tag] = vr
    return vr


def text_or_none(value: Any) -> str | None:
    """Return ``value`` as a stripped string, ``None`` when empty or absent."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    elif not isinstance(value, str):
        if isinstance(value, list | tuple | MultiValue):  # keep the first
            if not value:
                return None
            value = value[0]
        value = str(value)
    value = value.strip().strip("\x00").strip()
    return value or None


def first_float(value: Any) -> float | None:
    """Return the first number in a DS/IS/FD value (which may be multi-valued), or ``None``."""
    if value is None:
        return None
    if isinstance(value, list | tuple | MultiValue):
        if not value:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def parse_da(value: Any) -> date | None:
    """Parse a DICOM DA (``YYYYMMDD``, or ``YYYY.MM.DD`` from old devices)."""
    text = text_or_none(value)
    if text is None:
        return None
    text = text.replace(".", "").replace("-", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _time_parts(text: str) -> tuple[int, int, int, int] | None:
    text = text.replace(":", "")
    frac = 0
    if "." in text:
        text, frac_text = text.split(".", 1)
        frac_text = (frac_text + "000000")[:6]
        if not frac_text.isdigit():
            return None
        frac = int(frac_text)
    if not text.isdigit() or len(text) not in (2, 4, 6):
        return None
    hour = int(text[:2])
    minute = int(text[2:4]) if len(text) >= 4 else 0
    second = int(text[4:6]) if len(text) >= 6 else 0
    if hour > 23 or minute > 59 or second > 60:
        return None
    return hour, minute, min(second, 59), frac


def parse_tm(value: Any) -> tuple[int, int, int, int] | None:
    """Parse a DICOM TM into ``(hour, minute, second, microsecond)``."""
    text = text_or_none(value)
    return None if text is None else _time_parts(text)


def combine(day: date | None, time: tuple[int, int, int, int] | None) -> datetime | None:
    """Return a naive datetime from a date and an optional TM tuple."""
    if day is None:
        return None
    if time is None:
        return datetime(day.year, day.month, day.day)
    return datetime(day.year, day.month, day.day, *time)


def parse_dt(value: Any) -> datetime | None:
    """Parse a DICOM DT (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) into a naive local datetime."""
    text = text_or_none(value)
    if text is None:
        return None
    for sign in ("+", "-"):
        cut = text.find(sign, 8)
        if cut > 0:
            text = text[:cut]
    day = parse_da(text[:8])
    if day is None:
        return None
    rest = text[8:]
    if not rest:
        return combine(day, None)
    return combine(day, _time_parts(rest))


def parse_age_years(value: Any) -> float | None:
    """Parse a DICOM AS (``049Y``, ``006M``, ``010W``, ``005D``) into years."""
    text = text_or_none(value)
    if text is None or len(text) < 2:
        return None
    number, unit = text[:-1], text[-1].upper()
    if not number.isdigit():
        try:  # some devices write a bare number of years
            return float(text)
        except ValueError:
            return None
    per_year = {"Y": 1.0, "M": 12.0, "W": 365.25 / 7.0, "D": 365.25}.get(unit)
    if per_year is None:
        return None
    return int(number) / per_year


def parse_offset_min(value: Any) -> int | None:
    """Parse TimezoneOffsetFromUTC (``+0100``) into minutes east of UTC."""
    text = text_or_none(value)
    if text is None or len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return -minutes if text[0] == "-" else minutes
