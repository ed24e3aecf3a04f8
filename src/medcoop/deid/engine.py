"""The de-identification engine: applies the resolved Table E.1-1 actions to a dataset.

:class:`Deidentifier` walks a dataset once, at every sequence depth, looking each tag up
in the profile's precomputed action table (:mod:`medcoop.deid.table`). Elements the
table does not list are handled by VR (person names replaced, long free text cleaned,
instance UIDs remapped, dates per the temporal option). Then it writes the
de-identification attributes, encodes the result and scans it for residual identifiers
of the input: any hit withholds the object. Errors are values here: the caller gets
:class:`Deidentified` or :class:`Withheld`, never an exception for a bad object.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, timedelta
from io import BytesIO

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UID_dictionary

from medcoop import __version__
from medcoop.deid.pixels import apply_pixel_rule, burned_in_reason, find_rule
from medcoop.deid.private import keep_safe_private
from medcoop.deid.profile import Profile, load_profile
from medcoop.deid.pseudonym import SiteKey
from medcoop.deid.residuals import (
    DUMMY_TEXT,
    clean_text,
    identifying_values,
    peek,
    verify_encoded,
)
from medcoop.deid.table import ActionTable, compile_actions, table_edition

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
_FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UC"})
_SHORT_TEXT_VRS = frozenset({"LO", "SH"})
_CLEANABLE_VRS = _FREE_TEXT_VRS | _SHORT_TEXT_VRS | {"CS", "AE", "UR"}
#: Code identifiers (Code Value, Coding Scheme Designator and Version, Long and URN Code
#: Value, Context Identifier, Mapping Resource): coded, not free text, never cleaned.
_CODE_TAGS = frozenset(
    {0x00080100, 0x00080102, 0x00080103, 0x00080119, 0x00080120, 0x0008010F, 0x00080105}
)
_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)

# Walk modes: how elements the table does not list are treated inside a sequence.
NORMAL, STRICT, CLEAN, META = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Deidentified:
    """A de-identified object that passed the residual scan.

    Attributes
    ----------
    dataset : pydicom.Dataset
        The de-identified dataset.
    payload : bytes
        The dataset encoded as a DICOM file (Part 10), ready to write or send.
    pseudonym : str
        The patient's keyed pseudonym (also written as Patient ID).
    methods : tuple[str, ...]
        CID 7050 code values applied (113100 first).
    """

    dataset: Dataset
    payload: bytes
    pseudonym: str
    methods: tuple[str, ...]


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
    retained: frozenset[str] = frozenset()


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

    def deidentify(self, ds: Dataset, *, in_place: bool = False) -> Deidentified | Withheld:
        """Return the de-identified object, or why it is withheld.

        Parameters
        ----------
        ds : pydicom.Dataset
            The original object (left untouched unless ``in_place``).
        in_place : bool, optional
            Modify ``ds`` itself (saves a copy when the caller no longer needs it).
        """
        try:
            return self._deidentify(ds if in_place else copy.deepcopy(ds))
        except Exception as exc:  # a malformed object is withheld, never passed on
            return Withheld(f"could not de-identify: {type(exc).__name__}")

    def _deidentify(self, ds: Dataset) -> Deidentified | Withheld:
        include_institution = not self.profile.retain_institution_identity
        values = identifying_values(ds, include_institution=include_institution)
        # A patient field that repeats the device's own name is not a patient identifier.
        retained = _device_values(ds, self.profile.retain_device_identity)
        pseudonym = self._pseudonym(ds)
        pixels_cleaned = False
        reason = burned_in_reason(ds)
        if reason is not None:
            rule = find_rule(ds, self.profile.pixel_rules) if "PixelData" in ds else None
            if rule is None:
                return Withheld(reason)
            failure = apply_pixel_rule(ds, rule)
            if failure is not None:
                return Withheld(failure)
            pixels_cleaned = True
        ctx = _Context(
            self.table,
            self.profile,
            self.key,
            values,
            self.key.date_shift_days(pseudonym),
            retained,
        )
        _walk(ds, ctx, NORMAL)
        if getattr(ds, "file_meta", None) is not None:
            _walk(ds.file_meta, ctx, META)
        self._mark(ds, pseudonym, pixels_cleaned)
        payload = _encode(ds)
        dates_retained = (
            self.profile.retain_long_full_dates or self.profile.retain_long_modified_dates
        )
        hits = verify_encoded(values, ds, payload, dates_retained=dates_retained, retained=retained)
        if hits:
            where = ", ".join(f"{hit.kind} at {hit.path}" for hit in hits[:5])
            more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
            return Withheld(f"residual identifier: {where}{more}")
        codes = tuple(code for code, _ in self.profile.method_codes(pixels_cleaned=pixels_cleaned))
        return Deidentified(ds, payload, pseudonym, codes)

    def _pseudonym(self, ds: Dataset) -> str:
        patient_id = str(ds.get("PatientID", "") or "").strip()
        if patient_id:
            return self.key.patient_pseudonym(
                patient_id, str(ds.get("IssuerOfPatientID", "") or "")
            )
        # No ID: name and birth date together are the best stable key there is.
        fallback = f"{ds.get('PatientName', '')}\x1f{ds.get('PatientBirthDate', '')}"
        return self.key.pseudonym("patient-without-id", fallback)

    def _mark(self, ds: Dataset, pseudonym: str, pixels_cleaned: bool) -> None:
        ds.PatientID = pseudonym
        ds.PatientName = f"ANON^{pseudonym[:16].upper()}"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self._method_text
        items = []
        for code, meaning in self.profile.method_codes(pixels_cleaned=pixels_cleaned):
            item = Dataset()
            item.CodeValue = code
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if self.profile.retain_long_full_dates:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif self.profile.retain_long_modified_dates:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            for tag in _META_REMOVED:
                if tag in meta:
                    del meta[tag]
            if "SOPInstanceUID" in ds:
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


#: Kept by every profile (the table does not list them).
_ALWAYS_KEPT_DEVICE = ("Manufacturer", "ManufacturerModelName")
#: Kept under Retain Device Identity.
_DEVICE_IDENTITY = ("StationName", "DeviceSerialNumber", "SoftwareVersions")


def _device_values(ds: Dataset, device_identity: bool) -> frozenset[str]:
    found: set[str] = set()
    keywords = _ALWAYS_KEPT_DEVICE + (_DEVICE_IDENTITY if device_identity else ())
    for keyword in keywords:
        value = ds.get(keyword)
        if value:
            items = value if isinstance(value, MultiValue) else [value]
            found.update(str(v).strip() for v in items)
    return frozenset(found)


# --- the walk ---------------------------------------------------------------------------


def _walk(ds: Dataset, ctx: _Context, mode: int) -> None:
    private: list[int] = []
    for tag in list(ds.keys()):
        t = int(tag)
        if (t >> 16) & 1:
            private.append(t)
        elif t & 0xFFFF == 0 or (t >> 16 == 0x0002 and mode != META):
            del ds[tag]  # group lengths, and file meta elements misplaced in the dataset
        else:
            action = ctx.table.action_for(t)
            if action is None:
                _unlisted(ds, t, ctx, mode)
            else:
                _apply(ds, t, action, ctx, mode)
    if private:
        doomed = private if ctx.table.private == "X" else keep_safe_private(ds, private)
        for t in doomed:
            del ds[t]


def _vr(ds: Dataset, tag: int) -> str:
    vr = ds.get_item(tag).VR
    if vr:
        return str(vr)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _recurse(ds: Dataset, tag: int, ctx: _Context, mode: int) -> None:
    for item in ds[tag].value or ():
        _walk(item, ctx, mode)


def _unlisted(ds: Dataset, tag: int, ctx: _Context, mode: int) -> None:
    vr = _vr(ds, tag)
    if vr == "SQ":
        _recurse(ds, tag, ctx, mode)
    elif vr == "PN":
        _set(ds, tag, vr, DUMMY_TEXT)
    elif vr in _FREE_TEXT_VRS:
        _dummy(ds, tag, vr) if mode == STRICT else _clean(ds, tag, ctx)
    elif vr in _SHORT_TEXT_VRS and mode != NORMAL and tag not in _CODE_TAGS:
        _clean(ds, tag, ctx)
    elif vr == "UI":
        if not ctx.profile.retain_uids and not _is_well_known(ds, tag):
            _remap(ds, tag, ctx)
    elif vr in ("DA", "DT") and not ctx.profile.retain_long_full_dates:
        if ctx.profile.retain_long_modified_dates:
            _shift(ds, tag, vr, ctx)
        elif mode != NORMAL:
            _dummy(ds, tag, vr)


def _apply(ds: Dataset, tag: int, action: str, ctx: _Context, mode: int) -> None:
    if action == "X":
        del ds[tag]
        return
    vr = _vr(ds, tag)
    if action == "K":
        if vr == "SQ":
            _recurse(ds, tag, ctx, mode)
    elif action == "Z":
        _set(ds, tag, vr, Sequence() if vr == "SQ" else None)
    elif action == "D":
        if vr == "SQ":
            _recurse(ds, tag, ctx, STRICT)
        elif vr == "UI":
            _remap(ds, tag, ctx)
        else:
            _dummy(ds, tag, vr)
    elif action == "U":
        _remap(ds, tag, ctx)
    elif action == "R":
        if vr == "SQ":
            _recurse(ds, tag, ctx, mode)
        elif vr == "UI":
            _remap(ds, tag, ctx)
        else:
            _set(ds, tag, vr, None)
    else:
        _apply_clean(ds, tag, vr, ctx)


def _apply_clean(ds: Dataset, tag: int, vr: str, ctx: _Context) -> None:
    profile = ctx.profile
    if vr == "SQ":
        _recurse(ds, tag, ctx, CLEAN)
    elif vr in ("DA", "DT"):
        if profile.retain_long_modified_dates:
            _shift(ds, tag, vr, ctx)
        elif not profile.retain_long_full_dates:
            _dummy(ds, tag, vr)
    elif vr == "TM":
        # Whole-day shifts leave times of day unchanged.
        if not (profile.retain_long_modified_dates or profile.retain_long_full_dates):
            _dummy(ds, tag, vr)
    elif vr == "PN":
        _set(ds, tag, vr, DUMMY_TEXT)
    elif vr == "UI":
        _remap(ds, tag, ctx)
    elif vr in _CLEANABLE_VRS or vr in ("OB", "UN"):
        _clean(ds, tag, ctx)
    # Numbers, codes and binary of known VR carry no free text: kept.


# --- element operations -----------------------------------------------------------------


def _set(ds: Dataset, tag: int, vr: str, value: object) -> None:
    ds[tag] = DataElement(tag, vr, value)


def _dummy(ds: Dataset, tag: int, vr: str) -> None:
    _set(ds, tag, vr, DUMMY_VALUES.get(vr, b"\x00\x00"))


def _clean(ds: Dataset, tag: int, ctx: _Context) -> None:
    value = peek(ds, tag)
    if isinstance(value, bytes | bytearray):
        del ds[tag]  # undecodable text of unknown VR cannot be cleaned
        return
    texts = [str(v) for v in value] if isinstance(value, MultiValue) else [str(value or "")]
    cleaned = [
        c for c in (clean_text(t, ctx.values, retained=ctx.retained) for t in texts if t) if c
    ]
    if cleaned == texts:
        return  # unchanged: left raw, so it is written back byte for byte
    if not cleaned:
        del ds[tag]
    else:
        _set(ds, tag, _vr(ds, tag), cleaned if len(cleaned) > 1 else cleaned[0])


def _is_well_known(ds: Dataset, tag: int) -> bool:
    keyword = keyword_for_tag(tag)
    if any(part in keyword for part in ("Class", "TransferSyntax", "CodingScheme", "Context")):
        return True
    value = peek(ds, tag)
    values = value if isinstance(value, MultiValue) else [value]
    return all(str(v) in UID_dictionary for v in values if v)


def _remap(ds: Dataset, tag: int, ctx: _Context) -> None:
    elem = ds[tag]
    value = elem.value
    if not value:
        return
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii", "replace")
    if isinstance(value, MultiValue):
        elem.value = [ctx.key.remap_uid(str(v)) for v in value if v]
    else:
        elem.value = ctx.key.remap_uid(str(value))


def _shift(ds: Dataset, tag: int, vr: str, ctx: _Context) -> None:
    elem = ds[tag]
    value = elem.value
    texts = [str(v) for v in value] if isinstance(value, MultiValue) else [str(value or "")]
    shifted = [_shift_one(t.strip(), vr, ctx.shift_days) for t in texts if t.strip()]
    if shifted:
        elem.value = shifted if len(shifted) > 1 else shifted[0]


def _shift_one(text: str, vr: str, days: int) -> str:
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return str(DUMMY_VALUES[vr])  # partial or malformed dates cannot be shifted
    moved = (day + timedelta(days=days)).strftime("%Y%m%d")
    return moved if vr == "DA" else moved + text[8:]


def _encode(ds: Dataset) -> bytes:
    buffer = BytesIO()
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        ds.file_meta = meta if meta is not None else Dataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
