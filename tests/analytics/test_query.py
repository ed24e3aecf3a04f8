"""Study filters, flat rows with SSDE, sorting, CSV export and patient dose history."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta

import pytest

from medcoop.analytics.query import (
    ROW_COLUMNS,
    StudyQuery,
    dose_history,
    rows_to_csv,
    sort_rows,
    study_row,
)
from medcoop.records import DoseTotals, Sex

from .factories import ct_event, record

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _rows() -> list[dict]:
    studies = [
        record(
            "40.1",
            description="CT Chest",
            study_at=T0,
            age_years=70,
            sex=Sex.FEMALE,
            weight_kg=60,
            water_equivalent_diameter_cm=28,
            events=(
                ct_event("40.1.1", 10, 300, target_region="Chest"),
                ct_event("40.1.2", 6, 100, target_region="Chest"),
            ),
        ),
        record(
            "40.2",
            description="CT Head",
            study_at=T0 + timedelta(days=1),
            age_years=8,
            sex=Sex.MALE,
            events=(ct_event("40.2.1", 30, 500, ctdi_phantom="head16"),),
        ),
        record(
            "40.3",
            description="CT Abdomen and pelvis",
            age_years=45,
            events=(ct_event("40.3.1", 12, 600),),
        ),
    ]
    return [study_row(s, site_id="s1") for s in studies]


def test_row_has_every_column_and_ssde_for_sized_body_scans() -> None:
    chest, head, abdomen = _rows()
    assert tuple(chest) == ROW_COLUMNS
    assert chest["exam_type"] == "ct_chest" and chest["total_dlp_mgycm"] == 400
    assert chest["max_ctdivol_mgy"] == 10 and chest["events"] == 2
    assert chest["max_ssde_mgy"] == pytest.approx(10 * 3.704369 * math.exp(-0.03671937 * 28))
    assert head["max_ssde_mgy"] is None and abdomen["max_ssde_mgy"] is None


def test_filters() -> None:
    rows = _rows()

    def uids(query: StudyQuery) -> list[str]:
        return [r["study_uid"] for r in rows if query.matches(r)]

    assert uids(StudyQuery(max_age_years=17)) == [rows[1]["study_uid"]]
    assert uids(StudyQuery(sex="F", body_region="chest")) == [rows[0]["study_uid"]]
    assert uids(StudyQuery(from_at=T0, to_at=T0 + timedelta(days=1))) == [rows[0]["study_uid"]]
    assert uids(StudyQuery(min_diameter_cm=20)) == [rows[0]["study_uid"]]  # unknown size: out
    assert len(uids(StudyQuery(modality="CT", site_id="s1"))) == 3
    assert uids(StudyQuery(exam_type="ct_abdomen_pelvis")) == [rows[2]["study_uid"]]


def test_sort_keeps_missing_values_last_and_refuses_unknown_columns() -> None:
    rows = _rows()
    by_ssde = sort_rows(rows, "-max_ssde_mgy")
    assert by_ssde[0]["study_uid"] == rows[0]["study_uid"]
    assert [r["total_dlp_mgycm"] for r in sort_rows(rows, "-total_dlp_mgycm")] == [600, 500, 400]
    assert sort_rows(rows, "study_at")[-1]["study_at"] is None
    with pytest.raises(ValueError, match="cannot sort by"):
        sort_rows(rows, "patient_name")


def test_csv_round_trip() -> None:
    text = rows_to_csv(_rows())
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 3 and parsed[0]["study_at"] == T0.isoformat()
    assert parsed[2]["study_at"] == "" and parsed[0]["total_dlp_mgycm"] == "400.0"


def test_dose_history_accumulates_per_pseudonym() -> None:
    fluoro = [
        record(
            f"41.{i}",
            modality="XA",
            patient="P7",
            study_at=T0 + timedelta(days=10 * i),
            totals=DoseTotals(total_dap_gycm2=dap, total_effective_dose_msv=dose),
        )
        for i, (dap, dose) in enumerate(((50.0, 2.0), (30.0, None), (20.0, 1.5)))
    ]
    other = record("41.9", modality="XA", patient="P8", totals=DoseTotals(total_dap_gycm2=999))
    ct = record(
        "41.5", patient="P7", study_at=T0 + timedelta(days=5), events=(ct_event("41.5.1", 10, 400),)
    )
    history = dose_history([*fluoro, other, ct], fluoro[0].patient.pseudonym)
    assert [p.modality for p in history] == ["XA", "CT", "XA", "XA"]
    assert [p.cumulative_dap_gycm2 for p in history] == [50, 50, 80, 100]
    assert history[-1].cumulative_dlp_mgycm == 400
    assert history[-1].cumulative_effective_dose_msv == pytest.approx(3.5)


def test_mammography_agd_and_nm_activity_columns() -> None:
    from medcoop.records import EventKind, IrradiationEvent

    from .factories import KEY

    def view(uid: str, agd: float, side: str) -> IrradiationEvent:
        return IrradiationEvent(
            event_uid=KEY.remap_uid(uid), kind=EventKind.MAMMOGRAPHY, agd_mgy=agd, laterality=side
        )

    views = (view("50.1.1", 1.2, "L"), view("50.1.2", 1.4, "L"), view("50.1.3", 1.1, "R"))
    stated = record(
        "50.1",
        modality="MG",
        events=views,
        totals=DoseTotals(total_agd_left_mgy=2.6, total_agd_right_mgy=1.1),
    )
    images_only = record("50.2", modality="MG", events=views)  # no report: from the events
    nm = record(
        "50.3",
        modality="NM",
        events=(
            IrradiationEvent(
                event_uid=KEY.remap_uid("50.3.1"),
                kind=EventKind.RADIOPHARMACEUTICAL,
                administered_activity_mbq=740.0,
            ),
        ),
    )
    rows = [study_row(s, site_id="s1") for s in (stated, images_only, nm)]
    for row in rows[:2]:
        assert row["total_agd_left_mgy"] == pytest.approx(2.6)
        assert row["total_agd_right_mgy"] == pytest.approx(1.1)
        assert row["total_agd_mgy"] == pytest.approx(3.7)
    assert rows[2]["total_administered_activity_mbq"] == 740.0 and rows[2]["total_agd_mgy"] is None
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert {"total_agd_mgy", "total_administered_activity_mbq"} <= set(parsed[0])
    assert float(parsed[0]["total_agd_mgy"]) == pytest.approx(3.7)
    assert parsed[2]["total_administered_activity_mbq"] == "740.0"
