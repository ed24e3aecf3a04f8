"""Residual-identifier scan: the last gate before a de-identified object may leave.

This module owns three things the edge relies on:

* :func:`identifying_values` collects every identifying string of an *input* dataset
  (patient names and IDs, birth date, accession and request numbers, addresses,
  telephone numbers, institution names, every person name at any depth).
* :func:`verify_no_residuals` scans an *output* (a dataset or its encoded bytes) for any
  of those values, in the forms they take in the wild: each person-name component and
  common reorderings, birth dates in several notations, case-insensitively, in text
  values, in private and nested elements and in raw binary values encoded in the
  dataset's character set, UTF-8, Latin-1 or UTF-16. A hit names *where* (a tag path),
  never the value. Bytes are walked as the engine's reader parses them
  (:func:`verify_elements`, the engine's gate); a pydicom dataset is walked as pydicom
  converts it (:func:`verify_encoded`), and tests hold both walks to the same hits.
* :func:`clean_text` removes identifying values and identifier-shaped text (dates, long
  digit runs, e-mail addresses, titled names) from free text such as protocol names.

Strings shorter than :data:`MIN_VALUE_CHARS` are not scanned: a one- or two-letter name
component or ID would match nearly every object.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property, lru_cache
from io import BytesIO
from typing import Literal

from pydicom import Dataset, dcmread
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from medcoop.deid.elements import (
    DEFAULT_ENCODINGS,
    Elem,
    charset_codecs,
    decode_texts,
    from_dataset,
    item_encodings,
    parse_part10,
)
from medcoop.deid.patterns import scrub, strict_hits
from medcoop.deid.table import load_rows
from medcoop.dicom.identifying import INSTITUTION_TAGS, PATIENT_IDENTIFYING_TAGS
from medcoop.dicom.reader import PIXEL_TAGS, has_preamble

__all__ = [
    "DUMMY_TEXT",
    "MIN_BINARY_VALUE_CHARS",
    "MIN_VALUE_CHARS",
    "ResidualHit",
    "TextScanner",
    "clean_text",
    "clean_with",
    "clear_caches",
    "collect_values",
    "expand_values",
    "fold",
    "identifying_values",
    "tag_path",
    "text_kind",
    "text_scanner",
    "verify_elements",
    "verify_encoded",
    "verify_no_residuals",
]

#: The dummy text the engine writes; never treated as an identifying value.
DUMMY_TEXT = "ANONYMOUS"
#: Shortest value scanned for in text values.
MIN_VALUE_CHARS = 3
#: Shortest value scanned for in binary values (OB/OW/UN): shorter ones hit by chance.
MIN_BINARY_VALUE_CHARS = 4

# The one list of identifying attributes (derived from Table E.1-1 in dicom/identity).
_IDENTIFYING_TAGS = frozenset(PATIENT_IDENTIFYING_TAGS)
_INSTITUTION_TAGS = frozenset(INSTITUTION_TAGS)

#: VRs that can hold a name, an ID or a date as people write them. Ages, numbers, times
#: and UIDs are never scanned; code strings are, for whole words only (a name typed into
#: Body Part Examined is caught, ``ono`` inside ``MONOCHROME2`` is not).
_TEXT_VRS = frozenset({"AE", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: Free text the engine always cleans: what the value-independent check applies to.
_FREE_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
#: Code identifiers (Code Value, Coding Scheme Designator and Version, Long and URN Code
#: Value, Context Identifier, Mapping Resource) and the engine's own marking attributes.
CODE_TAGS = frozenset(
    {0x00080100, 0x00080102, 0x00080103, 0x00080119, 0x00080120, 0x0008010F, 0x00080105}
)
_MARK_TAGS = frozenset({0x00120062, 0x00120063, 0x00120064})
#: Content items whose date the engine removes when it is the birth date.
_CONTENT_DATE_TAGS = frozenset({0x0040A121})
_STRICT_BYTES = re.compile(  # (hex pseudonyms and UIDs hold digit runs: not beside \w or .)
    rb"[\w.+-]@[\w-]+\.[A-Za-z]|(?<![\w.])\d{6}[-+A-FU-Y]\d{3}[0-9A-Y](?!\w)"
    rb"|(?<![\w.])\d{4}\.?\d{2}\.?\d{3}(?![\w]|\.\d)"
    rb"|(?<![\w.])(?:19|20)?\d{6}[-+]?\d{4}(?![\w]|\.\d)"
)
_BINARY_VRS = frozenset({"OB", "OW", "UN", "OB or OW", "US or OW"})
_CJK_CODECS = ("shift_jis", "euc_jp", "iso2022_jp", "gb18030", "euc_kr", "big5")

NeedleKind = Literal["name", "date", "identifier", "national ID", "e-mail"]


@dataclass(frozen=True, slots=True)
class ResidualHit:
    """An identifying value found in an output: where it is and what kind, never the value.

    Attributes
    ----------
    path : str
        Tag path such as ``(0040,A730)[2]>(0040,A160)``, ``<preamble>`` or
        ``<bytes @1234>`` for bytes that could not be parsed as DICOM.
    kind : str
        ``"name"``, ``"date"`` or ``"identifier"``.
    """

    path: str
    kind: NeedleKind


def tag_path(parents: tuple[tuple[int, int], ...], tag: int) -> str:
    """Return the printable path of ``tag`` below ``parents`` (``(tag, item index)`` pairs)."""
    parts = [f"{_fmt_tag(parent)}[{index}]" for parent, index in parents]
    parts.append(_fmt_tag(tag))
    return ">".join(parts)


def _fmt_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


# --- collecting -------------------------------------------------------------------------


def identifying_values(ds: Dataset, *, include_institution: bool = True) -> set[str]:
    """Return every identifying string of the input dataset ``ds``.

    Parameters
    ----------
    ds : pydicom.Dataset
        The original, identified object (walked at every sequence depth, file meta
        excluded).
    include_institution : bool, optional
        Collect institution name, address and department (leave out when the profile
        retains institution identity).

    Returns
    -------
    set[str]
        Raw values (``DOE^JOHN``, ``19700101``...) and every person-name component; values
        shorter than :data:`MIN_VALUE_CHARS` are left out.

    Raises
    ------
    ValueError
        When an element cannot be encoded (a value its VR cannot hold).
    """
    implicit, little = ds.original_encoding
    elems = from_dataset(ds, implicit=bool(implicit), little=little is not False)
    encodings = item_encodings(elems, DEFAULT_ENCODINGS)
    return collect_values(elems, encodings, include_institution=include_institution)


def collect_values(
    elems: list[Elem], encodings: tuple[str, ...], *, include_institution: bool = True
) -> set[str]:
    """:func:`identifying_values` of a dataset's encoded elements (the engine's input)."""
    wanted = _INSTITUTION_TAGS | _IDENTIFYING_TAGS if include_institution else _IDENTIFYING_TAGS
    found: set[str] = set()
    _collect(elems, wanted, found, encodings)
    return {v for v in found if _scannable(v)}


def _collect(
    elems: list[Elem], wanted: frozenset[int], found: set[str], parent: tuple[str, ...]
) -> None:
    # Only the few elements collected are decoded.
    encodings = item_encodings(elems, parent)
    for elem in elems:
        if elem.items is not None:
            for item in elem.items:
                _collect(item, wanted, found, encodings)
        elif elem.vr == "PN" or elem.tag in wanted:
            for value in decode_texts(elem.value, elem.vr, encodings):
                if value:
                    found.update(_raw_forms(value, is_name=elem.vr == "PN"))


def _as_strings(value: object) -> list[str]:
    if value is None or isinstance(value, bytes | bytearray):
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value)
    return [text] if text else []


def _raw_forms(value: str, *, is_name: bool) -> set[str]:
    value = value.strip().strip("\x00").strip()
    forms = {value}
    if is_name or "^" in value:
        for group in value.split("="):
            components = [c.strip() for c in group.split("^")]
            forms.add(group.rstrip("^"))
            forms.update(c for c in components if c)
    return forms


#: Placeholders sites type when there is no name: they identify no one, and scanning for
#: them would withhold every object that mentions "unknown".
PLACEHOLDERS = frozenset(
    {
        DUMMY_TEXT,
        "ANON",
        "ANONYMIZED",
        "ANONYMISED",
        "UNKNOWN",
        "NONE",
        "NULL",
        "N/A",
        "PATIENT",
        "UNNAMED",
        "REMOVED",
        "PHANTOM",
    }
)


def _scannable(value: str, kind: str = "identifier") -> bool:
    core = value.strip()
    if core.upper() in PLACEHOLDERS:
        return False
    if len(core) < MIN_VALUE_CHARS:
        # A CJK or Hangul syllable is a word: two-character names (山田, 민준) are common;
        # so are two-letter names (Li, Wu, Ng), matched as whole words only.
        if len(core) != 2:
            return False
        return all(_is_cjk(ch) for ch in core) or (kind == "name" and core.isalpha())
    # Short pure numbers (series 1, study 42) are counters, not identifiers.
    return not (core.isdigit() and len(core) < 4)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF
        or 0x3400 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    )


# --- folding: case, diacritics, transliteration ----------------------------------------

#: Letters that do not decompose into a base letter and a mark.
_STRIP = {"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ł": "l", "ı": "i", "þ": "th"}
_STRIP.update({"ð": "d", "ŀ": "l", "ħ": "h"})
#: The transliterations people type for letters their keyboard lacks (Müller → MUELLER,
#: Itō → ITOU, Åsa → AASA).
_EXPAND = {"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "ø": "oe", "ō": "ou", "ū": "uu"}
_CONTRACT = (("ae", "a"), ("oe", "o"), ("ue", "u"), ("aa", "a"), ("ou", "o"), ("uu", "u"))


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    low = char.casefold()
    if char.isascii():
        return low
    if 0xFF01 <= ord(char) <= 0xFF5E:  # full-width ASCII (ＹＡＭＡＤＡ)
        return unicodedata.normalize("NFKC", char).casefold()
    if ord(char) >= 0x2000:  # CJK, kana and Hangul are compared as they are
        return low
    out = []
    for part in low:
        if part in _STRIP:
            out.append(_STRIP[part])
            continue
        decomposed = unicodedata.normalize("NFKD", part)
        out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(out)


def fold(text: str) -> str:
    """Return ``text`` case-folded without diacritics (``Núñez`` → ``nunez``, ``ß`` → ``ss``)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


