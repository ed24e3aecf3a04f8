"""The de-identification engine: applies the resolved Table E.1-1 actions to a dataset.

:class:`Deidentifier` walks a dataset once, at every sequence depth, looking each tag up
in the profile's precomputed action table (:mod:`medcoop.deid.table`). Elements the
table does not list are handled by VR (person names replaced, long free text cleaned,
instance UIDs remapped, dates per the temporal option). Then it writes the
de-identification attributes, encodes the result and scans it for residual identifiers
of the input: any hit withholds the object. Errors are values here: the caller gets
:class:`Deidentified` or :class:`Withheld`, never an exception for a bad object.

The walk works on encoded elements (:mod:`medcoop.deid.elements`), not on pydicom's
converted values: an element the profile keeps is never decoded, its bytes are written
back as read, and the input dataset is never modified or copied.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from io import BytesIO
from operator import attrgetter

from pydicom import Dataset, __version_info__, dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, UID_dictionary

from medcoop import __version__
from medcoop.deid.elements import (
    DEFAULT_ENCODINGS,
    Elem,
    Encoded,
    Part10,
    charset_codecs,
    decode_texts,
    emit_encoded,
    encode_text,
    encode_values,
    from_dataset,
    item_encodings,
    parse_part10,
    pydicom_str,
    to_dataset,
    to_file_meta,
)
from medcoop.deid.pixels import blank_rectangles, burned_in_reason_for, find_rule_for
from medcoop.deid.private import safe_private_tags
from medcoop.deid.profile import Profile, load_profile
from medcoop.deid.pseudonym import SiteKey
from medcoop.deid.residuals import (
    CODE_TAGS,
    DUMMY_TEXT,
    TextScanner,
    clean_with,
    collect_values,
    text_scanner,
    verify_elements,
    verify_encoded,
)
from medcoop.deid.table import ActionTable, compile_actions, table_edition
from medcoop.dicom.reader import PIXEL_TAGS

__all__ = ["DUMMY_VALUES", "Deidentified", "Deidentifier", "Withheld"]

#: Non-zero-length dummy values per VR (action D).
DUMMY_VALUES: dict[str, object] = {
    "AE": DUMMY_TEXT,
    "AS": "000Y",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "UC": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "UR": "https://anonymous.invalid/",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
}
_BINARY_SIZES = {"FL": 4, "FD": 8, "SL": 4, "SS": 2, "UL": 4, "US": 2, "SV": 8, "UV": 8, "AT": 4}


def _dummy_bytes(vr: str, value: object) -> bytes:
    if vr in _BINARY_SIZES:
        return bytes(_BINARY_SIZES[vr])  # zero in every byte order
    data = str(value).encode("ascii")
    return data + b" " if len(data) % 2 else data


#: D values as written; other VRs (OB, OW, UN...) get two zero bytes.
_DUMMY_BYTES = {vr: _dummy_bytes(vr, value) for vr, value in DUMMY_VALUES.items()}
_FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UC"})
_SHORT_TEXT_VRS = frozenset({"LO", "SH"})
_CLEANABLE_VRS = _FREE_TEXT_VRS | _SHORT_TEXT_VRS | {"CS", "AE", "UR"}
_CONTENT_LABEL = 0x00700080  # CS, yet typed by users of presentation states
_META_REMOVED = frozenset({0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102})
_PIXEL_DATA = 0x7FE00010
_SOP_INSTANCE_UID = 0x00080018
_TAG = attrgetter("tag")

# Walk modes: how elements the table does not list are treated inside a sequence.
NORMAL, STRICT, CLEAN, META = 0, 1, 2, 3


class Deidentified:
    """A de-identified object that passed the residual scan.

    Attributes
    ----------
    dataset : pydicom.Dataset
        The de-identified dataset, built on first access (most callers only send the
        payload); its elements are decoded by pydicom on access.
    payload : bytes
        The dataset encoded as a DICOM file (Part 10), ready to write or send.
    pseudonym : str
        The patient's keyed pseudonym (also written as Patient ID).
    methods : tuple[str, ...]
        CID 7050 code values applied (113100 first).
    sop_instance_uid : str
        The output's SOP Instance UID (remapped), ``""`` if the object has none.
    """

    __slots__ = ("_dataset", "methods", "payload", "pseudonym", "sop_instance_uid")

    def __init__(
        self,
        dataset: Dataset | Callable[[], Dataset],
        payload: bytes,
        pseudonym: str,
        methods: tuple[str, ...],
        sop_instance_uid: str = "",
    ) -> None:
        self._dataset = dataset
        self.payload = payload
        self.pseudonym = pseudonym
        self.methods = methods
        self.sop_instance_uid = sop_instance_uid

    @property
    def dataset(self) -> Dataset:
        if not isinstance(self._dataset, Dataset):
            self._dataset = self._dataset()
        return self._dataset

    def __repr__(self) -> str:  # no values: they are the patient's, even de-identified
        return f"Deidentified(<{len(self.payload)} bytes>, methods={self.methods!r})"


@dataclass(frozen=True, slots=True)
class Withheld:
    """An object that must not leave: why (never an identifying value)."""

    reason: str


@dataclass(slots=True)
class _Context:
    table: ActionTable
    profile: Profile
    key: SiteKey
    values: set[str]
    shift_days: int
    retained: frozenset[str]
    scanner: TextScanner
    birth_date: str = ""


@dataclass(frozen=True, slots=True)
class _Syntax:
    uid: str
    implicit: bool
    little: bool
    deflated: bool
    compressed: bool
    #: A public transfer syntax: :func:`~medcoop.deid.elements.parse_part10` reads the output.
    readable: bool = False

    @classmethod
    def of(cls, uid: UID) -> _Syntax:
        """The encoding a public transfer syntax ``uid`` names."""
        return cls(
            str(uid),
            uid.is_implicit_VR,
            uid.is_little_endian,
            uid.is_deflated,
            uid.is_compressed,
            readable=True,
        )


class Deidentifier:
    """De-identify datasets under one site key and one profile.

    Parameters
    ----------
    key : SiteKey
        The site's secret (pseudonyms, UID remapping, date shifts).
    profile : Profile, optional
        Defaults to ``load_profile("dose-monitoring")``.
    """

    def __init__(self, key: SiteKey, profile: Profile | None = None) -> None:
        self.key = key
        self.profile = profile if profile is not None else load_profile("dose-monitoring")
        self.table = compile_actions(self.profile)
        self._method_text = [
            f"medcoop {__version__}"[:64],
            f"PS3.15 {table_edition()} Table E.1-1",
            f"profile {self.profile.name}"[:64],
        ]
        # The marking attributes are the same for every object: encoded once.
        self._method_codes = {
            cleaned: _code_sequence(self.profile.method_codes(pixels_cleaned=cleaned))
            for cleaned in (False, True)
        }
        if self.profile.retain_long_full_dates:
            self._temporal = "UNMODIFIED"
        elif self.profile.retain_long_modified_dates:
            self._temporal = "MODIFIED"
        else:
            self._temporal = "REMOVED"

    def deidentify(self, ds: Dataset, *, in_place: bool = False) -> Deidentified | Withheld:
        """Return the de-identified object, or why it is withheld.

        Parameters
        ----------
        ds : pydicom.Dataset
            The original object, never modified unless ``in_place``.
        in_place : bool, optional
            Also make ``ds`` itself the de-identified dataset. The engine never copies
            the input, so this saves nothing; it is kept for callers that rely on it.
        """
        try:
            result = self._deidentify(ds)
        except Exception as exc:  # a malformed object is withheld, never passed on
            return Withheld(f"could not de-identify: {type(exc).__name__}")
        if in_place and isinstance(result, Deidentified):
            _replace_contents(ds, result.dataset)
            return Deidentified(
                ds, result.payload, result.pseudonym, result.methods, result.sop_instance_uid
            )
        return result

    def deidentify_bytes(self, data: bytes) -> Deidentified | Withheld:
        """:meth:`deidentify` for a DICOM file's bytes (PS3.10), without pydicom's reader.

        The file is parsed as the engine walks it, so a file read from disk never becomes
        a pydicom dataset at all. Files this parser does not take (no ``DICM`` prefix, a
        private transfer syntax, an encoding that does not match its transfer syntax)
        go through ``dcmread`` and :meth:`deidentify`, as before.
        """
        try:
            parsed = parse_part10(data)
        except (ValueError, UnicodeError, zlib.error, struct.error):
            parsed = None
        if parsed is None:
            try:
                ds = dcmread(BytesIO(data), force=True)
            except Exception as exc:  # unreadable: withheld, never passed on
                return Withheld(f"could not de-identify: {type(exc).__name__}")
            return self.deidentify(ds)
        return self.deidentify_parsed(parsed)

    def deidentify_parsed(self, parsed: Part10) -> Deidentified | Withheld:
        """:meth:`deidentify_bytes` of a file the caller has already parsed
        (:func:`~medcoop.deid.elements.parse_part10`), so that it is read once."""
        try:
            return self._deidentify_elements(
                parsed.body, parsed.meta, _Syntax.of(parsed.transfer_syntax)
            )
        except Exception as exc:  # a malformed object is withheld, never passed on
            return Withheld(f"could not de-identify: {type(exc).__name__}")

    def _deidentify(self, ds: Dataset) -> Deidentified | Withheld:
        source_meta = getattr(ds, "file_meta", None)
        syntax = _syntax(ds, source_meta)
        body = from_dataset(
            ds, implicit=syntax.implicit, little=syntax.little, compressed=syntax.compressed
        )
        meta = None
        if source_meta is not None:
            meta = from_dataset(source_meta, implicit=False, little=True)
        return self._deidentify_elements(body, meta, syntax)

    def _deidentify_elements(
        self, body: list[Elem], source_meta: list[Elem] | None, syntax: _Syntax
    ) -> Deidentified | Withheld:
        encodings = item_encodings(body, DEFAULT_ENCODINGS)
        top = {elem.tag: elem for elem in body}
        include_institution = not self.profile.retain_institution_identity
        values = collect_values(body, encodings, include_institution=include_institution)
        # A patient field that repeats the device's own name is not a patient identifier.
        retained = _device_values(top, encodings, self.profile.retain_device_identity)
        pseudonym = self._pseudonym(top, encodings)
        codecs = charset_codecs(body)  # (0008,0005) is kept as it is
        pixels_cleaned = False
        reason = burned_in_reason_for(
            _text(top, 0x00080016, encodings),
            any(tag in top for tag in PIXEL_TAGS),
            _text(top, 0x00280301, encodings),
            _texts(top, 0x00080008, encodings),
        )
        if reason is not None:
            failure = self._clean_pixels(top, syntax, encodings)
            if failure is not None:
                return Withheld(reason if failure == "" else failure)
            pixels_cleaned = True
            body = sorted(top.values(), key=_TAG)
        ctx = _Context(
            self.table,
            self.profile,
            self.key,
            values,
            self.key.date_shift_days(pseudonym),
            retained,
            # The gate reuses this scanner: same values, same character set.
            text_scanner(values, retained, codecs),
            _text(top, 0x00100030, encodings).strip(),
        )
        body = _walk(body, ctx, NORMAL, encodings)
        meta: list[Elem] = []
        if source_meta is not None:
            meta = _walk(source_meta, ctx, META, DEFAULT_ENCODINGS)
        if syntax.compressed and _PIXEL_DATA in top and not top[_PIXEL_DATA].undefined:
            raise ValueError("native pixel data under a compressed transfer syntax")
        body = self._mark(body, pseudonym, pixels_cleaned, encodings)
        meta = _file_meta(meta, body, syntax.uid)
        encoded = encode_values(body, implicit=syntax.implicit, little=syntax.little)
        encoded_meta = encode_values(meta, implicit=False, little=True)
        payload, scanned = _encode(encoded_meta, encoded, syntax)

        @cache  # built once, for the gate's walk and for the caller alike
        def output() -> Dataset:
            out = to_dataset(encoded, implicit=syntax.implicit, little=syntax.little)
            out.file_meta = to_file_meta(encoded_meta)
            out.preamble = bytes(128)
            out.set_original_encoding(syntax.implicit, syntax.little, list(encodings))
            return out

        dates_retained = (
            self.profile.retain_long_full_dates or self.profile.retain_long_modified_dates
        )
        if syntax.readable:  # the gate reads the bytes written, with the engine's reader
            hits = verify_elements(
                values,
                lambda: _written(payload),
                payload,
                scanned,
                dates_retained=dates_retained,
                retained=retained,
                encodings=codecs,
                encoded=(meta, body),
            )
        else:  # a private transfer syntax (read by dcmread): pydicom's view of the output
            hits = verify_encoded(
                values,
                output,
                payload,
                dates_retained=dates_retained,
                retained=retained,
                scanned=scanned,
                encodings=codecs,
            )
        if hits:
            where = ", ".join(f"{hit.kind} at {hit.path}" for hit in hits[:5])
            more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
            return Withheld(f"residual identifier: {where}{more}")
        codes = tuple(code for code, _ in self.profile.method_codes(pixels_cleaned=pixels_cleaned))
        uid = next((e.value for e in body if e.tag == _SOP_INSTANCE_UID), b"")
        uid_text = uid.rstrip(b"\0 ").decode("ascii", "replace")
        return Deidentified(output, payload, pseudonym, codes, uid_text)

    def _pseudonym(self, top: dict[int, Elem], encodings: tuple[str, ...]) -> str:
        patient_id = _text(top, 0x00100020, encodings).strip()
        if patient_id:
            return self.key.patient_pseudonym(patient_id, _text(top, 0x00100021, encodings))
        # No ID: name and birth date together are the best stable key there is.
        name, birth = _text(top, 0x00100010, encodings), _text(top, 0x00100030, encodings)
        return self.key.pseudonym("patient-without-id", f"{name}\x1f{birth}")

    def _clean_pixels(
        self, top: dict[int, Elem], syntax: _Syntax, encodings: tuple[str, ...]
    ) -> str | None:
        """Blank the pixel rule's rectangles; ``""`` when no rule applies, else why not."""
        pixels = top.get(_PIXEL_DATA)
        if pixels is None:
            return ""
        rule = find_rule_for(
            self.profile.pixel_rules,
            _text(top, 0x00080070, encodings),
            _text(top, 0x00081090, encodings),
            _number(top, 0x00280010, syntax.little),
            _number(top, 0x00280011, syntax.little),
        )
        if rule is None:
            return ""
        if syntax.compressed or pixels.undefined:
            return "burned-in annotation in compressed pixel data (not cleaned)"
        cleaned = blank_rectangles(
            pixels.value,
            rule,
            frames=_number(top, 0x00280008, syntax.little, default=1),
            samples=_number(top, 0x00280002, syntax.little, default=1),
            bits_allocated=_number(top, 0x00280100, syntax.little),
            planar=_number(top, 0x00280006, syntax.little),
            photometric=_text(top, 0x00280004, encodings),
        )
        if isinstance(cleaned, str):
            return cleaned
        top[_PIXEL_DATA] = Elem(pixels.tag, pixels.vr, pixels.code, cleaned)
        top[0x00280301] = _new(0x00280301, "CS", ["NO"], encodings)
        return None

    def _mark(
        self, body: list[Elem], pseudonym: str, pixels_cleaned: bool, encodings: tuple[str, ...]
    ) -> list[Elem]:
        marks = [
            _new(0x00100020, "LO", [pseudonym], encodings),
            _new(0x00100010, "PN", [f"ANON^{pseudonym[:16].upper()}"], encodings),
            _new(0x00120062, "CS", ["YES"], encodings),
            _new(0x00120063, "LO", self._method_text, encodings),
            self._method_codes[pixels_cleaned],
            _new(0x00280303, "CS", [self._temporal], encodings),
        ]
        replaced = {elem.tag for elem in marks}
        return sorted([e for e in body if e.tag not in replaced] + marks, key=_TAG)


