"""The extraction package reads back what the fleet planted (RDSRs, image headers, MPPS).

This ties the two halves together: every total, event and identity the fleet claims in its
truth must come out of ``medcoop.dicom`` from the objects alone, across every vendor style.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydicom import dcmread

from medcoop.records import Sex
from medcoop.sim import Fleet, SimStudy

dicom = pytest.importorskip("medcoop.dicom", reason="medcoop.dicom is not importable yet")

TOTAL_FIELDS = (
    "total_dlp_mgycm", "total_dap_gycm2", "total_fluoro_dap_gycm2",
    "total_acquisition_dap_gycm2", "total_rp_dose_mgy", "total_fluoro_time_s",
    "total_acquisition_time_s", "total_agd_left_mgy", "total_agd_right_mgy",
    "total_administered_activity_mbq", "total_effective_dose_msv", "number_of_events",
)  # fmt: skip
EVENT_FIELDS = (
    "kind", "plane", "ctdivol_mgy", "dlp_mgycm", "ctdi_phantom", "pitch", "scanning_length_mm",
    "number_of_sources", "kvp", "dap_gycm2", "rp_dose_mgy", "fluoro_time_s",
    "pulse_rate_per_s", "exposure_index", "deviation_index", "agd_mgy", "laterality",
    "compressed_thickness_mm", "compression_force_n", "administered_activity_mbq",
    "effective_dose_msv",
)  # fmt: skip


def _same(expected: object, found: object) -> bool:
    if isinstance(expected, float) and isinstance(found, int | float):
        return math.isclose(expected, found, rel_tol=1e-6, abs_tol=1e-9)
    return expected == found


def _extract(ds: object) -> object:
    result = dicom.extract_dataset(ds)
    assert not isinstance(result, dicom.Skipped), result
    return result


def _report(study: SimStudy) -> object:
    return next(ds for ds in study.datasets if ds.Modality == "SR")


def _kinds_with_reports(studies: list[SimStudy]) -> list[SimStudy]:
    found = [s for s in studies if s.truth.rdsr_sop_instance_uid]
    assert {s.device.kind for s in found} >= {"ct", "dx", "rf", "mg", "nm", "pt"}
    return found


def test_report_totals_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study in _kinds_with_reports(fleet_studies):
        extraction = _extract(_report(study))
        for name in TOTAL_FIELDS:
            expected = getattr(study.truth.totals, name)
            found = getattr(extraction.totals, name)
            assert _same(expected, found), (study.device.key, name, expected, found)


def test_report_events_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study in _kinds_with_reports(fleet_studies):
        extraction = _extract(_report(study))
        assert [e.event_uid for e in extraction.events] == [e.event_uid for e in study.truth.events]
        for planted, found in zip(study.truth.events, extraction.events, strict=True):
            for name in EVENT_FIELDS:
                expected = getattr(planted, name)
                assert _same(expected, getattr(found, name)), (study.device.key, name)
            assert set(planted.dose_check) == set(found.dose_check)


def test_report_identity_and_device_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study in _kinds_with_reports(fleet_studies)[:80]:
        truth, device = study.truth, study.device
        extraction = _extract(_report(study))
        patient = extraction.patient
        assert patient.patient_id == truth.patient.patient_id
        assert patient.patient_name == truth.patient.name
        assert patient.birth_date == truth.patient.birth_date
        assert patient.sex == Sex(truth.patient.sex)
        assert patient.age_years == truth.age_years
        assert patient.weight_kg == truth.weight_kg
        assert extraction.accession_number == truth.accession_number
        assert extraction.study_instance_uid == truth.study_instance_uid
        assert extraction.study_at == truth.started_at
        assert extraction.utc_offset_min == (
            truth.utc_offset_min if truth.timezone_written else None
        )
        assert extraction.device.manufacturer == device.vendor.manufacturer
        assert extraction.device.serial_number == device.serial_number
        assert extraction.device.device_observer_uid == device.device_observer_uid
        assert truth.patient.patient_id in extraction.identifying_values()


def test_image_headers_give_the_planted_event_doses(fleet_studies: list[SimStudy]) -> None:
    checked = set()
    for study in fleet_studies:
        by_uid = {e.event_uid: e for e in study.truth.events}
        for ds in study.datasets:
            if ds.Modality in {"SR", "PT"}:
                continue
            extraction = _extract(ds)
            if ds.Modality == "CT" and not extraction.events:
                continue  # CT image CTDIvol is optional for the extractor; checked when read
            assert len(extraction.events) == 1
            found = extraction.events[0]
            planted = by_uid[ds.IrradiationEventUID]
            for name in ("ctdivol_mgy", "dap_gycm2", "agd_mgy"):
                if getattr(found, name) is not None:
                    assert _same(getattr(planted, name), getattr(found, name)), name
                    checked.add((ds.Modality, name))
    assert {("DX", "dap_gycm2"), ("MG", "agd_mgy")} <= checked


def test_pet_headers_give_the_administered_activity(fleet_studies: list[SimStudy]) -> None:
    studies = [s for s in fleet_studies if s.device.kind == "pt"]
    assert studies
    for study in studies:
        image = next(ds for ds in study.datasets if ds.Modality == "PT")
        extraction = _extract(image)
        activities = [e.administered_activity_mbq for e in extraction.events]
        assert activities and _same(study.truth.total_administered_activity_mbq, activities[0])


def test_mpps_facts_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study in fleet_studies[:150]:
        truth = study.truth
        started = dicom.extract_mpps(study.mpps_create)
        ended = dicom.extract_mpps(study.mpps_set)
        assert not isinstance(started, dicom.Skipped) and not isinstance(ended, dicom.Skipped)
        assert started.sop_instance_uid == ended.sop_instance_uid == truth.mpps_sop_instance_uid
        assert started.status == "IN PROGRESS" and started.started_at == truth.started_at
        assert truth.study_instance_uid in started.study_instance_uids
        assert ended.status == truth.mpps_status and ended.ended_at == truth.ended_at
        assert ended.image_count == len(study.datasets)


def test_files_extract_like_the_in_memory_datasets(tmp_path: Path) -> None:
    fleet = Fleet(seed=37)
    paths = fleet.write(tmp_path, n=30)
    in_memory = [ds for study in fleet.studies(30) for ds in study.datasets]
    for path, ds in zip(paths, in_memory, strict=True):
        from_file, from_memory = _extract(dcmread(path)), _extract(ds)
        assert from_file.totals == from_memory.totals
        assert from_file.events == from_memory.events


def test_mpps_dose_facts_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    reporting = [s for s in fleet_studies if "TotalNumberOfExposures" in s.mpps_set]
    assert {s.device.kind for s in reporting} >= {"ct", "dx", "rf"}
    for study in reporting:
        facts = dicom.extract_mpps(study.mpps_set)
        truth = study.truth
        assert facts.number_of_exposures == truth.event_count
        if truth.total_dap_gycm2 is not None:
            assert _same(truth.total_dap_gycm2, facts.totals.total_dap_gycm2)
        ctdivols = [e.ctdivol_mgy for e in truth.events if e.ctdivol_mgy is not None]
        assert list(facts.ctdivol_mgy) == pytest.approx(ctdivols)