def _fold_mapped(text: str) -> tuple[str, list[int]]:
    # The folded text and, for each of its characters, where it came from in ``text``.
    out: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        out.append(folded)
        where.extend([index] * len(folded))
    return "".join(out), where


def _variants(form: str) -> set[str]:
    """The folded spellings of one form: as folded, transliterated, contracted."""
    low = form.casefold()
    found = {fold(form)}
    if not low.isascii():
        expanded = "".join(_EXPAND.get(ch, ch) for ch in low)
        found.add(fold(expanded))
        if "ō" in low:
            found.add(fold(low.replace("ō", "oh")))
    elif not any(ch.isdigit() for ch in low):
        for long, short in _CONTRACT:
            if long in low:
                found.add(low.replace(long, short))
    return found


# --- expanding into the forms values take in outputs -----------------------------------


def expand_values(values: Iterable[str]) -> dict[str, NeedleKind]:
    """Return the forms to look for, each with its kind.

    Person names (``^``-separated) give their components and the orderings people type
    (``JOHN DOE``, ``DOE, JOHN``, ``DOE JOHN``; CJK names also without a space); eight-digit
    dates give ISO, US, European and dotted forms; every form is folded (case, diacritics)
    and transliterated (``MÜLLER`` gives ``muller`` and ``mueller``, ``MUELLER`` gives
    ``muller``), and is also kept as written, case-folded (for the byte search).
    """
    needles: dict[str, NeedleKind] = {}
    for raw in values:
        for form, kind in _forms_of(raw):
            if needles.setdefault(form, kind) == "identifier" and kind == "name":
                needles[form] = kind
    return needles