def _new(tag: int, vr: str, values: list[str], encodings: Sequence[str]) -> Elem:
    return Elem(tag, vr, vr.encode("ascii"), encode_text(values, vr, encodings))


def _code_sequence(codes: list[tuple[str, str]]) -> Elem:
    items = [
        [
            _new(0x00080100, "SH", [code], DEFAULT_ENCODINGS),
            _new(0x00080102, "SH", ["DCM"], DEFAULT_ENCODINGS),
            _new(0x00080104, "LO", [meaning], DEFAULT_ENCODINGS),
        ]
        for code, meaning in codes
    ]
    return Elem(0x00120064, "SQ", b"SQ", b"", items)


def _syntax(ds: Dataset, meta: Dataset | None) -> _Syntax:
    uid = UID(str(meta.get("TransferSyntaxUID", "") or "")) if meta is not None else UID("")
    if uid and uid.is_transfer_syntax and not uid.is_private:
        return _Syntax.of(uid)
    if uid:  # a private transfer syntax: keep the encoding the dataset was read in
        implicit, little = ds.original_encoding
        return _Syntax(str(uid), bool(implicit), little is not False, False, False)
    return _Syntax.of(ExplicitVRLittleEndian)


def _written(payload: bytes) -> tuple[list[Elem], list[Elem]]:
    """The output's file meta and dataset elements, read back from the bytes written."""
    parsed = parse_part10(payload)
    if parsed is None:  # never for the engine's own output: fail closed if it happens
        raise ValueError("the output cannot be read back")
    return parsed.meta, parsed.body


