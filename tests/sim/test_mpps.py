"""MPPS N-CREATE / N-SET datasets: content, consistency with the study, and a real exchange."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from medcoop.sim import Fleet, SimStudy

MPPS = "1.2.840.10008.3.1.2.3.3"


def _dt(date_text: str, time_text: str) -> datetime:
    return datetime.strptime(f"{date_text}{time_text}", "%Y%m%d%H%M%S.%f")


def test_n_create_starts_the_step(fleet_studies: list[SimStudy]) -> None:
    for study in fleet_studies[:120]:
        ds, truth = study.mpps_create, study.truth
        assert ds is not None
        assert ds.SOPClassUID == MPPS
        assert ds.SOPInstanceUID == truth.mpps_sop_instance_uid
        assert ds.PerformedProcedureStepStatus == "IN PROGRESS"
        start = _dt(ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime)
        assert start == truth.started_at
        assert ds.PerformedProcedureStepEndDate == "" and ds.PerformedProcedureStepEndTime == ""
        scheduled = ds.ScheduledStepAttributesSequence[0]
        assert scheduled.StudyInstanceUID == truth.study_instance_uid
        assert scheduled.AccessionNumber == truth.accession_number
        assert ds.PatientID == truth.patient.patient_id
        assert ds.Modality == truth.modality
        assert len(ds.PerformedSeriesSequence) == 0


def test_n_set_completes_the_step_and_references_every_object(
    fleet_studies: list[SimStudy],
) -> None:
    statuses = set()
    for study in fleet_studies:
        ds, truth = study.mpps_set, study.truth
        assert ds is not None
        assert ds.SOPInstanceUID == truth.mpps_sop_instance_uid
        assert ds.PerformedProcedureStepStatus == truth.mpps_status
        statuses.add(truth.mpps_status)
        end = _dt(ds.PerformedProcedureStepEndDate, ds.PerformedProcedureStepEndTime)
        assert end == truth.ended_at > truth.started_at
        referenced = set()
        for series in ds.PerformedSeriesSequence:
            for ref in series.ReferencedImageSequence:
                referenced.add(ref.ReferencedSOPInstanceUID)
            for ref in series.ReferencedNonImageCompositeSOPInstanceSequence:
                referenced.add(ref.ReferencedSOPInstanceUID)
        assert referenced == {obj.SOPInstanceUID for obj in study.datasets}
    assert statuses == {"COMPLETED", "DISCONTINUED"}


def test_some_devices_report_dose_in_the_mpps(fleet_studies: list[SimStudy]) -> None:
    with_dap = [
        s for s in fleet_studies if s.truth.total_dap_gycm2 and "ImageAndFluoroscopyAreaDoseProduct"
        in s.mpps_set
    ]  # fmt: skip
    assert with_dap
    for study in with_dap:
        dap_dgycm2 = float(study.mpps_set.ImageAndFluoroscopyAreaDoseProduct)
        assert dap_dgycm2 / 10 == pytest.approx(study.truth.total_dap_gycm2, rel=1e-6)


@pytest.fixture
def mpps_scp() -> Iterator[tuple[int, list[tuple[str, Dataset]]]]:
    """A real pynetdicom MPPS SCP on a free port that records what it receives."""
    received: list[tuple[str, Dataset]] = []

    def on_create(event: evt.Event) -> tuple[int, Dataset]:
        ds = event.attribute_list
        received.append(("create", ds))
        return 0x0000, ds

    def on_set(event: evt.Event) -> tuple[int, Dataset]:
        ds = event.attribute_list
        received.append(("set", ds))
        return 0x0000, ds

    ae = AE(ae_title="SIMTEST")
    ae.add_supported_context(ModalityPerformedProcedureStep)
    server = ae.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)],
    )
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


def test_mpps_pair_is_accepted_by_a_pynetdicom_scp(
    mpps_scp: tuple[int, list[tuple[str, Dataset]]],
) -> None:
    port, received = mpps_scp
    studies = list(Fleet(seed=9).studies(4))
    ae = AE(ae_title="SIMMOD")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port)
    assert assoc.is_established
    try:
        for study in studies:
            created, completed = study.mpps_create, study.mpps_set
            assert created is not None and completed is not None
            status, _ = assoc.send_n_create(created, MPPS, created.SOPInstanceUID)
            assert status.Status == 0x0000
            status, _ = assoc.send_n_set(completed, MPPS, completed.SOPInstanceUID)
            assert status.Status == 0x0000
    finally:
        assoc.release()
    assert [kind for kind, _ in received] == ["create", "set"] * len(studies)
    for (_, created), (_, completed), study in zip(
        received[::2], received[1::2], studies, strict=True
    ):
        assert created.PatientName == study.truth.patient.name
        assert created.PerformedProcedureStepStatus == "IN PROGRESS"
        assert completed.PerformedProcedureStepStatus == study.truth.mpps_status