@lru_cache(maxsize=8192)
def _forms_of(raw: str) -> tuple[tuple[str, NeedleKind], ...]:
    # Cached per value: a patient's names and IDs recur in each of their objects.
    value = raw.strip().strip("\x00").strip()
    if not value:
        return ()
    if "^" in value:
        return _normalised(_name_forms(value), "name")
    dates = _date_forms(value)
    if dates:
        return _normalised(dates, "date")
    return _normalised({value}, "identifier")


def _normalised(forms: set[str], kind: NeedleKind) -> tuple[tuple[str, NeedleKind], ...]:
    normal: set[str] = set()
    for form in forms:
        spaced = " ".join(form.split())
        if _scannable(spaced, kind):
            normal.add(spaced.casefold())
            normal.update(v for v in _variants(spaced) if _scannable(v, kind))
    return tuple((form, kind) for form in sorted(normal))


def _name_forms(value: str) -> set[str]:
    forms: set[str] = set()
    for group in value.split("="):
        parts = [c.strip() for c in group.split("^")]
        parts += [""] * (5 - len(parts))
        family, given, middle = parts[0], parts[1], parts[2]
        forms.add(group.rstrip("^"))
        forms.update(p for p in parts if p)
        # Each word of a compound name (NUNEZ DEL RIO: Núñez alone), particles aside.
        forms.update(
            word for p in parts for word in p.split() if word.casefold() not in _PARTICLES
        )
        if family and given:
            forms |= {f"{given} {family}", f"{family} {given}", f"{family}, {given}"}
            forms.add(f"{family},{given}")
            if any(_is_cjk(ch) for ch in family + given):  # written without a space
                forms |= {f"{family}{given}", f"{given}{family}"}
            if middle:
                forms |= {f"{given} {middle} {family}", f"{family}, {given} {middle}"}
    return forms


#: Name particles: not names by themselves.
_PARTICLES = frozenset(
    {"de", "del", "la", "las", "los", "van", "von", "der", "den", "da", "di", "le", "du"}
    | {"dos", "das", "ten", "ter", "y", "e", "bin", "binti", "al", "el", "mc", "st", "san"}
)


def _date_forms(value: str) -> set[str]:
    if not (len(value) == 8 and value.isdigit()):
        return set()
    try:
        day = date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return set()
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    forms = {value, f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{y}.{m}.{d}"}
    forms |= {f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}", f"{d}-{m}-{y}", f"{m}-{d}-{y}"}
    forms |= {f"{day.day}/{day.month}/{y}", f"{day.month}/{day.day}/{y}"}
    return forms


# --- scanning ---------------------------------------------------------------------------


#: Words of forms for the byte prefilter: letter words, and digit words with their UTF-16.
_Words = tuple[tuple[bytes, ...], tuple[tuple[bytes, bytes, bytes], ...]]


class _Scanner:
    """The forms of one object's identifying values, with cheap and precise matchers.

    ``maybe_in_bytes`` is a substring test over lower-cased words: a superset of what
    the regular expressions match, so a miss there is final and the expressions (costly
    to compile for each patient) are built only on a hit. The byte test runs on the data
    with its NUL bytes taken out, and so do its words: a UTF-16 word is then its
    single-byte form, found by the same search as the others.
    """

    def __init__(self, kinds: dict[str, NeedleKind], codecs: list[str]) -> None:
        self.kinds = kinds
        self.ordered = sorted(kinds, key=len, reverse=True)
        self.codecs = codecs
        words: set[str] = set()
        # Per form: its words the fast test looks for, and its shorter words (lower-cased).
        self._index: list[tuple[str, frozenset[str], tuple[str, ...]]] = []
        for needle in self.ordered:
            fast_words, long_words, short_words = _needle_words(needle)
            words.update(fast_words)
            self._index.append((needle, long_words, short_words))
        self.fast_text = tuple(sorted({w.lower() for w in words}))
        self._cleaned: dict[str, str | None] = {}
        fast: set[bytes] = set()
        codec_key = tuple(codecs)
        for word in words:
            fast.update(_word_bytes(word, codec_key))
        # Words of digits alone are tested with their digit boundaries (below): a phone
        # number's "2542" is in one remapped UID in ten, and each such object would be
        # walked. GB18030 writes some letters with digit bytes, so there it is not done.
        digits = {w for w in fast if w.isdigit()} if "gb18030" not in codecs else set()
        self._letter_words = tuple(sorted(fast - digits))
        self._digit_words = tuple(
            (w, w.decode("ascii").encode("utf_16_le"), w.decode("ascii").encode("utf_16_be"))
            for w in sorted(digits)
        )

    def maybe_in_bytes(self, data: bytes, words: _Words | None = None) -> bool:
        """Return whether ``data`` may hold a form (``False`` is final).

        ``words``: only these of the forms' words (:meth:`words_in` of bytes that hold
        ``data``), to test many parts of one output cheaply.
        """
        letter_words, digit_words = words or (self._letter_words, self._digit_words)
        # Removing NULs keeps every occurrence of a NUL-free word (and joins UTF-16).
        low = data.replace(b"\x00", b"").lower()
        if any(word in low for word in letter_words):
            return True
        # Every form holding a word of digits has it between whitespace or its own ends,
        # and every expression refuses a digit next to a form: only an occurrence with no
        # digit byte on either side can be part of a match. In UTF-16 the bytes around are
        # NULs, so any occurrence there counts.
        return any(
            word in low and (_bounded(data, word) or le in data or be in data)
            for word, le, be in digit_words
        )

    def words_in(self, data: bytes) -> _Words:
        """Return the forms' words that occur in ``data`` (NULs out, lower-cased): a part
        of ``data`` can hold no other."""
        low = data.replace(b"\x00", b"").lower()
        return (
            tuple(word for word in self._letter_words if word in low),
            tuple(entry for entry in self._digit_words if entry[0] in low),
        )

    def text_pattern(self, text: str) -> re.Pattern[str] | None:
        """Return an expression for the forms whose every word occurs in ``text``, if any.

        Compiling only the few candidate forms (cached by form set) costs far less than
        one expression of every form for each new patient.
        """
        candidates = self.candidates(text)
        return _text_pattern(candidates) if candidates else None

    def candidates(self, text: str) -> tuple[str, ...]:
        """Return the forms whose every word occurs in ``text`` (longest first).

        ``text`` is folded (:func:`fold`); digits grouped by separators count as joined
        (``208-6828`` holds the word ``2086828``), as the expressions match them.
        """
        low = fold(text)  # idempotent: folded text may be passed again
        if _GROUPED_DIGITS.search(low):
            low = low + " " + _GROUPED_DIGITS.sub(_join_digits, low)
        present = {word for word in self.fast_text if word in low}
        if not present:
            return ()
        return tuple(
            needle
            for needle, long_words, short_words in self._index
            if long_words <= present and all(w in low for w in short_words)
        )

    @cached_property
    def binary(self) -> re.Pattern[bytes] | None:
        return _bytes_pattern(self.ordered, self.codecs, MIN_BINARY_VALUE_CHARS)

    def kind_of_text(self, match: str) -> NeedleKind:
        return self.kinds.get(" ".join(fold(match).split()), "identifier")

    def kind_of_bytes(self, match: bytes) -> NeedleKind:
        for codec in ("utf_8", "latin_1", "utf_16_le", "utf_16_be"):
            try:
                kind = self.kinds.get(" ".join(match.decode(codec).split()).casefold())
            except UnicodeDecodeError:
                continue
            if kind is not None:
                return kind
        return "identifier"


@lru_cache(maxsize=16384)
def _needle_words(needle: str) -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...]]:
    """A form's words for the fast tests: those searched for (its words of three or more
    characters, else the whole form), and its long and short words lower-cased."""
    parts = needle.split()
    long_words = tuple(w for w in parts if len(w) >= MIN_VALUE_CHARS)
    return (
        long_words or (needle,),
        frozenset(w.lower() for w in long_words),
        tuple(w.lower() for w in parts if len(w) < MIN_VALUE_CHARS),
    )