def _text(top: dict[int, Elem], tag: int, encodings: Sequence[str]) -> str:
    """``str(ds.get(keyword, ""))`` of a top-level text element, without converting it."""
    elem = top.get(tag)
    if elem is None or elem.items is not None:
        return ""
    values = decode_texts(elem.value, elem.vr, encodings)
    return pydicom_str(values) if values else ""


def _texts(top: dict[int, Elem], tag: int, encodings: Sequence[str]) -> tuple[str, ...]:
    elem = top.get(tag)
    if elem is None or elem.items is not None:
        return ()
    return tuple(decode_texts(elem.value, elem.vr, encodings))


def _number(top: dict[int, Elem], tag: int, little: bool, default: int = 0) -> int:
    elem = top.get(tag)
    if elem is None or not elem.value:
        return default
    if elem.vr == "IS":
        text = elem.value.decode("ascii").strip(" \x00")
        return int(text) if text else default
    return int(struct.unpack_from("<H" if little else ">H", elem.value)[0])


#: Kept by every profile (the table does not list them).
_ALWAYS_KEPT_DEVICE = (0x00080070, 0x00081090)  # Manufacturer, Manufacturer's Model Name
#: Kept under Retain Device Identity: Station Name, Device Serial Number, Software Versions.
_DEVICE_IDENTITY = (0x00081010, 0x00181000, 0x00181020)


