"""Projection X-ray objects: DX/CR image headers and TID 10001 reports for DX, RF and MG."""

from __future__ import annotations

import math

import pytest
from pydicom.dataset import Dataset

from medcoop.records import EventKind
from medcoop.sim import SimStudy
from tests.sim.helpers import child, children, code_value, concept, num, num_child, pick

TO_GYCM2 = {"Gy.m2": 1e4, "dGy.cm2": 0.1}
TO_MGY = {"Gy": 1e3, "mGy": 1.0}
PLANES = {"DCM:113622": "single", "DCM:113620": "A", "DCM:113621": "B"}


def _report(study: SimStudy) -> Dataset:
    reports = [ds for ds in study.datasets if ds.Modality == "SR"]
    assert len(reports) == 1
    assert reports[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67"
    assert reports[0].ContentTemplateSequence[0].TemplateIdentifier == "10001"
    return reports[0]


def _accumulated_by_plane(ds: Dataset) -> dict[str, Dataset]:
    return {
        PLANES[code_value(child(container, "DCM:113764"))]: container
        for container in children(ds, "DCM:113702")
    }


def test_dx_images_carry_dap_in_dgycm2_and_exposure_indices(
    fleet_studies: list[SimStudy],
) -> None:
    studies = pick(fleet_studies, kind="dx")
    assert len(studies) > 20
    for study in studies:
        images = [ds for ds in study.datasets if ds.Modality == "DX"]
        assert len(images) == study.truth.event_count
        for ds, event in zip(images, study.truth.events, strict=True):
            assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1"
            assert ds.IrradiationEventUID == event.event_uid
            assert float(ds.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(
                event.dap_gycm2 * 10
            )
            assert float(ds.ExposureIndex) == event.exposure_index
            assert float(ds.DeviationIndex) == pytest.approx(
                10 * math.log10(event.exposure_index / event.target_exposure_index), abs=0.01
            )


def test_cr_images_have_no_dap_and_no_size(fleet_studies: list[SimStudy]) -> None:
    studies = pick(fleet_studies, kind="cr")
    assert studies
    for study in studies:
        for ds in study.datasets:
            assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1"
            assert "ImageAndFluoroscopyAreaDoseProduct" not in ds
            assert "PatientWeight" not in ds


def test_dx_report_totals_in_vendor_units_equal_the_truth(
    fleet_studies: list[SimStudy],
) -> None:
    studies = pick(fleet_studies, kind="dx", sends_rdsr=True)
    assert studies
    for study in studies:
        ds = _report(study)
        vendor = study.device.vendor
        single = _accumulated_by_plane(ds)["single"]
        dap, unit = num_child(single, "DCM:113722")
        assert unit == vendor.dap_unit == "dGy.cm2"
        assert dap * TO_GYCM2[unit] == pytest.approx(study.truth.total_dap_gycm2)
        events = children(ds, "DCM:113706")
        assert [child(e, "DCM:113769").UID for e in events] == [
            e.event_uid for e in study.truth.events
        ]


def _fluoro_reports(studies: list[SimStudy]) -> list[tuple[SimStudy, Dataset]]:
    found = [(s, _report(s)) for s in pick(studies, kind="rf")]
    assert len(found) > 5
    return found


def test_rf_report_totals_over_planes_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study, ds in _fluoro_reports(fleet_studies):
        truth = study.truth
        by_plane = _accumulated_by_plane(ds)
        assert set(by_plane) == {e.plane for e in truth.events}
        dap = rp = fluoro_s = 0.0
        for container in by_plane.values():
            value, unit = num_child(container, "DCM:113722")
            dap += value * TO_GYCM2[unit]
            value, unit = num_child(container, "DCM:113725")
            rp += value * TO_MGY[unit]
            value, unit = num_child(container, "DCM:113730")
            assert unit == "s"
            fluoro_s += value
        assert dap == pytest.approx(truth.total_dap_gycm2)
        assert rp == pytest.approx(truth.total_rp_dose_mgy)
        assert fluoro_s == pytest.approx(truth.total_fluoro_time_s)


def test_rf_events_distinguish_fluoro_from_acquisition(fleet_studies: list[SimStudy]) -> None:
    for study, ds in _fluoro_reports(fleet_studies):
        for item, event in zip(children(ds, "DCM:113706"), study.truth.events, strict=True):
            event_type = code_value(child(item, "DCM:113721"))
            fluoro = event.kind is EventKind.FLUOROSCOPY
            assert event_type == ("SCT:44491008" if fluoro else "DCM:113611")
            value, unit = num_child(item, "DCM:122130")
            assert value * TO_GYCM2[unit] == pytest.approx(event.dap_gycm2)
            assert PLANES[code_value(child(item, "DCM:113764"))] == event.plane


def test_some_rf_rooms_are_biplane_and_vendors_use_both_unit_styles(
    fleet_studies: list[SimStudy],
) -> None:
    planes: set[str] = set()
    units: set[str] = set()
    for study, ds in _fluoro_reports(fleet_studies):
        planes.update(e.plane for e in study.truth.events)
        units.update(num(item)[1] for item in children(ds, "DCM:113706")[0].ContentSequence
                     if concept(item) in {"DCM:122130", "DCM:113738"})  # fmt: skip
    assert {"A", "B", "single"} <= planes
    assert {"Gy.m2", "dGy.cm2", "Gy", "mGy"} <= units


def test_mammography_report_and_images(fleet_studies: list[SimStudy]) -> None:
    studies = pick(fleet_studies, kind="mg", sends_rdsr=True)
    assert studies
    for study in studies:
        truth = study.truth
        ds = _report(study)
        assert code_value(child(ds, "DCM:121058")) == "SCT:71651007"
        agd = {}
        for item in children(_accumulated_by_plane(ds)["single"], "DCM:111637"):
            laterality = code_value(child(item, "SCT:272741003"))
            agd[laterality] = num(item)
        if truth.totals.total_agd_left_mgy is not None:
            assert agd["SCT:80248007"] == (pytest.approx(truth.totals.total_agd_left_mgy), "mGy")
        if truth.totals.total_agd_right_mgy is not None:
            assert agd["SCT:73056007"] == (pytest.approx(truth.totals.total_agd_right_mgy), "mGy")
        images = [d for d in study.datasets if d.Modality == "MG"]
        for image, event in zip(images, truth.events, strict=True):
            assert image.ImageLaterality == event.laterality
            assert image.ViewPosition == event.view
            assert float(image.OrganDose) * 100 == pytest.approx(event.agd_mgy)
            assert float(image.BodyPartThickness) == event.compressed_thickness_mm
            assert float(image.CompressionForce) == pytest.approx(event.compression_force_n)
