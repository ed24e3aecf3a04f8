"""Projection X-ray exposure QA (IEC 62494-1) on synthetic DX headers."""

from __future__ import annotations

import pytest

from medcoop.apps.firstparty import exposure_qa as qa
from medcoop.sim.phantoms import dx_image


def test_deviation_index_is_ten_log_ten_of_the_ratio() -> None:
    assert qa.deviation_index(400.0, 400.0) == 0.0
    assert qa.deviation_index(800.0, 400.0) == pytest.approx(3.0103, abs=1e-4)
    assert qa.deviation_index(200.0, 400.0) == pytest.approx(-3.0103, abs=1e-4)
    with pytest.raises(qa.ExposureQaError):
        qa.deviation_index(0.0, 400.0)


@pytest.mark.parametrize(
    ("di", "expected"),
    [(3.5, "over"), (3.0, "high"), (1.5, "high"), (0.0, "target"), (-1.5, "low"),
     (-3.01, "under")],
)
def test_classes_follow_the_documented_thresholds(di: float, expected: str) -> None:
    assert qa.classify(di) == expected


def test_the_header_di_is_checked_against_ei_and_target() -> None:
    honest = qa.exposure_from_dataset(dx_image(800.0, 400.0, di=3.01))
    assert honest.deviation_index == pytest.approx(3.0103, abs=1e-3)
    assert not honest.header_di_disagrees
    assert honest.exposure_class == "over"
    liar = qa.exposure_from_dataset(dx_image(800.0, 400.0, di=0.0))
    assert liar.header_di_disagrees
    assert liar.exposure_class == "over"  # DI from EI/EI_T wins
    header_only = qa.exposure_from_dataset(dx_image(150.0, None, di=-4.0))
    assert header_only.deviation_index == -4.0
    assert header_only.exposure_class == "under"


def test_images_that_cannot_be_assessed_are_reported_not_dropped() -> None:
    no_ei = dx_image(None, 400.0)
    no_target = dx_image(300.0, None)
    ct = dx_image(300.0, 300.0)
    ct.Modality = "CT"
    exposures, skipped = qa.assess([no_ei, no_target, ct, dx_image(400.0, 400.0)])
    assert len(exposures) == 1
    assert [reason for _, reason in skipped] == [
        "the image has no exposure index",
        "the image has neither a target exposure index nor a DI",
        "modality CT is not DX or CR",
    ]


def test_a_second_image_of_the_same_view_in_a_study_is_a_repeat() -> None:
    study = "1.2.826.0.1.99.1"
    first = dx_image(150.0, 400.0, study_uid=study, acquired="20261201T093000")
    again = dx_image(420.0, 400.0, study_uid=study, acquired="20261201T093200")
    lateral = dx_image(400.0, 400.0, view="LL", study_uid=study, acquired="20261201T093400")
    other_study = dx_image(400.0, 400.0, acquired="20261201T100000")
    exposures, _ = qa.assess([again, lateral, first, other_study])
    by_uid = {e.sop_instance_uid: e for e in exposures}
    assert by_uid[first.SOPInstanceUID].exposure_class == "under"
    assert not by_uid[first.SOPInstanceUID].repeat
    assert by_uid[again.SOPInstanceUID].repeat
    assert by_uid[again.SOPInstanceUID].flagged
    assert not by_uid[lateral.SOPInstanceUID].repeat
    assert not by_uid[other_study.SOPInstanceUID].repeat


def test_summaries_and_trends_by_device_and_view() -> None:
    images = [
        dx_image(800.0, 400.0, acquired="20261201T090000"),
        dx_image(400.0, 400.0, acquired="20261201T100000"),
        dx_image(100.0, 400.0, acquired="20261202T090000"),
        dx_image(400.0, 400.0, view="LL", acquired="20261202T100000", station="ROOM2"),
    ]
    exposures, _ = qa.assess(images)
    summaries = {(s.device, s.view): s for s in qa.summarise(exposures)}
    room1 = summaries[("SIMU / Phantom 1 / ROOM1", "CHEST PA")]
    assert (room1.images, room1.over, room1.under, room1.repeats) == (3, 1, 1, 0)
    assert room1.median_ei == 400.0
    assert room1.mean_di == pytest.approx((3.0103 + 0 - 6.0206) / 3, abs=1e-3)
    points = qa.trend(exposures)
    room1_days = [(p.day.isoformat(), p.images, p.flagged) for p in points if "ROOM1" in p.device]
    assert room1_days == [("2026-12-01", 2, 1), ("2026-12-02", 1, 1)]
