"""CT objects: the TID 10011 report's codes, units and numbers, and CT image headers."""

from __future__ import annotations

import math

import pytest

from medcoop.sim import SimStudy
from tests.sim.helpers import child, children, code_value, concept, num, num_child, pick, walk

CT_ACQUISITION = "DCM:113819"
EVENT_UID = "DCM:113769"


def _reports(studies: list[SimStudy]) -> list[tuple[SimStudy, object]]:
    found = []
    for study in pick(studies, kind="ct", sends_rdsr=True):
        reports = [ds for ds in study.datasets if ds.Modality == "SR"]
        assert len(reports) == 1
        found.append((study, reports[0]))
    assert len(found) > 20
    return found


def test_report_document_identifies_itself(fleet_studies: list[SimStudy]) -> None:
    for study, ds in _reports(fleet_studies):
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67"
        assert concept(ds) == "DCM:113701"
        assert ds.ContentTemplateSequence[0].TemplateIdentifier == "10011"
        assert ds.StudyInstanceUID == study.truth.study_instance_uid
        assert code_value(child(ds, "DCM:121058")) == "SCT:77477000"
        assert study.device.device_observer_uid == child(ds, "DCM:121012").UID


def test_report_numbers_equal_the_truth(fleet_studies: list[SimStudy]) -> None:
    for study, ds in _reports(fleet_studies):
        truth = study.truth
        accumulated = child(ds, "DCM:113811")
        total_dlp, unit = num_child(accumulated, "DCM:113813")
        assert unit == study.device.vendor.dlp_unit
        assert total_dlp == pytest.approx(truth.total_dlp_mgycm)
        assert num_child(accumulated, "DCM:113812")[0] == truth.event_count
        acquisitions = children(ds, CT_ACQUISITION)
        assert [child(a, EVENT_UID).UID for a in acquisitions] == [
            e.event_uid for e in truth.events
        ]
        for acquisition, event in zip(acquisitions, truth.events, strict=True):
            dose = child(acquisition, "DCM:113829")
            assert num_child(dose, "DCM:113830") == (pytest.approx(event.ctdivol_mgy), "mGy")
            assert num_child(dose, "DCM:113838")[0] == pytest.approx(event.dlp_mgycm)
        event_dlps = [num_child(child(a, "DCM:113829"), "DCM:113838")[0] for a in acquisitions]
        assert math.fsum(event_dlps) == pytest.approx(total_dlp)


def test_vendor_styles_differ_only_in_spelling(fleet_studies: list[SimStudy]) -> None:
    meanings: dict[str, set[str]] = {}
    units: dict[str, set[str]] = {}
    for study, ds in _reports(fleet_studies):
        vendor = study.device.vendor.manufacturer
        for item in walk(ds):
            if concept(item) == "DCM:113830":
                meanings.setdefault(vendor, set()).add(item.ConceptNameCodeSequence[0].CodeMeaning)
            if concept(item) == "DCM:113838":
                units.setdefault(vendor, set()).add(num(item)[1])
    assert meanings["Acme Medical"] == {"Mean CTDIvol"}
    assert meanings["Zenith Imaging"] == {"MEAN CTDIVOL"}
    assert units["Acme Medical"] == {"mGy.cm"}
    assert units["Zenith Imaging"] == {"mGycm"}


def test_dual_source_acquisitions_report_both_tubes(fleet_studies: list[SimStudy]) -> None:
    seen = 0
    for study, ds in _reports(fleet_studies):
        for acquisition, event in zip(
            children(ds, CT_ACQUISITION), study.truth.events, strict=True
        ):
            parameters = child(acquisition, "DCM:113822")
            sources = children(parameters, "DCM:113831")
            assert num_child(parameters, "DCM:113823")[0] == event.number_of_sources
            assert [child(s, "DCM:113832").TextValue for s in sources] == list(
                "AB"[: event.number_of_sources]
            )
            if event.rotation_time_s is not None:
                for source in sources:
                    assert num_child(source, "DCM:113834") == (event.rotation_time_s, "s")
            seen += event.number_of_sources == 2
    assert seen > 0


def test_dose_check_details_appear_exactly_where_planted(fleet_studies: list[SimStudy]) -> None:
    planted = 0
    for study, ds in _reports(fleet_studies):
        for acquisition, event in zip(
            children(ds, CT_ACQUISITION), study.truth.events, strict=True
        ):
            dose = child(acquisition, "DCM:113829")
            notifications = children(dose, "DCM:113908")
            alerts = children(dose, "DCM:113900")
            kinds = {n.kind for n in event.dose_check}
            assert bool(notifications) == ("notification" in kinds)
            assert bool(alerts) == ("alert" in kinds)
            for notice in event.dose_check:
                if notice.kind == "notification" and notice.metric == "ctdivol":
                    value, unit = num_child(notifications[0], "DCM:113914")
                    assert (value, unit) == (pytest.approx(notice.forward_estimate), "mGy")
            planted += bool(event.dose_check)
    assert planted > 0, "no study crossed a Dose Check value; the fleet lost its alerts"


def test_ct_image_headers_carry_their_acquisitions_ctdivol(
    fleet_studies: list[SimStudy],
) -> None:
    studies = pick(fleet_studies, kind="ct", sends_images=True)
    assert studies
    for study in studies:
        images = [ds for ds in study.datasets if ds.Modality == "CT"]
        imaged = [e for e in study.truth.events if e.image_sop_uid]
        assert len(images) == len(imaged) == study.truth.image_count
        for ds, event in zip(images, imaged, strict=True):
            assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
            assert ds.SOPInstanceUID == event.image_sop_uid
            assert ds.IrradiationEventUID == event.event_uid
            assert float(ds.CTDIvol) == pytest.approx(event.ctdivol_mgy)
            assert event.acquisition_type != "Constant Angle Acquisition"


def test_report_references_the_images_and_the_mpps(fleet_studies: list[SimStudy]) -> None:
    for study, ds in _reports(fleet_studies):
        truth = study.truth
        assert ds.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == (
            truth.mpps_sop_instance_uid
        )
        if truth.image_sop_instance_uids:
            evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
            series = evidence.ReferencedSeriesSequence[0]
            assert series.SeriesInstanceUID == truth.image_series_instance_uid
            assert [r.ReferencedSOPInstanceUID for r in series.ReferencedSOPSequence] == list(
                truth.image_sop_instance_uids
            )
