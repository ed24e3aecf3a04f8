"""Fast construction of pydicom Datasets and SR content items for the synthetic fleet.

Setting attributes by keyword (``ds.PatientName = ...``) runs pydicom's lookups and
validation on every element, which made a dose report cost milliseconds. The fleet builds
hundreds of elements per study, so here each keyword's tag and VR are looked up once and
elements go straight into the dataset (the values are ours and known to be valid).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.valuerep import IS, DSfloat, PersonName

from medcoop.sim.codes import UNITS, Code

__all__ = ["SrWriter", "dataset", "fmt_ds", "new", "put", "put_seq"]

_NO_VALIDATION = 0


class _Blueprint:
    """Makes pydicom objects by copying a blueprint's attributes instead of running __init__.

    ``Dataset()`` runs a dozen validated attribute assignments; a study builds hundreds of
    datasets, so this copies the attributes of one normally built object instead (dicts
    copied, so no two objects share state). The layout is checked against a normally built
    object at import time; on any difference the real constructor is used.
    """

    def __init__(self, model: object) -> None:
        self._cls = type(model)
        self._state = dict(vars(model))
        self._mutable = tuple(k for k, v in self._state.items() if isinstance(v, dict | list))

    def make(self, **state: object) -> Any:
        obj = object.__new__(self._cls)
        attrs = obj.__dict__
        attrs.update(self._state)
        for key in self._mutable:
            attrs[key] = type(self._state[key])(self._state[key])
        attrs.update(state)
        return obj


_DATASET = _Blueprint(Dataset())
_ELEMENT = _Blueprint(DataElement(0x00100010, "PN", "", already_converted=True))
_SEQUENCE = _Blueprint(Sequence())


def _blueprints_match() -> bool:
    element = _ELEMENT.make(tag=BaseTag(0x00100010), VR="PN", _value="")
    return (
        vars(_DATASET.make()) == vars(Dataset())
        and vars(element) == vars(DataElement(0x00100010, "PN", "", already_converted=True))
        and vars(_SEQUENCE.make(_list=[])) == vars(Sequence())
    )


_FAST = _blueprints_match()


def dataset() -> Dataset:
    return _DATASET.make() if _FAST else Dataset()


def _element(tag: BaseTag, vr: str, value: Any) -> DataElement:
    if _FAST:
        return _ELEMENT.make(tag=tag, VR=vr, _value=value)  # type: ignore[no-any-return]
    return DataElement(tag, vr, value, already_converted=True)


def _sequence(items: Iterable[Dataset]) -> Sequence:
    if _FAST:
        listed = list(items)
        if all(isinstance(item, Dataset) for item in listed):
            return _SEQUENCE.make(_list=listed)  # type: ignore[no-any-return]
    return Sequence(items)


#: Ambiguous dictionary VRs resolved for what the fleet writes (16-bit unsigned pixels).
_RESOLVED_VR = {"OB or OW": "OW", "US or SS": "US", "US or SS or OW": "US", "US or OW": "US"}


@cache
def _tag_vr(keyword: str) -> tuple[BaseTag, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"unknown DICOM keyword {keyword!r}")
    vr = dictionary_VR(tag)
    return BaseTag(tag), _RESOLVED_VR.get(vr, vr)


_BINARY_FLOAT_VRS = frozenset({"FD", "FL"})
_BINARY_INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})


def put(ds: Dataset, keyword: str, value: Any) -> None:
    """Set the element named ``keyword`` in ``ds`` to ``value`` without validation.

    Binary numbers (FD, US...) are coerced here because, unvalidated, a string would only
    fail later, when the dataset is written.
    """
    tag, vr = _tag_vr(keyword)
    if isinstance(value, str):
        if vr in _BINARY_FLOAT_VRS:
            value = float(value)
        elif vr in _BINARY_INT_VRS:
            value = int(value)
        elif vr == "DS":
            value = DSfloat(value)
        elif vr == "IS":
            value = IS(value)
        elif vr == "PN":
            value = PersonName(value)
    elif isinstance(value, (int, float)) and vr in {"IS", "DS"}:
        value = IS(value) if vr == "IS" else DSfloat(fmt_ds(value))
    elif value is None or isinstance(value, list):
        # empty values and multi-valued ones take pydicom's own conversion
        ds._dict[tag] = DataElement(tag, vr, value, validation_mode=_NO_VALIDATION)
        return
    ds._dict[tag] = _element(tag, vr, value)


def put_seq(ds: Dataset, keyword: str, items: Iterable[Dataset]) -> None:
    """Set the sequence named ``keyword`` in ``ds`` to ``items``."""
    tag, _ = _tag_vr(keyword)
    ds._dict[tag] = _element(tag, "SQ", _sequence(items))


def new(**elements: Any) -> Dataset:
    """Return a new Dataset holding ``elements`` (keyword → value; lists of Datasets are SQ)."""
    ds = dataset()
    for keyword, value in elements.items():
        if value is None:
            continue
        if isinstance(value, list) and (not value or isinstance(value[0], Dataset)):
            put_seq(ds, keyword, value)
        else:
            put(ds, keyword, value)
    return ds


def fmt_ds(value: float) -> str:
    """Format ``value`` as a Decimal String (at most 16 characters, no float noise)."""
    text = format(value, ".10g")
    if len(text) > 16:
        text = format(value, ".8g")
    return text


def dicom_dt(moment: datetime) -> str:
    """Format a naive local datetime as DICOM DT (no offset)."""
    return moment.strftime("%Y%m%d%H%M%S.%f")[:-3]


class SrWriter:
    """Builds SR content items in one vendor's spelling.

    Parameters
    ----------
    meaning_case : str
        ``"standard"``, ``"upper"`` or ``"lower"``: how this vendor spells concept names'
        CodeMeaning (code values never change, so a code-value walker reads them all).
    """

    def __init__(self, meaning_case: str = "standard") -> None:
        self._meaning_case = meaning_case

    def code(self, code: Code, *, concept: bool = False) -> Dataset:
        """Return a code sequence item for ``code``."""
        meaning = code.meaning
        if concept and self._meaning_case == "upper":
            meaning = meaning.upper()
        elif concept and self._meaning_case == "lower":
            meaning = meaning.lower()
        ds = dataset()
        put(ds, "CodeValue", code.value)
        put(ds, "CodingSchemeDesignator", code.scheme)
        put(ds, "CodeMeaning", meaning)
        return ds

    def _item(self, relationship: str | None, value_type: str, concept: Code) -> Dataset:
        ds = dataset()
        if relationship is not None:
            put(ds, "RelationshipType", relationship)
        put(ds, "ValueType", value_type)
        put_seq(ds, "ConceptNameCodeSequence", [self.code(concept, concept=True)])
        return ds

    def container(
        self, relationship: str | None, concept: Code, children: Iterable[Dataset]
    ) -> Dataset:
        """Return a CONTAINER item holding ``children``."""
        ds = self._item(relationship, "CONTAINER", concept)
        put(ds, "ContinuityOfContent", "SEPARATE")
        put_seq(ds, "ContentSequence", children)
        return ds

    def num(self, relationship: str, concept: Code, value: float, unit: str) -> Dataset:
        """Return a NUM item: ``value`` in UCUM ``unit`` (a key of :data:`codes.UNITS`)."""
        ds = self._item(relationship, "NUM", concept)
        measured = dataset()
        put(measured, "NumericValue", fmt_ds(value))
        put_seq(measured, "MeasurementUnitsCodeSequence", [self.code(UNITS[unit])])
        put_seq(ds, "MeasuredValueSequence", [measured])
        return ds

    def coded(self, relationship: str, concept: Code, value: Code) -> Dataset:
        """Return a CODE item whose value is ``value``."""
        ds = self._item(relationship, "CODE", concept)
        put_seq(ds, "ConceptCodeSequence", [self.code(value)])
        return ds

    def text(self, relationship: str, concept: Code, value: str) -> Dataset:
        """Return a TEXT item."""
        ds = self._item(relationship, "TEXT", concept)
        put(ds, "TextValue", value)
        return ds

    def uidref(self, relationship: str, concept: Code, uid: str) -> Dataset:
        """Return a UIDREF item."""
        ds = self._item(relationship, "UIDREF", concept)
        put(ds, "UID", uid)
        return ds

    def datetime(self, relationship: str, concept: Code, moment: datetime) -> Dataset:
        """Return a DATETIME item (naive local time, as devices write it)."""
        ds = self._item(relationship, "DATETIME", concept)
        put(ds, "DateTime", dicom_dt(moment))
        return ds

    def pname(self, relationship: str, concept: Code, name: str) -> Dataset:
        """Return a PNAME item."""
        ds = self._item(relationship, "PNAME", concept)
        put(ds, "PersonName", name)
        return ds
