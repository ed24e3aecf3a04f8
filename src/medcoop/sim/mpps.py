"""Modality Performed Procedure Step datasets: the N-CREATE and N-SET attribute lists.

A modality sends N-CREATE (status IN PROGRESS, start date/time, patient and scheduled step)
when the exam begins and N-SET (COMPLETED or DISCONTINUED, end, performed series with
their image and dose-report references, and sometimes dose facts) when it ends.

The datasets also carry SOP Class UID and SOP Instance UID. A modality puts these in the
DIMSE request (Affected/Requested SOP Instance UID) rather than the attribute list; they
are included so a dataset read on its own still says which step it belongs to. Senders
pass ``ds.SOPInstanceUID`` to ``send_n_create``/``send_n_set`` as the instance UID.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.sim._build import dataset, fmt_ds, new, put, put_seq
from medcoop.sim.codes import SopClass
from medcoop.sim.header import da, tm
from medcoop.sim.plan import StudyTruth
from medcoop.sim.vendors import DeviceSpec

__all__ = ["IMAGE_SOP_CLASSES", "mpps_create", "mpps_set"]

#: The image SOP class each device kind sends.
IMAGE_SOP_CLASSES = {
    "ct": SopClass.CT_IMAGE,
    "dx": SopClass.DX_IMAGE_PRESENTATION,
    "cr": SopClass.CR_IMAGE,
    "mg": SopClass.MG_IMAGE_PRESENTATION,
    "pt": SopClass.PET_IMAGE,
}
_DOSE_IN_MPPS = frozenset({"Acme Medical", "Nordlys"})


def _identity(truth: StudyTruth, device: DeviceSpec) -> Dataset:
    ds = dataset()
    put(ds, "SpecificCharacterSet", truth.specific_character_set)
    put(ds, "SOPClassUID", SopClass.MPPS)
    put(ds, "SOPInstanceUID", truth.mpps_sop_instance_uid)
    return ds


def _code(value: str, meaning: str) -> Dataset:
    return new(CodeValue=value, CodingSchemeDesignator="99MEDCOOP", CodeMeaning=meaning)


def mpps_create(truth: StudyTruth, device: DeviceSpec) -> Dataset:
    """Return the N-CREATE attribute list of the study's MPPS (IN PROGRESS)."""
    ds = _identity(truth, device)
    patient = truth.patient
    scheduled = new(
        StudyInstanceUID=truth.study_instance_uid,
        ReferencedStudySequence=[],
        AccessionNumber=truth.accession_number,
        RequestedProcedureID=f"RP{truth.study_id}",
        RequestedProcedureDescription=truth.study_description,
        ScheduledProcedureStepID=f"SPS{truth.study_id}",
        ScheduledProcedureStepDescription=truth.protocol,
        ScheduledProtocolCodeSequence=[_code(truth.procedure_code, truth.protocol)],
    )
    put_seq(ds, "ScheduledStepAttributesSequence", [scheduled])
    put(ds, "PatientName", patient.name)
    put(ds, "PatientID", patient.patient_id)
    put(ds, "IssuerOfPatientID", patient.issuer_of_patient_id)
    put(ds, "PatientBirthDate", patient.birth_date_da)
    put(ds, "PatientSex", patient.sex.value)
    put_seq(ds, "ReferencedPatientSequence", [])
    put(ds, "PerformedProcedureStepID", f"PPS{truth.study_id}")
    put(ds, "PerformedStationAETitle", device.station_name[:16])
    put(ds, "PerformedStationName", device.station_name)
    put(ds, "PerformedLocation", truth.department_name)
    put(ds, "PerformedProcedureStepStartDate", da(truth.started_at))
    put(ds, "PerformedProcedureStepStartTime", tm(truth.started_at))
    put(ds, "PerformedProcedureStepStatus", "IN PROGRESS")
    put(ds, "PerformedProcedureStepDescription", truth.protocol)
    put(ds, "PerformedProcedureTypeDescription", truth.study_description)
    put_seq(ds, "ProcedureCodeSequence", [_code(truth.procedure_code, truth.protocol)])
    put(ds, "PerformedProcedureStepEndDate", "")
    put(ds, "PerformedProcedureStepEndTime", "")
    put(ds, "Modality", truth.modality)
    put(ds, "StudyID", truth.study_id)
    put_seq(ds, "PerformedProtocolCodeSequence", [])
    put_seq(ds, "PerformedSeriesSequence", [])
    return ds


