"""Exam-type classification from cleaned protocol and description text."""

from __future__ import annotations

import pytest

from medcoop.analytics.drl import load_national_drls
from medcoop.analytics.exam_types import classify_record, classify_text, exam_type

from .factories import ct_event, record


@pytest.mark.parametrize(
    ("modality", "text", "expected"),
    [
        ("CT", "CT HEAD WO CONTRAST", "ct_head"),
        ("CT", "Routine_Brain", "ct_head"),
        ("CT", "CTPA", "ct_ctpa"),
        ("CT", "Chest Abdomen Pelvis C+", "ct_chest_abdomen_pelvis"),
        ("CT", "Thorax/Abdomen", "ct_chest_abdomen"),
        ("CT", "Abdomen and pelvis", "ct_abdomen_pelvis"),
        ("CT", "KUB low dose", "ct_kub"),
        ("CT", "C-Spine trauma", "ct_cspine"),
        ("CT", "Chest", "ct_chest"),
        ("DX", "Chest PA", "dx_chest_pa"),
        ("CR", "Chest lateral", "dx_chest_lat"),
        ("DX", "L-spine lat", "dx_lspine_lat"),
        ("CT", "Elbow", None),
        ("MG", "Chest", None),
    ],
)
def test_classify_text(modality: str, text: str, expected: str | None) -> None:
    found = classify_text(modality, [text])
    assert (found.key if found else None) == expected


def test_description_wins_over_event_protocols() -> None:
    study = record(
        "5.1", description="CT Chest", events=(ct_event("5.1.1", 5, 100, protocol="Head"),)
    )
    assert classify_record(study) is not None and classify_record(study).key == "ct_chest"  # type: ignore[union-attr]
    undescribed = record("5.2", events=(ct_event("5.2.1", 5, 100, protocol="Head"),))
    assert classify_record(undescribed).key == "ct_head"  # type: ignore[union-attr]
    assert classify_record(record("5.3")) is None


def test_every_drl_row_names_a_known_exam_type() -> None:
    for entry in load_national_drls():
        assert exam_type(entry.exam_type).modality == entry.modality
