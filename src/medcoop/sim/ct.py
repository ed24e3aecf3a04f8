"""CT objects: the X-Ray Radiation Dose SR (TID 10011/10012/10013/10014/10015) and image headers.

The report carries one CT Acquisition container per planned event (localizers included),
the accumulated DLP in the vendor's unit spelling, Dose Check notification/alert details
where the plan crossed a configured value, and one X-ray source container per tube on
dual-source scanners. Image headers carry CTDIvol (0018,9345) of their acquisition.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.sim import codes as C
from medcoop.sim._build import SrWriter, new, put, put_seq
from medcoop.sim.codes import SopClass
from medcoop.sim.header import attach_file_meta, common_header, da, tm
from medcoop.sim.images import add_tiny_pixels
from medcoop.sim.plan import PlannedEvent, StudyTruth
from medcoop.sim.sr import device_observer_items, sr_document, study_scope_items, writer_for
from medcoop.sim.vendors import DeviceSpec

__all__ = ["ct_images", "ct_rdsr"]


def ct_rdsr(truth: StudyTruth, device: DeviceSpec) -> Dataset:
    """Return the CT Radiation Dose SR of a planned CT study."""
    sr = writer_for(device)
    dlp_unit = device.vendor.dlp_unit
    content = [
        sr.coded("HAS CONCEPT MOD", C.PROCEDURE_REPORTED, C.CT_PROCEDURE),
        *device_observer_items(sr, device),
        sr.datetime("CONTAINS", C.START_OF_XRAY_IRRADIATION, truth.events[0].started_at),
        sr.datetime("CONTAINS", C.END_OF_XRAY_IRRADIATION, truth.ended_at),
        *study_scope_items(sr, truth),
        sr.container(
            "CONTAINS",
            C.CT_ACCUMULATED_DOSE_DATA,
            [
                sr.num(
                    "CONTAINS", C.TOTAL_NUMBER_OF_IRRADIATION_EVENTS, len(truth.events), "events"
                ),
                sr.num("CONTAINS", C.CT_DLP_TOTAL, truth.totals.total_dlp_mgycm or 0.0, dlp_unit),
            ],
        ),
        *(_acquisition(sr, event, dlp_unit) for event in truth.events),
        sr.coded("CONTAINS", C.SOURCE_OF_DOSE_INFORMATION, C.AUTOMATED_DATA_COLLECTION),
    ]
    return sr_document(
        truth,
        device,
        sop_class_uid=SopClass.XRAY_RDSR,
        template_id="10011",
        title=C.XRAY_DOSE_REPORT,
        content=content,
        image_sop_class_uid=SopClass.CT_IMAGE,
    )


def _acquisition(sr: SrWriter, event: PlannedEvent, dlp_unit: str) -> Dataset:
    rel = "CONTAINS"
    items = [
        sr.text(rel, C.ACQUISITION_PROTOCOL, event.protocol or ""),
        sr.coded(rel, C.TARGET_REGION, C.ANATOMY[event.target_region or "Entire body"]),
        sr.coded(
            rel,
            C.CT_ACQUISITION_TYPE,
            C.CT_ACQUISITION_TYPES[event.acquisition_type or "Spiral Acquisition"],
        ),
        sr.coded(rel, C.PROCEDURE_CONTEXT, C.CT_PROCEDURE),
        sr.uidref(rel, C.IRRADIATION_EVENT_UID, event.event_uid),
        sr.datetime(rel, C.DATETIME_STARTED, event.started_at),
        sr.container(rel, C.CT_ACQUISITION_PARAMETERS, _parameters(sr, event)),
        sr.container(rel, C.CT_DOSE, _dose(sr, event, dlp_unit)),
    ]
    return sr.container(rel, C.CT_ACQUISITION, items)


def _parameters(sr: SrWriter, event: PlannedEvent) -> list[Dataset]:
    rel = "CONTAINS"
    items = [
        sr.num(rel, C.EXPOSURE_TIME, event.exposure_time_s or 0.0, "s"),
        sr.num(rel, C.SCANNING_LENGTH, event.scanning_length_mm or 0.0, "mm"),
        sr.num(rel, C.NOMINAL_SINGLE_COLLIMATION, event.nominal_single_collimation_mm or 0, "mm"),
        sr.num(rel, C.NOMINAL_TOTAL_COLLIMATION, event.nominal_total_collimation_mm or 0, "mm"),
    ]
    if event.pitch is not None:
        items.append(sr.num(rel, C.PITCH_FACTOR, event.pitch, "ratio"))
    sources = event.number_of_sources or 1
    items.append(sr.num(rel, C.NUMBER_OF_XRAY_SOURCES, sources, "sources"))
    for source_id in "AB"[:sources]:
        items.append(
            sr.container(
                rel,
                C.CT_XRAY_SOURCE_PARAMETERS,
                [
                    sr.text(rel, C.IDENTIFICATION_OF_XRAY_SOURCE, source_id),
                    sr.num(rel, C.KVP, event.kvp or 120.0, "kV"),
                    sr.num(
                        rel, C.MAXIMUM_TUBE_CURRENT, round((event.tube_current_ma or 0) * 1.3), "mA"
                    ),
                    sr.num(rel, C.TUBE_CURRENT, event.tube_current_ma or 0.0, "mA"),
                    sr.num(rel, C.EXPOSURE_TIME_PER_ROTATION, event.rotation_time_s or 1.0, "s"),
                ],
            )
        )
    return items


def _dose(sr: SrWriter, event: PlannedEvent, dlp_unit: str) -> list[Dataset]:
    rel = "CONTAINS"
    phantom = C.HEAD_PHANTOM if event.ctdi_phantom == "head16" else C.BODY_PHANTOM
    items = [
        sr.num(rel, C.MEAN_CTDIVOL, event.ctdivol_mgy or 0.0, "mGy"),
        sr.coded(rel, C.CTDIW_PHANTOM_TYPE, phantom),
        sr.num(rel, C.DLP, event.dlp_mgycm or 0.0, dlp_unit),
    ]
    notifications = [n for n in event.dose_check if n.kind == "notification"]
    alerts = [n for n in event.dose_check if n.kind == "alert"]
    if notifications:
        items.append(
            sr.container(
                rel,
                C.DOSE_CHECK_NOTIFICATION_DETAILS,
                _notification_items(sr, notifications, dlp_unit),
            )
        )
    if alerts:
        items.append(
            sr.container(rel, C.DOSE_CHECK_ALERT_DETAILS, _alert_items(sr, alerts, dlp_unit))
        )
    return items


def _notification_items(sr: SrWriter, notices: list, dlp_unit: str) -> list[Dataset]:
    rel = "CONTAINS"
    by_metric = {n.metric: n for n in notices}
    items = [
        sr.coded(rel, C.DLP_NOTIFICATION_VALUE_CONFIGURED, C.YES if "dlp" in by_metric else C.NO),
        sr.coded(
            rel, C.CTDIVOL_NOTIFICATION_VALUE_CONFIGURED, C.YES if "ctdivol" in by_metric else C.NO
        ),
    ]
    if (dlp := by_metric.get("dlp")) is not None:
        items.append(sr.num(rel, C.DLP_NOTIFICATION_VALUE, dlp.configured_value, dlp_unit))
        items.append(sr.num(rel, C.DLP_FORWARD_ESTIMATE, dlp.forward_estimate, dlp_unit))
    if (ctdivol := by_metric.get("ctdivol")) is not None:
        items.append(sr.num(rel, C.CTDIVOL_NOTIFICATION_VALUE, ctdivol.configured_value, "mGy"))
        items.append(sr.num(rel, C.CTDIVOL_FORWARD_ESTIMATE, ctdivol.forward_estimate, "mGy"))
    return items


def _alert_items(sr: SrWriter, notices: list, dlp_unit: str) -> list[Dataset]:
    rel = "CONTAINS"
    by_metric = {n.metric: n for n in notices}
    items = [
        sr.coded(rel, C.DLP_ALERT_VALUE_CONFIGURED, C.YES if "dlp" in by_metric else C.NO),
        sr.coded(rel, C.CTDIVOL_ALERT_VALUE_CONFIGURED, C.YES if "ctdivol" in by_metric else C.NO),
    ]
    if (dlp := by_metric.get("dlp")) is not None:
        items.append(sr.num(rel, C.DLP_ALERT_VALUE, dlp.configured_value, dlp_unit))
        items.append(
            sr.num(rel, C.ACCUMULATED_DLP_FORWARD_ESTIMATE, dlp.forward_estimate, dlp_unit)
        )
    if (ctdivol := by_metric.get("ctdivol")) is not None:
        items.append(sr.num(rel, C.CTDIVOL_ALERT_VALUE, ctdivol.configured_value, "mGy"))
        items.append(
            sr.num(rel, C.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE, ctdivol.forward_estimate, "mGy")
        )
    if any(n.reason_given for n in notices):
        items.append(sr.text(rel, C.REASON_FOR_PROCEEDING, "Clinically justified"))
    return items


def ct_images(truth: StudyTruth, device: DeviceSpec) -> list[Dataset]:
    """Return one CT image header per planned acquisition that has an image."""
    images = []
    for number, event in enumerate((e for e in truth.events if e.image_sop_uid), start=1):
        assert event.image_sop_uid and truth.image_series_instance_uid
        ds = common_header(
            truth,
            device,
            sop_class_uid=SopClass.CT_IMAGE,
            sop_instance_uid=event.image_sop_uid,
            series_instance_uid=truth.image_series_instance_uid,
            modality="CT",
            series_number=2,
            instance_number=number,
            content_at=event.started_at,
            series_description=event.protocol or "",
        )
        put(ds, "ImageType", ["ORIGINAL", "PRIMARY", "AXIAL"])
        put(ds, "AcquisitionDate", da(event.started_at))
        put(ds, "AcquisitionTime", tm(event.started_at))
        put(ds, "IrradiationEventUID", event.event_uid)
        put(ds, "BodyPartExamined", (event.target_region or "").upper()[:16])
        put(ds, "ProtocolName", truth.protocol)
        put(ds, "KVP", f"{event.kvp or 120:g}")
        put(ds, "XRayTubeCurrent", int(event.tube_current_ma or 0))
        put(ds, "ExposureTime", int((event.exposure_time_s or 0) * 1000))
        put(ds, "SliceThickness", "5")
        if event.pitch is not None:
            put(ds, "SpiralPitchFactor", f"{event.pitch:g}")
        put(ds, "CTDIvol", f"{event.ctdivol_mgy:g}")
        phantom = C.HEAD_PHANTOM if event.ctdi_phantom == "head16" else C.BODY_PHANTOM
        put_seq(
            ds,
            "CTDIPhantomTypeCodeSequence",
            [
                new(
                    CodeValue=phantom.value,
                    CodingSchemeDesignator=phantom.scheme,
                    CodeMeaning=phantom.meaning,
                )
            ],
        )
        put(ds, "PatientPosition", "HFS")
        put(ds, "ImagePositionPatient", ["0", "0", f"{-number * 5}"])
        put(ds, "ImageOrientationPatient", ["1", "0", "0", "0", "1", "0"])
        put(ds, "PixelSpacing", ["0.7", "0.7"])
        put(ds, "RescaleIntercept", "-1024")
        put(ds, "RescaleSlope", "1")
        add_tiny_pixels(ds)
        images.append(attach_file_meta(ds))
    return images
