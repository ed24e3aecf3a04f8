"""Nuclear medicine and PET: the radiopharmaceutical report and PET image headers."""

from __future__ import annotations

import pytest

from medcoop.sim import SimStudy
from tests.sim.helpers import child, children, concept, num_child, pick


def test_radiopharmaceutical_report_carries_the_administered_activity(
    fleet_studies: list[SimStudy],
) -> None:
    studies = pick(fleet_studies, kind="nm") + pick(fleet_studies, kind="pt")
    assert len(studies) >= 4
    for study in studies:
        reports = [ds for ds in study.datasets if ds.Modality == "SR"]
        assert len(reports) == 1
        ds = reports[0]
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.68"
        assert concept(ds) == "DCM:113500"
        (administration,) = children(ds, "DCM:113502")
        event = study.truth.events[0]
        assert event.event_uid == child(administration, "DCM:113503").UID
        activity = num_child(administration, "DCM:113507")
        assert activity == (pytest.approx(event.administered_activity_mbq), "MBq")
        assert activity[0] == pytest.approx(study.truth.total_administered_activity_mbq)
        assert 50 < activity[0] < 900


def test_pet_images_carry_total_dose_in_becquerel(fleet_studies: list[SimStudy]) -> None:
    studies = pick(fleet_studies, kind="pt")
    assert studies
    for study in studies:
        images = [ds for ds in study.datasets if ds.Modality == "PT"]
        assert len(images) == study.truth.image_count > 0
        for ds in images:
            info = ds.RadiopharmaceuticalInformationSequence[0]
            assert float(info.RadionuclideTotalDose) == pytest.approx(
                study.truth.total_administered_activity_mbq * 1e6
            )
            assert info.RadionuclideCodeSequence[0].CodeMeaning == "^18^Fluorine"
            assert ds.FrameOfReferenceUID == study.truth.frame_of_reference_uid
