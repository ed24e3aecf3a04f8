"""Exam types: the like-for-like groups that DRLs, benchmarks and alerts compare within.

A study is mapped to one exam type from its modality and its coded or cleaned text
(procedure code, study description, event protocols, target regions). Matching is by
word patterns on normalised text, most specific type first (``CTPA`` before ``chest``,
``chest-abdomen-pelvis`` before ``abdomen-pelvis``), because vendors and sites spell the
same examination many ways. A study that matches nothing has no exam type: it is left
out of DRL comparisons rather than guessed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from medcoop.records import StudyRecord

__all__ = ["EXAM_TYPES", "ExamType", "classify_record", "classify_text", "exam_type"]


@dataclass(frozen=True, slots=True)
class ExamType:
    """A group of examinations compared like with like."""

    key: str
    modality: str  # "CT", "DX" (projection radiography, CR and DX alike) or "MG"
    label: str
    body_region: str
    patterns: tuple[str, ...]


def _ct(key: str, label: str, region: str, *patterns: str) -> ExamType:
    return ExamType(key, "CT", label, region, patterns)


def _dx(key: str, label: str, region: str, *patterns: str) -> ExamType:
    return ExamType(key, "DX", label, region, patterns)


def _mg(key: str, label: str, *patterns: str) -> ExamType:
    return ExamType(key, "MG", label, "breast", patterns)


#: Most specific first: the first match wins.
EXAM_TYPES: tuple[ExamType, ...] = (
    _ct("ct_ctpa", "CT pulmonary angiography", "chest", r"\bctpa\b", r"pulmonary angio", r"\bpe\b"),
    _ct("ct_coronary", "Coronary CT angiography", "chest", r"coronary", r"\bccta\b", r"cardiac"),
    _ct("ct_colonography", "CT colonography", "abdomen", r"colonog", r"virtual colon"),
    _ct("ct_urogram", "CT urogram", "abdomen", r"urogra"),
    _ct("ct_kub", "Kidneys, ureters, bladder", "abdomen", r"\bkub\b", r"kidneys? ureters?"),
    _ct(
        "ct_neck_chest_abdomen_pelvis",
        "Neck, chest, abdomen and pelvis",
        "whole body",
        r"neck\W+(?:\w+\W+)?chest\W+(?:\w+\W+)?abdo",
    ),
    _ct(
        "ct_chest_abdomen_pelvis",
        "Chest, abdomen and pelvis",
        "chest abdomen pelvis",
        r"\bcap\b",
        r"(?:chest|thorax)\W+(?:and\W+)?abdo\w*\W+(?:and\W+)?pelv",
    ),
    _ct(
        "ct_chest_abdomen",
        "Chest and abdomen",
        "chest abdomen",
        r"(?:chest|thorax)\W+(?:and\W+)?abdo",
    ),
    _ct("ct_chest_hr", "High-resolution chest", "chest", r"\bhrct\b", r"high\W+res"),
    _ct("ct_abdomen_pelvis", "Abdomen and pelvis", "abdomen pelvis", r"abdo\w*\W+(?:and\W+)?pelv"),
    _ct("ct_sinus", "Paranasal sinuses", "head", r"sinus"),
    _ct("ct_cspine", "Cervical spine", "neck", r"c\W?spine", r"cervical"),
    _ct("ct_lumbar_spine", "Lumbar spine", "abdomen", r"l\W?spine", r"lumbar"),
    _ct("ct_head", "Head", "head", r"\bhead\b", r"\bbrain\b", r"cranial", r"encephal", r"stroke"),
    _ct("ct_chest", "Chest", "chest", r"\bchest\b", r"thorax", r"\blungs?\b"),
    _ct("ct_abdomen", "Abdomen", "abdomen", r"\babdo"),
    _dx("dx_chest_lat", "Chest lateral", "chest", r"(?:chest|thorax)\W+lat"),
    _dx("dx_chest_pa", "Chest PA", "chest", r"\bchest\b", r"thorax"),
    _dx("dx_abdomen_ap", "Abdomen AP", "abdomen", r"\babdo"),
    _dx("dx_pelvis_ap", "Pelvis AP", "pelvis", r"pelvis", r"bassin"),
    _dx("dx_hip", "Hip", "pelvis", r"\bhips?\b", r"hanche"),
    _dx("dx_cspine", "Cervical spine", "neck", r"c\W?spine", r"cervical"),
    _dx("dx_tspine_lat", "Thoracic spine lateral", "chest", r"(?:t\W?spine|thoracic)\W+\w*\W*lat"),
    _dx("dx_tspine_ap", "Thoracic spine AP", "chest", r"t\W?spine", r"thoracic spine"),
    _dx("dx_lspine_lat", "Lumbar spine lateral", "abdomen", r"(?:l\W?spine|lumbar)\W+\w*\W*lat"),
    _dx("dx_lspine_ap", "Lumbar spine AP", "abdomen", r"l\W?spine", r"lumbar"),
    _dx("dx_opg", "Orthopantomography", "head", r"\bopg\b", r"orthopan", r"panoram"),
    _mg("mg_screening", "Screening mammography", r"screen", r"\bmgscr\b"),
    _mg("mg_diagnostic", "Diagnostic mammography", r"mammo", r"breast", r"\btomo", r"\bdbt\b"),
)

_BY_KEY = {t.key: t for t in EXAM_TYPES}
_COMPILED = tuple((t, tuple(re.compile(p) for p in t.patterns)) for t in EXAM_TYPES)
_PROJECTION_MODALITIES = frozenset({"DX", "CR", "DR"})


def exam_type(key: str) -> ExamType:
    """Return the exam type with this key.

    Raises
    ------
    KeyError
        If no exam type has this key.
    """
    return _BY_KEY[key]


@functools.lru_cache(maxsize=16384)
def _normalise(text: str) -> str:
    return re.sub(r"[_\s]+", " ", text.lower()).strip()


def classify_text(modality: str, texts: Iterable[str | None]) -> ExamType | None:
    """Return the first exam type of ``modality`` whose patterns match any of ``texts``."""
    return _classify(modality, tuple(t for t in texts if t))


# Sites repeat the same descriptions and protocols all day: ingest classifies every study.
@functools.lru_cache(maxsize=16384)
def _classify(modality: str, texts: tuple[str, ...]) -> ExamType | None:
    family = "DX" if modality.upper() in _PROJECTION_MODALITIES else modality.upper()
    joined = " | ".join(_normalise(t) for t in texts)
    if not joined:
        return None
    for candidate, patterns in _COMPILED:
        if candidate.modality == family and any(p.search(joined) for p in patterns):
            return candidate
    return None


def classify_record(record: StudyRecord) -> ExamType | None:
    """Return the exam type of a study record, or ``None`` when nothing matches.

    The procedure code and study description speak for the whole exam, so they are tried
    first; the events' protocols and target regions only when those say nothing.
    """
    found = classify_text(record.modality, (record.procedure_code, record.study_description))
    if found is not None:
        return found
    texts = [e.protocol for e in record.events] + [e.target_region for e in record.events]
    return classify_text(record.modality, [*texts, record.usage.performed_protocol])