def _device_values(
    top: dict[int, Elem], encodings: Sequence[str], device_identity: bool
) -> frozenset[str]:
    found: set[str] = set()
    for tag in _ALWAYS_KEPT_DEVICE + (_DEVICE_IDENTITY if device_identity else ()):
        elem = top.get(tag)
        if elem is not None and elem.items is None:
            values = decode_texts(elem.value, elem.vr, encodings)
            if any(values):
                found.update(v.strip() for v in values)
    return frozenset(found)


# --- the walk ---------------------------------------------------------------------------


def _walk(elems: list[Elem], ctx: _Context, mode: int, parent: tuple[str, ...]) -> list[Elem]:
    encodings = item_encodings(elems, parent)
    action_for = ctx.table.action_for
    out: list[Elem] = []
    private: list[Elem] = []
    for elem in elems:
        tag = elem.tag
        if (tag >> 16) & 1:
            private.append(elem)
        elif tag & 0xFFFF == 0 or tag >> 16 == 0 or (tag >> 16 == 0x0002 and mode != META):
            continue  # group lengths; command and file meta elements misplaced in a dataset
        else:
            action = action_for(tag)
            if action is None:
                kept = _unlisted(elem, ctx, mode, encodings)
            elif action == "K" and elem.items is None:
                kept = elem  # the common case: kept as encoded
            else:
                kept = _apply(elem, action, ctx, mode, encodings)
            if kept is not None:
                out.append(kept)
    if private and ctx.table.private != "X":
        keep = safe_private_tags([(e.tag, e.vr, e.value) for e in private if e.items is None])
        kept_private = [e for e in private if e.tag in keep]
        if kept_private:
            out.extend(kept_private)
            out.sort(key=_TAG)
    return out