@lru_cache(maxsize=8192)
def _word_bytes(word: str, codecs: tuple[str, ...]) -> frozenset[bytes]:
    """The forms the byte prefilter looks for: lower-cased, NULs taken out."""
    if word.isascii():
        # Every DICOM character set writes ASCII as ASCII, and UTF-16 does too once
        # its NULs are out: one form covers them all.
        forms = {word.lower().encode("ascii")}
        variants, word_codecs = [word], [c for c in codecs if not _ascii_compatible(c)]
    else:
        forms = set()
        variants = sorted({word, word.lower(), word.title(), word.upper()})
        word_codecs = [*codecs, *_CJK_CODECS, "utf_16_le", "utf_16_be"]
    for variant in variants:
        for codec in word_codecs:
            try:
                forms.add(variant.encode(codec).lower().replace(b"\x00", b""))
            except (UnicodeError, LookupError):
                continue
    return frozenset(forms)


def clear_caches() -> None:
    """Forget the per-patient scanners, forms and expressions (benchmarks time a first pass)."""
    for cached in (_cached_scanner, _text_pattern, _forms_of, _needle_words, _word_bytes, scrub):
        cached.cache_clear()


#: What :func:`text_scanner` returns (for type hints).
TextScanner = _Scanner


@lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    printable = bytes(range(0x20, 0x7F)).decode("ascii")
    try:
        return printable.encode(codec) == printable.encode("ascii")
    except (UnicodeError, LookupError):
        return False


