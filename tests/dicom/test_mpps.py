"""MPPS N-CREATE / N-SET datasets give usage facts (and dose facts where carried)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medcoop.dicom import MppsFacts, Skipped, extract_mpps

from . import builders as b


def _n_create() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Testperson^Ada"
    ds.PatientID = "PID-778899"
    ds.PatientBirthDate = "19700203"
    ds.Modality = "CT"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20260105"
    ds.PerformedProcedureStepStartTime = "101200"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    step = Dataset()
    step.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    step.AccessionNumber = "ACC-445566"
    ds.ScheduledStepAttributesSequence = Sequence([step])
    ds.PerformedProtocolCodeSequence = Sequence([b.code("CTCHEST", "99LOCAL", "CT chest")])
    return ds


def _n_set() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20260105"
    ds.PerformedProcedureStepEndTime = "102930"
    series = []
    for count in (2, 3):
        item = Dataset()
        item.ReferencedImageSequence = Sequence([Dataset() for _ in range(count)])
        series.append(item)
    ds.PerformedSeriesSequence = Sequence(series)
    ds.ImageAndFluoroscopyAreaDoseProduct = "12.5"  # dGy·cm²
    ds.TotalTimeOfFluoroscopy = 42
    ds.TotalNumberOfExposures = 7
    return ds


def test_n_create_gives_start_station_protocol_and_patient() -> None:
    facts = extract_mpps(_n_create())
    assert isinstance(facts, MppsFacts)
    assert facts.status == "IN PROGRESS"
    assert facts.started_at == datetime(2026, 1, 5, 10, 12)
    assert facts.ended_at is None
    assert facts.study_instance_uids == ("1.2.826.0.1.3680043.8.498.1",)
    assert (facts.modality, facts.station_name) == ("CT", "CT01")
    assert facts.performed_protocol == "CT chest"
    assert facts.patient is not None and facts.patient.patient_id == "PID-778899"
    assert {"PID-778899", "Testperson^Ada"} <= facts.identifying_values()


def test_n_set_gives_end_counts_and_dose() -> None:
    facts = extract_mpps(_n_set())
    assert isinstance(facts, MppsFacts)
    assert facts.status == "COMPLETED"
    assert facts.ended_at == datetime(2026, 1, 5, 10, 29, 30)
    assert (facts.series_count, facts.image_count) == (2, 5)
    assert facts.totals.total_dap_gycm2 == pytest.approx(1.25)
    assert facts.totals.total_fluoro_time_s == 42
    assert facts.number_of_exposures == 7
    assert facts.patient is None


def test_bad_mpps_is_skipped_not_raised() -> None:
    bad = Dataset()
    bad.PerformedProcedureStepStatus = "EXPLODED"
    assert isinstance(extract_mpps(bad), Skipped)
    assert isinstance(extract_mpps(Dataset()), Skipped)
    assert isinstance(extract_mpps("not a dataset"), Skipped)  # type: ignore[arg-type]