def _recurse(elem: Elem, ctx: _Context, mode: int, encodings: tuple[str, ...]) -> Elem:
    assert elem.items is not None
    items = elem.items
    if elem.tag == _CONTENT_SEQUENCE:
        items = [item for item in items if not _is_birth_date_item(item, ctx, encodings)]
    elem.items = [_walk(item, ctx, mode, encodings) for item in items]
    return elem


_CONTENT_SEQUENCE = 0x0040A730
_SUBJECT_BIRTH_DATE = "121031"


def _is_birth_date_item(item: list[Elem], ctx: _Context, encodings: tuple[str, ...]) -> bool:
    """Whether a content item is a DATE of Subject Birth Date (121031) or on the birth date.

    Clean Structured Content removes these whatever dates the profile keeps: a birth date
    is never a date of the examination.
    """
    top = {e.tag: e for e in item}
    if _text(top, 0x0040A040, encodings).strip().upper() != "DATE":
        return False
    if ctx.birth_date and _text(top, 0x0040A121, encodings).strip() == ctx.birth_date:
        return True
    concept = top.get(0x0040A043)
    for code in concept.items or () if concept is not None else ():
        codes = {e.tag: e for e in code}
        if _text(codes, 0x00080100, encodings).strip() == _SUBJECT_BIRTH_DATE:
            return True
    return False


