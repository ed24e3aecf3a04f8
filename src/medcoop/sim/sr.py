"""The SR document around a dose report: document modules, observer context, evidence.

Shared by the CT (TID 10011), projection X-ray (TID 10001) and radiopharmaceutical
(TID 10021) reports. The report references the study's MPPS and the image objects sent
with it, so UIDs stay consistent across the study.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from medcoop.sim import codes as C
from medcoop.sim._build import SrWriter, new, put, put_seq
from medcoop.sim.codes import Code, SopClass
from medcoop.sim.header import attach_file_meta, common_header
from medcoop.sim.plan import StudyTruth
from medcoop.sim.vendors import DeviceSpec

__all__ = ["device_observer_items", "sr_document", "writer_for"]


def writer_for(device: DeviceSpec) -> SrWriter:
    """Return an SR item writer in ``device``'s vendor spelling."""
    return SrWriter(device.vendor.meaning_case)


def device_observer_items(sr: SrWriter, device: DeviceSpec) -> list[Dataset]:
    """Return the TID 1002 device observer context (HAS OBS CONTEXT items)."""
    rel = "HAS OBS CONTEXT"
    return [
        sr.coded(rel, C.OBSERVER_TYPE, C.DEVICE),
        sr.uidref(rel, C.DEVICE_OBSERVER_UID, device.device_observer_uid),
        sr.text(rel, C.DEVICE_OBSERVER_NAME, device.station_name),
        sr.text(rel, C.DEVICE_OBSERVER_MANUFACTURER, device.vendor.manufacturer),
        sr.text(rel, C.DEVICE_OBSERVER_MODEL, device.model),
        sr.text(rel, C.DEVICE_OBSERVER_SERIAL, device.serial_number),
    ]


def study_scope_items(sr: SrWriter, truth: StudyTruth) -> list[Dataset]:
    """Return the Scope of Accumulation (Study) with its Study Instance UID."""
    scope = sr.coded("HAS OBS CONTEXT", C.SCOPE_OF_ACCUMULATION, C.STUDY)
    put_seq(
        scope,
        "ContentSequence",
        [sr.uidref("HAS PROPERTIES", C.STUDY_INSTANCE_UID, truth.study_instance_uid)],
    )
    return [scope]


def sr_document(
    truth: StudyTruth,
    device: DeviceSpec,
    *,
    sop_class_uid: str,
    template_id: str,
    title: Code,
    content: Sequence[Dataset],
    image_sop_class_uid: str | None,
) -> Dataset:
    """Return a complete dose report dataset around ``content`` (the root's children)."""
    assert truth.rdsr_sop_instance_uid and truth.rdsr_series_instance_uid
    sr = writer_for(device)
    ds = common_header(
        truth,
        device,
        sop_class_uid=sop_class_uid,
        sop_instance_uid=truth.rdsr_sop_instance_uid,
        series_instance_uid=truth.rdsr_series_instance_uid,
        modality="SR",
        series_number=999,
        instance_number=truth.report_sop_instance_uids.index(truth.rdsr_sop_instance_uid) + 1,
        content_at=truth.ended_at,
        series_description="Dose Report",
    )
    put_seq(
        ds,
        "ReferencedPerformedProcedureStepSequence",
        [
            new(
                ReferencedSOPClassUID=SopClass.MPPS,
                ReferencedSOPInstanceUID=truth.mpps_sop_instance_uid,
            )
        ],
    )
    put_seq(ds, "PerformedProcedureCodeSequence", [])
    if image_sop_class_uid and truth.image_sop_instance_uids:
        put_seq(
            ds, "CurrentRequestedProcedureEvidenceSequence", [_evidence(truth, image_sop_class_uid)]
        )
    put(ds, "ValueType", "CONTAINER")
    put_seq(ds, "ConceptNameCodeSequence", [sr.code(title, concept=True)])
    put(ds, "ContinuityOfContent", "SEPARATE")
    put_seq(
        ds, "ContentTemplateSequence", [new(MappingResource="DCMR", TemplateIdentifier=template_id)]
    )
    put(ds, "CompletionFlag", "COMPLETE")
    put(ds, "VerificationFlag", "UNVERIFIED")
    put_seq(ds, "ContentSequence", content)
    return attach_file_meta(ds)


def _evidence(truth: StudyTruth, image_sop_class_uid: str) -> Dataset:
    references = [
        new(ReferencedSOPClassUID=image_sop_class_uid, ReferencedSOPInstanceUID=uid)
        for uid in truth.image_sop_instance_uids
    ]
    series = new(
        SeriesInstanceUID=truth.image_series_instance_uid, ReferencedSOPSequence=references
    )
    return new(StudyInstanceUID=truth.study_instance_uid, ReferencedSeriesSequence=[series])