def mpps_set(truth: StudyTruth, device: DeviceSpec) -> Dataset:
    """Return the N-SET attribute list that completes (or discontinues) the study's MPPS."""
    ds = _identity(truth, device)
    put(ds, "PerformedProcedureStepStatus", truth.mpps_status)
    put(ds, "PerformedProcedureStepEndDate", da(truth.ended_at))
    put(ds, "PerformedProcedureStepEndTime", tm(truth.ended_at))
    if truth.mpps_status == "DISCONTINUED":
        put_seq(
            ds,
            "PerformedProcedureStepDiscontinuationReasonCodeSequence",
            [
                new(
                    CodeValue="110514",
                    CodingSchemeDesignator="DCM",
                    CodeMeaning="Incorrect worklist entry selected",
                )
            ],
        )
    put_seq(ds, "PerformedProtocolCodeSequence", [_code(truth.procedure_code, truth.protocol)])
    put_seq(ds, "PerformedSeriesSequence", _performed_series(truth, device))
    if device.vendor.manufacturer in _DOSE_IN_MPPS:
        _add_dose(ds, truth, device)
    return ds


def _performed_series(truth: StudyTruth, device: DeviceSpec) -> list[Dataset]:
    series = []
    staff = truth.staff
    if truth.image_sop_instance_uids:
        images = [
            new(ReferencedSOPClassUID=IMAGE_SOP_CLASSES[device.kind], ReferencedSOPInstanceUID=uid)
            for uid in truth.image_sop_instance_uids
        ]
        series.append(
            new(
                PerformingPhysicianName=staff.performing_physician,
                ProtocolName=truth.protocol,
                OperatorsName=staff.operator,
                SeriesInstanceUID=truth.image_series_instance_uid,
                SeriesDescription=truth.protocol,
                RetrieveAETitle="",
                ReferencedImageSequence=images,
                ReferencedNonImageCompositeSOPInstanceSequence=[],
            )
        )
    if truth.rdsr_sop_instance_uid:
        report_class = (
            SopClass.RADIOPHARMACEUTICAL_RDSR if device.kind in {"nm", "pt"} else SopClass.XRAY_RDSR
        )
        reports = [
            new(ReferencedSOPClassUID=report_class, ReferencedSOPInstanceUID=uid)
            for uid in truth.report_sop_instance_uids
        ]
        series.append(
            new(
                PerformingPhysicianName=staff.performing_physician,
                ProtocolName=truth.protocol,
                OperatorsName=staff.operator,
                SeriesInstanceUID=truth.rdsr_series_instance_uid,
                SeriesDescription="Dose Report",
                RetrieveAETitle="",
                ReferencedImageSequence=[],
                ReferencedNonImageCompositeSOPInstanceSequence=reports,
            )
        )
    return series


def _add_dose(ds: Dataset, truth: StudyTruth, device: DeviceSpec) -> None:
    """Dose facts some modalities put in the MPPS Radiation Dose module."""
    totals = truth.totals
    exposures = []
    for event in truth.events:
        if event.kvp is None:
            continue
        item = new(
            RadiationMode="PULSED" if event.pulse_rate_per_s else "CONTINUOUS", KVP=f"{event.kvp:g}"
        )
        if event.ctdivol_mgy is not None:
            put(item, "CTDIvol", fmt_ds(event.ctdivol_mgy))
        if event.tube_current_ma is not None:
            put(item, "XRayTubeCurrentInuA", fmt_ds(event.tube_current_ma * 1000))
        exposures.append(item)
    if exposures:
        put_seq(ds, "ExposureDoseSequence", exposures)
    put(ds, "TotalNumberOfExposures", len(truth.events))
    if totals.total_dap_gycm2 is not None:
        put(ds, "ImageAndFluoroscopyAreaDoseProduct", fmt_ds(totals.total_dap_gycm2 * 10))
    if totals.total_fluoro_time_s is not None:
        put(ds, "TotalTimeOfFluoroscopy", round(totals.total_fluoro_time_s))
    if totals.total_rp_dose_mgy is not None:
        put(ds, "EntranceDoseInmGy", fmt_ds(totals.total_rp_dose_mgy))
    if totals.total_dlp_mgycm is not None:
        put(ds, "CommentsOnRadiationDose", f"Total DLP {totals.total_dlp_mgycm:g} mGy.cm")
    if device.kind == "mg":
        agd = (totals.total_agd_left_mgy or 0.0) + (totals.total_agd_right_mgy or 0.0)
        put(ds, "OrganDose", fmt_ds(agd / 100.0))
        put(ds, "OrganExposed", "BREAST")