def _unlisted(elem: Elem, ctx: _Context, mode: int, encodings: tuple[str, ...]) -> Elem | None:
    vr = elem.vr
    if elem.items is not None:
        return _recurse(elem, ctx, mode, encodings)
    if vr == "PN":
        return _set(elem, _DUMMY_BYTES["PN"])
    if vr in _FREE_TEXT_VRS:
        return _dummy(elem) if mode == STRICT else _clean(elem, ctx, encodings)
    if vr in _SHORT_TEXT_VRS or elem.tag == _CONTENT_LABEL:
        # Code meanings, overlay labels and descriptions, content descriptions: free text
        # a RIS or a user wrote ("CT chest (dr. yu)"), cleaned at every depth. Codes and
        # the device's own names are kept as written.
        if elem.tag not in CODE_TAGS and elem.tag not in _ALWAYS_KEPT_DEVICE:
            return _clean(elem, ctx, encodings)
        return elem
    if vr == "UI":
        if not ctx.profile.retain_uids and not _is_well_known(elem):
            return _remap(elem, ctx)
    elif vr in ("DA", "DT") and not ctx.profile.retain_long_full_dates:
        if ctx.profile.retain_long_modified_dates:
            return _shift(elem, ctx)
        if mode != NORMAL:
            return _dummy(elem)
    return elem


