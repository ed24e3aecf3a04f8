"""Planted identifiers: where they are, that every claimed one is really there, and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from medcoop.sim import Fleet, SimStudy
from medcoop.sim.adversarial import PRIVATE_CREATOR
from medcoop.sim.files import study_dir
from tests.sim.helpers import concept, walk

#: Where identifiers are planted on purpose (the usual places and the hard ones).
IDENTIFYING_KEYWORDS = {
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientAddress",
    "PatientTelephoneNumbers", "AccessionNumber", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "InstitutionName", "InstitutionAddress",
    "PatientMotherBirthName", "PatientComments", "AdditionalPatientHistory", "ImageComments",
    "ReasonForTheRequestedProcedure", "TextValue", "PersonName",
    "CommentsOnThePerformedProcedureStep",
}  # fmt: skip


@pytest.fixture(scope="module")
def adversarial_studies() -> list[SimStudy]:
    return list(Fleet(seed=17, adversarial=True).studies(60))


def _elements(ds: Dataset) -> Iterator[DataElement]:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                yield from _elements(item)
        else:
            yield element


def test_usual_places_hold_the_planted_identity(fleet_studies: list[SimStudy]) -> None:
    for study in fleet_studies[:100]:
        truth = study.truth
        for ds in study.datasets:
            assert ds.PatientName == truth.patient.name
            assert ds.PatientID == truth.patient.patient_id
            assert ds.PatientBirthDate == truth.patient.birth_date_da
            assert ds.AccessionNumber == truth.accession_number
            assert ds.ReferringPhysicianName == truth.staff.referring_physician
            assert ds.InstitutionName == truth.site
            assert not any(element.tag.is_private for element in ds)
            assert "OtherPatientIDsSequence" not in ds


def test_adversarial_studies_hide_identifiers_in_hard_places(
    adversarial_studies: list[SimStudy],
) -> None:
    for study in adversarial_studies:
        truth = study.truth
        patient = truth.patient
        for ds in study.datasets:
            block = ds.private_block(0x0029, PRIVATE_CREATOR)
            assert block[0x10].value == patient.name
            assert block[0x11].value == patient.patient_id
            assert [i.PatientID for i in ds.OtherPatientIDsSequence] == list(
                patient.other_patient_ids
            )
            assert ds.RequestAttributesSequence[0].AccessionNumber == truth.accession_number
            assert patient.patient_id in ds.AdditionalPatientHistory
            if "ContentSequence" in ds:
                texts = [i.TextValue for i in walk(ds) if concept(i) == "DCM:121106"]
                assert any(patient.patient_id in text for text in texts)
                observers = [i.PersonName for i in walk(ds) if concept(i) == "DCM:121008"]
                assert observers == [truth.staff.performing_physician]
        assert study.mpps_set is not None
        assert patient.patient_id in study.mpps_set.CommentsOnThePerformedProcedureStep


def _encoded(value: str, charset: str) -> bytes:
    return value.encode("utf-8" if charset == "ISO_IR 192" else "latin-1")


@pytest.mark.parametrize("adversarial", [False, True])
def test_every_claimed_identifier_is_in_the_written_bytes(
    tmp_path: Path, adversarial: bool
) -> None:
    fleet = Fleet(seed=23, adversarial=adversarial)
    fleet.write(tmp_path, n=40)
    for study in fleet.studies(40):
        files = sorted(study_dir(tmp_path, study.truth.index).glob("*.dcm"))
        charset = dcmread(files[0], stop_before_pixels=True).SpecificCharacterSet
        blob = b"".join(path.read_bytes() for path in files)
        missing = {
            value
            for value in study.truth.identifying_values()
            if _encoded(value, charset) not in blob
        }
        if not adversarial:  # extras exist only in adversarial studies
            missing -= set(study.truth.adversarial_extras.values())
        assert not missing, f"claimed but not planted: {sorted(missing)}"


@pytest.mark.parametrize("adversarial", [False, True])
def test_identifiers_appear_nowhere_but_where_planted(adversarial: bool) -> None:
    """Device names, UIDs, codes and protocols never carry an identifier by accident."""
    fleet = Fleet(seed=29, adversarial=adversarial)
    for study in fleet.studies(60):
        values = study.truth.identifying_values()
        for ds in [*study.datasets, study.mpps_create, study.mpps_set]:
            assert ds is not None
            for element in _elements(ds):
                if element.keyword in IDENTIFYING_KEYWORDS or element.tag.is_private:
                    continue
                if element.VR in {"OB", "OW", "UN"} or element.value is None:
                    continue
                text = str(element.value)
                leaked = {value for value in values if value in text}
                assert not leaked, f"{element.keyword} carries {leaked}"


def test_fleet_identifying_values_cover_every_generated_study() -> None:
    fleet = Fleet(seed=31, adversarial=True)
    studies = list(fleet.studies(30))
    values = fleet.identifying_values()
    for study in studies:
        assert study.truth.identifying_values() <= values
    assert {"St Elsewhere", "County General"} <= values
    assert any("^" in value for value in values)
    assert all(len(value) >= 3 for value in values)
