"""The one list of attributes whose values identify a patient, a person or a place.

Derived from PS3.15 Table E.1-1 by a stated rule (:func:`_classify`) and used by the
extraction's identifying values (:mod:`medcoop.dicom.identity`), the de-identification
engine's gate and the edge's residual check alike, so that none can be weaker than another.
A module of its own, with no pydantic or extraction code behind it, so that
``medcoop deid`` imports only what it uses.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from pydicom.datadict import dictionary_VR, keyword_for_tag

__all__ = ["IDENTIFYING_TAGS", "INSTITUTION_TAGS", "PATIENT_IDENTIFYING_TAGS"]

#: Words in an attribute's keyword that say its value names or identifies someone or a place.
_IDENTIFYING_WORDS = re.compile(
    r"(?:ID|IDs|Number|Numbers|Address|Telephone|Telecom|Locator|Rank|Residence|Organization"
    r"|Institution|Department|Issuer|Identification|Name|Names|BirthDate)(?![a-z])"
)
#: Keywords that describe, label or date something rather than identify it.
_DESCRIPTIVE_WORDS = re.compile(r"Description|Comment|Label|Date|Time|UID|Flag|Type|Code|Sequence")
#: The VRs an identifying value is written in (PN always identifies).
_IDENTIFYING_VRS = frozenset({"LO", "SH", "UC", "LT", "ST", "UT", "DA", "IS"})
#: Table E.1-1, packaged with the de-identification engine (read here, not imported: the
#: engine depends on this package, not the other way round).
_TABLE = Path(__file__).resolve().parents[1] / "deid" / "data" / "table_e1_1.csv"


def _classify(row: dict[str, str]) -> str | None:
    """``"identifying"``, ``"institution"`` or ``None`` for one row of Table E.1-1.

    The rule, applied to the standard's own table: an attribute identifies when the Basic
    Profile removes or replaces it (X, Z, D and their combinations; not K, C or U), its
    value is a person name, or its keyword says it holds an ID, number, address,
    telephone, name, issuer, organisation, residence or the birth date, and it is neither
    a descriptor (Clean Descriptors cleans those: protocol and structure names) nor
    device identity (Retain Device Identity keeps those: hospital equipment).
    Attributes Retain Institution Identity keeps are institution identity.
    """
    tag_id = row["id"]
    if not tag_id or "x" in tag_id or row["basicProfile"] in ("K", "C", "U"):
        return None
    if row["rtnDevIdOpt"] == "K" or row["cleanDescOpt"] == "C":
        return None
    tag = int(tag_id, 16)
    try:
        vr, keyword = dictionary_VR(tag), keyword_for_tag(tag)
    except KeyError:  # rows newer than pydicom's dictionary
        return None
    if vr != "PN":
        if vr not in _IDENTIFYING_VRS or not _IDENTIFYING_WORDS.search(keyword):
            return None
        if _DESCRIPTIVE_WORDS.search(keyword.replace("BirthDate", "")):
            return None
    return "institution" if row["rtnInstIdOpt"] == "K" else "identifying"


@cache
def _derived() -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {"identifying": [], "institution": []}
    with _TABLE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            kind = _classify(row)
            if kind is not None:
                found[kind].append(int(row["id"], 16))
    return {kind: tuple(sorted(tags)) for kind, tags in found.items()}


#: The one list of attributes whose values identify a patient, a person or a place, derived
#: from PS3.15 Table E.1-1 by :func:`_classify` (used by the extraction, the
#: de-identification engine's gate and the edge's residual check alike).
PATIENT_IDENTIFYING_TAGS: tuple[int, ...] = _derived()["identifying"]
#: Institution identity (identifying unless a profile retains institution identity).
INSTITUTION_TAGS: tuple[int, ...] = _derived()["institution"]
IDENTIFYING_TAGS: tuple[int, ...] = PATIENT_IDENTIFYING_TAGS + INSTITUTION_TAGS