def _apply(
    elem: Elem, action: str, ctx: _Context, mode: int, encodings: tuple[str, ...]
) -> Elem | None:
    if action == "X":
        return None
    is_sequence = elem.items is not None
    vr = elem.vr
    if action == "K":
        return _recurse(elem, ctx, mode, encodings) if is_sequence else elem
    if action == "Z":
        if is_sequence:
            elem.items = []
            return elem
        return _set(elem, b"")
    if action == "D":
        if is_sequence:
            return _recurse(elem, ctx, STRICT, encodings)
        return _remap(elem, ctx) if vr == "UI" else _dummy(elem)
    if action == "U":
        # No U row names a sequence; one would still have every UID inside remapped.
        return _recurse(elem, ctx, mode, encodings) if is_sequence else _remap(elem, ctx)
    if action == "R":
        if is_sequence:
            return _recurse(elem, ctx, mode, encodings)
        return _remap(elem, ctx) if vr == "UI" else _set(elem, b"")
    return _apply_clean(elem, ctx, encodings)


def _apply_clean(elem: Elem, ctx: _Context, encodings: tuple[str, ...]) -> Elem | None:
    profile = ctx.profile
    vr = elem.vr
    if elem.items is not None:
        return _recurse(elem, ctx, CLEAN, encodings)
    if vr in ("DA", "DT"):
        if profile.retain_long_modified_dates:
            return _shift(elem, ctx)
        if not profile.retain_long_full_dates:
            return _dummy(elem)
    elif vr == "TM":
        # Whole-day shifts leave times of day unchanged.
        if not (profile.retain_long_modified_dates or profile.retain_long_full_dates):
            return _dummy(elem)
    elif vr == "PN":
        return _set(elem, _DUMMY_BYTES["PN"])
    elif vr == "UI":
        return _remap(elem, ctx)
    elif vr in _CLEANABLE_VRS or vr in ("OB", "UN"):
        return _clean(elem, ctx, encodings)
    # Numbers, codes and binary of known VR carry no free text: kept.
    return elem


# --- element operations -----------------------------------------------------------------


def _set(elem: Elem, value: bytes) -> Elem:
    elem.value = value
    elem.undefined = False
    return elem


def _dummy(elem: Elem) -> Elem:
    return _set(elem, _DUMMY_BYTES.get(elem.vr, b"\x00\x00"))


def _clean(elem: Elem, ctx: _Context, encodings: tuple[str, ...]) -> Elem | None:
    texts = decode_texts(elem.value, elem.vr, encodings)
    if not texts:
        return None  # binary or undecodable text cannot be cleaned
    cleaned = [c for c in (clean_with(ctx.scanner, t) for t in texts if t) if c]
    if cleaned == texts:
        return elem  # unchanged: written back byte for byte
    if not cleaned:
        return None
    return _set(elem, encode_text(cleaned, elem.vr, encodings))


@lru_cache(maxsize=4096)
def _names_a_class(tag: int) -> bool:
    keyword = keyword_for_tag(tag)
    return any(part in keyword for part in ("Class", "TransferSyntax", "CodingScheme", "Context"))


def _is_well_known(elem: Elem) -> bool:
    if _names_a_class(elem.tag):
        return True
    return all(v in UID_dictionary for v in decode_texts(elem.value, "UI", ()) if v)


def _remap(elem: Elem, ctx: _Context) -> Elem:
    if not elem.value:
        return elem
    remap = ctx.key.remap_uid
    if elem.vr != "UI":  # a UID the encoding does not call one: remapped whole
        return _set(elem, encode_text([remap(elem.value.decode("ascii", "replace"))], "UI", ()))
    values = decode_texts(elem.value, "UI", ())
    if len(values) == 1:
        if not values[0]:
            return elem
        return _set(elem, encode_text([remap(values[0])], "UI", ()))
    return _set(elem, encode_text([remap(v) for v in values if v], "UI", ()))