@lru_cache(maxsize=4096)
def _text_pattern(needles: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for folded ``needles``, to run on folded text.

    Forms match as whole words: not inside a longer word or number (``ono`` is not in
    ``monochrome2``, an ID not inside a remapped UID), except at an end written in a
    script without spaces (CJK names run into the words around them).
    """
    return re.compile("|".join(_bounded_form(n) for n in needles))


_WORD_EDGE = "[^\\W_]"
_GROUPED_DIGITS = re.compile(r"\d(?:[-./ ]\d)+")


def _join_digits(match: re.Match[str]) -> str:
    return "".join(ch for ch in match.group(0) if ch.isdigit())


def _bounded_form(needle: str) -> str:
    before = "" if _is_cjk(needle[0]) else f"(?<!{_WORD_EDGE})"
    after = "" if _is_cjk(needle[-1]) else f"(?!{_WORD_EDGE})"
    return f"{before}{_flexible(needle)}{after}"


def _build_scanner(
    values: Iterable[str], encodings: Iterable[str], retained: Iterable[str] = ()
) -> _Scanner:
    return _cached_scanner(frozenset(values), tuple(encodings), frozenset(retained))


@lru_cache(maxsize=512)
def _cached_scanner(
    values: frozenset[str], encodings: tuple[str, ...], retained: frozenset[str]
) -> _Scanner:
    # One patient's values are scanned for many times (clean_text, the gate, each image).
    kinds = expand_values(values)
    if retained:
        # A form found inside a value the profile keeps (a device named like a patient)
        # cannot be told apart from the kept value: it is not looked for.
        kept = [" ".join(fold(r).split()) for r in retained]
        kinds = {k: v for k, v in kinds.items() if not any(_has_words(r, k) for r in kept)}
    return _Scanner(kinds, list(dict.fromkeys(["utf_8", "latin_1", *encodings])))


def _has_words(text: str, form: str) -> bool:
    # Whether ``form`` occurs in ``text`` as whole words (both folded).
    at = text.find(form)
    while at >= 0:
        end = at + len(form)
        before = at == 0 or not text[at - 1].isalnum()
        if before and (end == len(text) or not text[end].isalnum()):
            return True
        at = text.find(form, at + 1)
    return False


def _remove_ascii_forms(text: str, needles: tuple[str, ...]) -> str:
    """``_text_pattern(needles).sub(" ", text)`` for ASCII text and needles, without regex.

    Compiling an expression costs about 0.3 ms, more than de-identifying an object
    otherwise; each patient's texts need their own. For ASCII, case-insensitive matching
    is matching the lower-cased text, so the same matches are found with ``str.find``:
    a form's words separated by whitespace runs, not inside a longer number; at each
    position the first form in order wins, and matches do not overlap, as in ``re.sub``.
    """
    low = text.lower()
    size = len(low)
    found: list[tuple[int, int, int]] = []
    for rank, needle in enumerate(needles):
        words = needle.lower().split()
        first = words[0]
        start = low.find(first)
        while start >= 0:
            end = _words_end(low, start + len(first), words[1:])
            if (
                end >= 0
                and (start == 0 or not low[start - 1].isalnum())
                and (end == size or not low[end].isalnum())
            ):
                found.append((start, rank, end))
            start = low.find(first, start + 1)
    if not found:
        return text
    found.sort()
    parts: list[str] = []
    done = 0
    for start, _, end in found:
        if start >= done:
            parts.append(text[done:start])
            parts.append(" ")
            done = end
    parts.append(text[done:])
    return "".join(parts)


_DIGIT_BYTES = frozenset(b"0123456789")


def _remove_folded(text: str, pattern: re.Pattern[str]) -> str:
    # Matches are found in the folded text and cut from the original at the same places.
    folded, where = _fold_mapped(text)
    parts: list[str] = []
    done = 0
    for match in pattern.finditer(folded):
        if match.end() == match.start():
            continue
        start, end = where[match.start()], where[match.end() - 1] + 1
        if start >= done:
            parts.append(text[done:start])
            parts.append(" ")
            done = end
    parts.append(text[done:])
    return "".join(parts)


def _bounded(data: bytes, word: bytes) -> bool:
    # Whether ``word`` occurs with no ASCII digit just before or just after it.
    at = data.find(word)
    while at >= 0:
        end = at + len(word)
        if (at == 0 or data[at - 1] not in _DIGIT_BYTES) and (
            end == len(data) or data[end] not in _DIGIT_BYTES
        ):
            return True
        at = data.find(word, at + 1)
    return False


def _words_end(low: str, at: int, words: list[str]) -> int:
    # Where the rest of a form ends, each word after a run of whitespace; -1 if it does not.
    size = len(low)
    for word in words:
        after = at
        while after < size and low[after].isspace():
            after += 1
        if after == at or not low.startswith(word, after):
            return -1
        at = after + len(word)
    return at


def _bytes_pattern(
    needles: list[str], codecs: list[str], min_chars: int
) -> re.Pattern[bytes] | None:
    # Text codecs get flexible whitespace between words; UTF-16 forms are literal.
    alternatives: set[bytes] = set()
    for needle in needles:
        if len(needle) < min_chars:
            continue
        ascii_only = needle.isascii()
        variants = {needle} if ascii_only else {needle, needle.title(), needle.upper()}
        needle_codecs = codecs if ascii_only else codecs + list(_CJK_CODECS)
        for variant in variants:
            for codec in needle_codecs:
                try:
                    words = [re.escape(w.encode(codec)) for w in variant.split()]
                except (UnicodeError, LookupError):
                    continue
                alternatives.add(rb"\s+".join(words))
            for codec in ("utf_16_le", "utf_16_be"):
                alternatives.add(re.escape(variant.encode(codec)))
    if not alternatives:
        return None
    ordered: list[bytes] = sorted(alternatives, key=len, reverse=True)
    body = b"|".join(ordered)
    # Whole words, as in text: no ASCII letter or digit just before or after.
    return re.compile(b"(?<![0-9A-Za-z])(?:" + body + b")(?![0-9A-Za-z])", re.IGNORECASE)


def _flexible(needle: str) -> str:
    # Any run of whitespace in a needle matches any run of whitespace in the output; in a
    # long number, digits may be grouped by separators (2086828 written 208-6828).
    words = []
    for word in needle.split():
        if sum(ch.isdigit() for ch in word) >= 5:
            words.append("[-./ ]?".join(re.escape(ch) for ch in word))
        else:
            words.append(re.escape(word))
    return r"\s+".join(words)


def verify_no_residuals(
    identifying: set[str],
    payload: bytes | Dataset,
    /,
    *,
    dates_retained: bool = False,
    retained: frozenset[str] = frozenset(),
) -> list[ResidualHit]:
    """Scan a de-identified output for any identifying value of its input.

    Parameters
    ----------
    identifying : set[str]
        Values from :func:`identifying_values` (or the extraction's own set) of the input.
    payload : bytes or pydicom.Dataset
        The output: a dataset (walked at every depth, file meta included) or its encoded
        bytes (parsed when possible; otherwise scanned as raw bytes).

    Returns
    -------
    list[ResidualHit]
        One hit per element (or byte offset) holding a value; empty when the output is clean.
        Pixel data and numeric arrays are not scanned (burned-in text is handled by the
        burned-in annotation rules, not here).
    dates_retained : bool, optional
        The profile keeps exam dates (full or shifted): a date element (DA/DT) equal to
        the birth date (a newborn's exam) is then not a hit; text elsewhere still is.
    retained : frozenset[str], optional
        Values the profile keeps on purpose (device identity): forms of identifying
        values contained in one of them are not looked for.
    """
    if isinstance(payload, Dataset):
        scanner = _build_scanner(identifying, _dataset_encodings(payload), retained)
        return _scan_dataset(scanner, payload, dates_retained)
    data = bytes(payload)
    written = parse_part10(data)
    if written is not None:  # the bytes as the one reader reads them
        meta, body = written.meta, written.body
        return verify_elements(
            identifying,
            lambda: (meta, body),
            data,
            data,
            dates_retained=dates_retained,
            retained=retained,
            encodings=charset_codecs(body),
        )
    try:
        ds = dcmread(BytesIO(data), force=True)
        if not ds:
            raise InvalidDicomError("no elements")
    except Exception:  # unparseable bytes: fall back to scanning every byte
        scanner = _build_scanner(identifying, (), retained)
        return _leftovers(scanner, data, dates_retained=False)
    return verify_encoded(identifying, ds, data, dates_retained=dates_retained, retained=retained)


def verify_encoded(
    identifying: set[str],
    ds: Dataset | Callable[[], Dataset],
    data: bytes,
    *,
    dates_retained: bool = False,
    retained: frozenset[str] = frozenset(),
    scanned: bytes | None = None,
    encodings: Iterable[str] | None = None,
) -> list[ResidualHit]:
    """Scan an output whose dataset and encoded bytes are both at hand (the engine's gate).

    A substring pass over the encoded bytes (pixel data aside) decides almost every
    object; only when it finds a word of an identifying form is the dataset walked to
    say where. Datasets in stateful ISO 2022 character sets are always walked.
    Parameters are as for :func:`verify_no_residuals`, and:

    ds : pydicom.Dataset or callable
        The output dataset, or a function that builds it (called only if it is walked).
    scanned : bytes, optional
        ``data`` without its pixel data, uncompressed, when the caller has it at hand.
    encodings : sequence of str, optional
        The Python codecs of ``ds``'s Specific Character Set (``[]`` when it has none).
    """

    @cache  # built at most once, whatever the caller passes
    def dataset() -> Dataset:
        return ds if isinstance(ds, Dataset) else ds()

    codecs = list(encodings) if encodings is not None else _dataset_encodings(dataset())
    scanner = _build_scanner(identifying, codecs, retained)
    body = scanned if scanned is not None else _without_pixels(dataset(), data)
    stateless = not any(codec.startswith("iso2022") for codec in codecs)
    if stateless and not scanner.maybe_in_bytes(body) and not _STRICT_BYTES.search(body):
        return []
    hits = _scan_dataset(scanner, dataset(), dates_retained)
    # Every element was walked: only the preamble lies outside them.
    preamble = data[:128] if has_preamble(data) else b""
    return hits or _leftovers(scanner, preamble, dates_retained=dates_retained)


def verify_elements(
    identifying: set[str],
    elements: Callable[[], tuple[list[Elem], list[Elem]]],
    data: bytes,
    scanned: bytes,
    *,
    dates_retained: bool = False,
    retained: frozenset[str] = frozenset(),
    encodings: Iterable[str] = (),
    encoded: tuple[list[Elem], list[Elem]] | None = None,
) -> list[ResidualHit]:
    """Scan an output as the engine wrote it: the same check as :func:`verify_encoded`,
    walking encoded elements instead of a pydicom dataset (the engine's gate).

    The same substring pass over ``scanned`` decides almost every object; when it finds a
    word of an identifying form, when a text element holds non-ASCII bytes (``MÜLLER``
    folds onto a value ``MUELLER`` that no byte search finds) and always in stateful ISO
    2022 character sets, the elements are walked. Each text element is decoded as pydicom decodes it
    (:func:`~medcoop.deid.elements.decode_texts`) and matched exactly as the dataset walk
    matches; an element whose bytes hold no word of any form (and no e-mail or national-ID
    shape) is not decoded at all in stateless character sets, the substring pass applied
    per element. A test requires both walks to find the same hits on every object of the
    adversarial corpus and of pydicom's test files.

    elements : callable
        Returns ``(file meta, dataset)`` elements, parsed from the bytes written (called
        only when the substring pass finds a word, or cannot decide: a text element
        holds bytes outside ASCII, which may fold onto a form).
    data : bytes
        The whole output file (its preamble is scanned too).
    scanned : bytes
        ``data`` without its pixel data, uncompressed.
    encodings : sequence of str
        The Python codecs of the output's Specific Character Set (``[]`` when none).
    encoded : (list of Elem, list of Elem), optional
        The file meta and dataset elements the output was encoded from, for the non-ASCII
        test without parsing the output (which is walked from its bytes, as written).
    """
    codecs = list(encodings)
    scanner = _build_scanner(identifying, codecs, retained)
    stateless = not any(codec.startswith("iso2022") for codec in codecs)
    clean_bytes = (
        stateless
        and not scanner.maybe_in_bytes(scanned)
        and not _STRICT_BYTES.search(scanned)
    )
    # The substring pass misses what folding finds (MÜLLER for a value MUELLER): it
    # decides alone only when no text element holds a byte outside ASCII.
    if clean_bytes and (
        not scanner.kinds or not any(_non_ascii_text(part) for part in encoded or elements())
    ):
        return []
    meta, body = elements()
    hits: list[ResidualHit] = []
    # An element can hold only words the whole output holds: the rest are not tried again.
    words = scanner.words_in(scanned) if stateless else None
    walk = _ElementWalk(scanner, hits, dates_retained, words)
    walk.items(meta, DEFAULT_ENCODINGS, ())
    walk.items(body, item_encodings(body, DEFAULT_ENCODINGS), ())
    preamble = data[:128] if has_preamble(data) else b""
    return hits or _leftovers(scanner, preamble, dates_retained=dates_retained)


def _non_ascii_text(elems: list[Elem]) -> bool:
    """Return whether a text element the gate matches holds a byte outside ASCII."""
    for elem in elems:
        if elem.items is not None:
            if any(_non_ascii_text(item) for item in elem.items):
                return True
        elif elem.vr in _TEXT_VRS and not elem.value.isascii():
            return True
    return False


class _ElementWalk:
    """:func:`_scan_items` over encoded elements: the same hits, without pydicom."""

    __slots__ = ("dates_retained", "hits", "scanner", "words")

    def __init__(
        self,
        scanner: _Scanner,
        hits: list[ResidualHit],
        dates_retained: bool,
        words: _Words | None,
    ) -> None:
        self.scanner = scanner
        self.hits = hits
        self.dates_retained = dates_retained
        # In a stateless character set a form's words are in an element's own bytes: the
        # substring pass per element (``None``: ISO 2022, every text element decoded).
        self.words = words

    def items(
        self, elems: list[Elem], encodings: tuple[str, ...], parents: tuple[tuple[int, int], ...]
    ) -> None:
        scanner = self.scanner
        for elem in elems:
            tag = elem.tag
            if tag in _MARK_TAGS or tag in CODE_TAGS:
                continue
            if elem.items is not None:
                for index, item in enumerate(elem.items):
                    inner = item_encodings(item, encodings)
                    self.items(item, inner, (*parents, (tag, index)))
                continue
            vr = elem.vr
            value = elem.value
            if tag in PIXEL_TAGS or not value:
                continue
            text_vr = vr in _TEXT_VRS
            if not text_vr and vr not in _BINARY_VRS:
                continue
            if (
                self.words is not None
                and value.isascii()  # other bytes may fold onto a form's ASCII (ü → u)
                and not scanner.maybe_in_bytes(value, self.words)
                and not (vr in _FREE_TEXT_VRS and _STRICT_BYTES.search(value))
            ):
                continue
            kind: NeedleKind | None = None
            text: str | None = None
            if not text_vr:  # binary: as pydicom leaves it, bytes
                if scanner.kinds and scanner.binary is not None:
                    found = scanner.binary.search(value) if scanner.maybe_in_bytes(value) else None
                    if found:
                        kind = scanner.kind_of_bytes(found.group(0))
            else:
                values = decode_texts(value, vr, encodings)
                text = values[0] if len(values) == 1 else "\\".join(v for v in values if v)
                if scanner.kinds:
                    folded = fold(text)
                    pattern = scanner.text_pattern(folded)
                    match = pattern.search(folded) if pattern is not None else None
                    kind = scanner.kind_of_text(match.group(0)) if match else None
            exempt = self.dates_retained and vr in ("DA", "DT") and tag not in _CONTENT_DATE_TAGS
            if kind == "date" and exempt:
                continue
            if kind is None and text and vr in _FREE_TEXT_VRS and tag not in _KEPT_AS_IS:
                kind = _strict_kind(text)
            if kind is not None:
                self.hits.append(ResidualHit(tag_path(parents, tag), kind))


def _without_pixels(ds: Dataset, data: bytes) -> bytes:
    if 0x7FE00010 not in ds:
        return data
    pixels = ds.get_item(0x7FE00010).value
    if not isinstance(pixels, bytes) or len(pixels) <= 64:
        return data
    start = data.rfind(pixels)
    return data if start < 0 else data[:start] + data[start + len(pixels) :]


def _leftovers(scanner: _Scanner, data: bytes, *, dates_retained: bool) -> list[ResidualHit]:
    # Bytes the walk could not attribute (misparsed, preamble, between elements).
    if not data.strip(b"\x00") or not scanner.maybe_in_bytes(data) or scanner.binary is None:
        return []
    hits = []
    for match in scanner.binary.finditer(data):
        kind = scanner.kind_of_bytes(match.group(0))
        if not (dates_retained and kind == "date"):
            hits.append(ResidualHit(f"<bytes @{match.start()}>", kind))
    return hits


def _dataset_encodings(ds: Dataset) -> list[str]:
    charset = ds.get("SpecificCharacterSet")
    try:
        return list(convert_encodings(charset)) if charset else []
    except (LookupError, ValueError):
        return []


def _scan_dataset(scanner: _Scanner, ds: Dataset, dates_retained: bool) -> list[ResidualHit]:
    hits: list[ResidualHit] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _scan_items(scanner, meta, (), hits, dates_retained)
    _scan_items(scanner, ds, (), hits, dates_retained)
    return hits


def _scan_items(
    scanner: _Scanner,
    ds: Dataset,
    parents: tuple[tuple[int, int], ...],
    hits: list[ResidualHit],
    dates_retained: bool,
) -> None:
    for elem in ds:
        tag = int(BaseTag(elem.tag))
        if tag in _MARK_TAGS or tag in CODE_TAGS:
            continue
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or Sequence()):
                _scan_items(scanner, item, (*parents, (tag, index)), hits, dates_retained)
            continue
        kind = _scan_element(scanner, elem, tag) if scanner.kinds else None
        # A header date on the birth date (a newborn's exam) is the exam's date; an SR date
        # item equal to the birth date is not exempt (the engine removes it).
        exempt = dates_retained and elem.VR in ("DA", "DT") and tag not in _CONTENT_DATE_TAGS
        if kind == "date" and exempt:
            continue
        if kind is None and elem.VR in _FREE_TEXT_VRS and tag not in _KEPT_AS_IS:
            kind = _strict_kind(elem.value)
        if kind is not None:
            hits.append(ResidualHit(tag_path(parents, tag), kind))


def _strict_kind(value: object) -> NeedleKind | None:
    if not isinstance(value, str | MultiValue):
        return None
    text = "\\".join(_as_strings(value)) if isinstance(value, MultiValue) else value
    if not (_STRICT_TEXT.search(text)):
        return None
    kinds = strict_hits(text)
    if not kinds:
        return None
    return "e-mail" if kinds[0] == "e-mail" else "national ID"


_STRICT_TEXT = re.compile(r"@|\d{6}")


@cache
def _kept_tags() -> frozenset[int]:
    # Device identity (Retain Device Identity's K rows, manufacturer and model): kept as the
    # device wrote it, so a serial number that looks like a national ID is not one.
    tags = {0x00080070, 0x00081090}
    for row in load_rows():
        if row.options.get("rtnDevIdOpt") == "K" and row.tag_id and "x" not in row.tag_id:
            tags.add(int(row.tag_id, 16))
    return frozenset(tags)


# Patient ID and Name hold the engine's pseudonym (hex digits): not national IDs.
_KEPT_AS_IS = _kept_tags() | {0x00100010, 0x00100020}


def _scan_element(scanner: _Scanner, elem: DataElement, tag: int) -> NeedleKind | None:
    value = elem.value
    if value is None or tag in PIXEL_TAGS:
        return None
    if isinstance(value, bytes | bytearray):
        scannable = elem.VR in _BINARY_VRS or elem.VR in _TEXT_VRS
        # The expression (costly to compile) only for a value that holds a word of a form.
        if scannable and scanner.maybe_in_bytes(bytes(value)) and scanner.binary is not None:
            found = scanner.binary.search(value)
            if found:
                return scanner.kind_of_bytes(found.group(0))
        return None
    if elem.VR not in _TEXT_VRS:
        return None
    text = "\\".join(_as_strings(value)) if isinstance(value, MultiValue) else str(value)
    folded = fold(text)
    pattern = scanner.text_pattern(folded)
    match = pattern.search(folded) if pattern is not None else None
    return scanner.kind_of_text(match.group(0)) if match else None


# --- cleaning free text -----------------------------------------------------------------

def text_kind(
    identifying: AbstractSet[str], text: str, /, *, whole_names_only: bool = False
) -> NeedleKind | None:
    """Return the kind of the first identifying form found in ``text`` as whole words, if any.

    The same matching as the gate's (folded, whole words, grouped digits). With
    ``whole_names_only`` a name counts only as a whole name (``DOE JOHN``, ``DOE^JOHN``),
    not one of its words, and an ID only with digits: for text that is the device's own (a
    model named like a patient, a station named like the organisation in the report).
    """
    scanner = _build_scanner(frozenset(identifying), ())
    folded = fold(text)
    candidates = scanner.candidates(folded)
    if whole_names_only:
        candidates = tuple(c for c in candidates if _counts_in_device_text(scanner.kinds, c))
    if not candidates:
        return None
    match = _text_pattern(candidates).search(folded)
    return scanner.kind_of_text(match.group(0)) if match else None


def _counts_in_device_text(kinds: dict[str, NeedleKind], form: str) -> bool:
    # In a device's own names, a word is chance: only whole names, dates and IDs with
    # digits (an MRN typed as a station name) are the patient's.
    kind = kinds.get(form)
    if kind == "name":
        return _is_whole_name(form)
    return kind != "identifier" or any(ch.isdigit() for ch in form)


def _is_whole_name(form: str) -> bool:
    return any(sep in form for sep in (" ", ",", "^")) or any(_is_cjk(ch) for ch in form)


def clean_text(
    text: str, identifying: set[str], /, *, retained: frozenset[str] = frozenset()
) -> str | None:
    """Return ``text`` with identifying content removed, or ``None`` when nothing is left.

    Removed: every form of every identifying value (as :func:`verify_no_residuals` looks
    for them, case-insensitive, also inside longer words), dates, runs of six or more
    digits, e-mail addresses, telephone numbers, titled names (``Dr. Smith``) and labelled
    identifiers (``MRN: ...``). Whitespace is collapsed.

    Parameters
    ----------
    text : str
        Free text such as a protocol name, a study description or a comment.
    identifying : set[str]
        The identifying values of the object the text came from.
    retained : frozenset[str], optional
        Values kept on purpose, as for :func:`verify_no_residuals`.

    Returns
    -------
    str or None
        The cleaned text, or ``None`` when no letter or digit remains.
    """
    return clean_with(_build_scanner(identifying, (), retained), text)


def text_scanner(
    identifying: set[str], retained: frozenset[str] = frozenset(), encodings: Iterable[str] = ()
) -> _Scanner:
    """Return the scanner :func:`clean_with` takes (built once for an object's values).

    Text matching does not depend on ``encodings``: passing the dataset's lets the gate
    (:func:`verify_encoded`) reuse the same scanner.
    """
    return _build_scanner(identifying, encodings, retained)


def clean_with(scanner: _Scanner, text: str) -> str | None:
    """:func:`clean_text` with the scanner of :func:`text_scanner`."""
    # A patient's objects repeat their descriptions: cleaned once per scanner.
    cache = scanner._cleaned
    if text in cache:
        return cache[text]
    if len(cache) >= 256:  # bounded: up to 512 scanners are cached
        cache.clear()
    cleaned = _clean_uncached(scanner, text)
    cache[text] = cleaned
    return cleaned


_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")


def _clean_uncached(scanner: _Scanner, text: str) -> str | None:
    # Forms that need no known value (a personnummer whole, before its birth date is
    # found in it), the object's own values (each word of a compound name too, so a
    # form the first pass split still goes), then the forms again.
    text = scrub(text)
    candidates = scanner.candidates(text) if scanner.kinds else ()
    if not candidates:
        cleaned = text
    elif (
        text.isascii()
        and all(needle.isascii() for needle in candidates)
        and not _GROUPED_DIGITS.search(text)
    ):
        cleaned = _remove_ascii_forms(text, candidates)  # no expression to compile
    else:
        cleaned = _remove_folded(text, _text_pattern(candidates))
    cleaned = _EMPTY_BRACKETS.sub(" ", scrub(cleaned))
    cleaned = " ".join(cleaned.split()).strip(" ,;:-/^")
    if not any(ch.isalnum() for ch in cleaned):
        return None
    return cleaned
