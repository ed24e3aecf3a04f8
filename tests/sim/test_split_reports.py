"""Dose reports sent in two parts: cumulative (superset) and continued (the rest)."""

from __future__ import annotations

import pytest

from medcoop.sim import Fleet, SimStudy
from tests.sim.helpers import child, children, num_child

EVENT_CONTAINERS = {"ct": "DCM:113819", "rf": "DCM:113706"}


@pytest.fixture(scope="module")
def split_studies() -> list[SimStudy]:
    studies = [s for s in Fleet(seed=5, split_reports=1.0).studies(250) if s.truth.split_report]
    assert {s.truth.split_report for s in studies} == {"cumulative", "continued"}
    assert {s.device.kind for s in studies} == {"ct", "rf"}
    return studies


def _event_uids(report: object, kind: str) -> list[str]:
    return [child(c, "DCM:113769").UID for c in children(report, EVENT_CONTAINERS[kind])]


def test_disabled_splitting_leaves_the_fleet_unchanged() -> None:
    plain = [s.truth.study_instance_uid for s in Fleet(seed=5).studies(80)]
    zero = [s.truth.study_instance_uid for s in Fleet(seed=5, split_reports=0.0).studies(80)]
    assert plain == zero
    assert not any(s.truth.split_report for s in Fleet(seed=5).studies(80))
    with pytest.raises(ValueError, match="split_reports"):
        Fleet(split_reports=1.5)


def test_each_part_holds_its_events_and_totals(split_studies: list[SimStudy]) -> None:
    for study in split_studies:
        truth, kind = study.truth, study.device.kind
        reports = [ds for ds in study.datasets if ds.Modality == "SR"]
        assert [ds.SOPInstanceUID for ds in reports] == list(truth.report_sop_instance_uids)
        assert [int(ds.InstanceNumber) for ds in reports] == [1, 2]
        uids = [e.event_uid for e in truth.events]
        count = truth.split_event_count
        assert _event_uids(reports[0], kind) == uids[:count]
        expected_second = uids if truth.split_report == "cumulative" else uids[count:]
        assert _event_uids(reports[1], kind) == expected_second
        if kind == "ct":
            for report, part in zip(reports, truth.report_parts(), strict=True):
                total, _ = num_child(child(report, "DCM:113811"), "DCM:113813")
                assert total == pytest.approx(part.totals.total_dlp_mgycm)


def test_mpps_references_both_parts(split_studies: list[SimStudy]) -> None:
    for study in split_studies:
        referenced = {
            ref.ReferencedSOPInstanceUID
            for series in study.mpps_set.PerformedSeriesSequence
            for ref in series.ReferencedNonImageCompositeSOPInstanceSequence
        }
        assert referenced == set(study.truth.report_sop_instance_uids)


def test_extraction_merges_the_parts_back_into_the_study(split_studies: list[SimStudy]) -> None:
    dicom = pytest.importorskip("medcoop.dicom", reason="medcoop.dicom is not importable yet")
    for study in split_studies:
        first, second = (dicom.extract_dataset(ds) for ds in study.datasets if ds.Modality == "SR")
        expected = [e.event_uid for e in study.truth.events]
        merged = dicom.merge_study_events(first.events, second.events)
        assert [e.event_uid for e in merged] == expected
        again = dicom.merge_study_events(merged, second.events)
        assert [e.event_uid for e in again] == expected  # a re-send changes nothing