def _shift(elem: Elem, ctx: _Context) -> Elem:
    vr = elem.vr
    texts = decode_texts(elem.value, vr, ())
    shifted = [_shift_one(t.strip(), vr, ctx.shift_days) for t in texts if t.strip()]
    return _set(elem, encode_text(shifted, vr, ())) if shifted else elem


def _shift_one(text: str, vr: str, days: int) -> str:
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return str(DUMMY_VALUES[vr])  # partial or malformed dates cannot be shifted
    moved = (day + timedelta(days=days)).strftime("%Y%m%d")
    return moved if vr == "DA" else moved + text[8:]


# --- file meta, encoding ----------------------------------------------------------------


def _file_meta(meta: list[Elem], body: list[Elem], syntax: str) -> list[Elem]:
    """Return the output's file meta (PS3.10 7.1), as pydicom's writer completes it."""
    out = {e.tag: e for e in meta if e.tag not in _META_REMOVED}
    top = {e.tag: e for e in body}
    if 0x00020010 not in out:
        out[0x00020010] = _new(0x00020010, "UI", [syntax], ())
    for meta_tag, tag in ((0x00020002, 0x00080016), (0x00020003, 0x00080018)):
        elem = top.get(tag)
        if elem is not None and elem.items is None and elem.value.strip(b"\x00 "):
            out[meta_tag] = Elem(meta_tag, "UI", b"UI", elem.value)
    if not out.get(0x00020001, Elem(0, "OB", b"OB")).value:
        out[0x00020001] = Elem(0x00020001, "OB", b"OB", b"\x00\x01")
    if not out.get(0x00020012, Elem(0, "UI", b"UI")).value.strip(b"\x00 "):
        out[0x00020012] = _new(0x00020012, "UI", [PYDICOM_IMPLEMENTATION_UID], ())
    if 0x00020013 not in out:
        out[0x00020013] = _new(0x00020013, "SH", [f"PYDICOM {'.'.join(__version_info__)}"], ())
    for required in (0x00020002, 0x00020003, 0x00020010):
        if required not in out or not out[required].value.strip(b"\x00 "):
            raise ValueError(f"file meta lacks ({required >> 16:04X},{required & 0xFFFF:04X})")
    return sorted(out.values(), key=_TAG)


def _encode(meta: list[Encoded], body: list[Encoded], syntax: _Syntax) -> tuple[bytes, bytes]:
    """Return the Part 10 file, and the bytes the gate scans (pixel data aside)."""
    meta_parts: list[bytes] = []
    emit_encoded(meta, meta_parts, implicit=False)
    meta_bytes = b"".join(meta_parts)
    group_length = struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(meta_bytes))
    head = b"".join([bytes(128), b"DICM", group_length, meta_bytes])
    index = next((i for i, (e, _) in enumerate(body) if e.tag == _PIXEL_DATA), len(body))
    parts: list[bytes] = []
    emit_encoded(body[:index], parts, implicit=syntax.implicit, little=syntax.little)
    pixel_at = len(parts) + 1  # after the pixel data header
    emit_encoded(body[index:], parts, implicit=syntax.implicit, little=syntax.little)
    dataset = b"".join(parts)
    if index < len(body) and len(parts[pixel_at]) > 64:
        # Pixel data is not scanned (burned-in text has its own rules); a tiny value is.
        parts[pixel_at] = b""
        scanned = head + b"".join(parts)
    else:
        scanned = head + dataset
    if syntax.deflated:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        dataset = compressor.compress(dataset) + compressor.flush()
        if len(dataset) % 2:
            dataset += b"\x00"
    return head + dataset, scanned


def _replace_contents(target: Dataset, source: Dataset) -> None:
    target.clear()
    tags = list(source.keys())  # iterating the dataset itself would convert every value
    for tag in tags:
        target[tag] = source.get_item(tag)
    target.file_meta = source.file_meta
    target.preamble = source.preamble
    implicit, little = source.original_encoding
    target.set_original_encoding(implicit, little, source.original_character_set)
