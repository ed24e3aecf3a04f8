"""Image headers with dose attributes: DX/CR, mammography and PET (tiny 8×8 pixel data).

The fleet is for dose and usage, not images, so every image carries 128 bytes of zero
pixels: enough for the objects to be valid and sendable, cheap to make and store.
Dose attributes use their standard units: DAP (0018,115E) in dGy·cm², Organ Dose
(0040,0316) in dGy, Entrance Dose (0040,8302) in mGy, Radionuclide Total Dose in Bq.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.sim import codes as C
from medcoop.sim._build import fmt_ds, new, put, put_seq
from medcoop.sim.codes import SopClass
from medcoop.sim.header import attach_file_meta, common_header, da, tm
from medcoop.sim.plan import PlannedEvent, StudyTruth
from medcoop.sim.protocols import NmProtocol
from medcoop.sim.vendors import DeviceSpec

__all__ = ["add_tiny_pixels", "dx_images", "mg_images", "pt_images"]

_ROWS = _COLUMNS = 8
_ZERO_PIXELS = bytes(_ROWS * _COLUMNS * 2)


def add_tiny_pixels(ds: Dataset) -> None:
    """Add the Image Pixel module with 8×8 16-bit zero pixels to ``ds``."""
    put(ds, "SamplesPerPixel", 1)
    put(ds, "PhotometricInterpretation", "MONOCHROME2")
    put(ds, "Rows", _ROWS)
    put(ds, "Columns", _COLUMNS)
    put(ds, "BitsAllocated", 16)
    put(ds, "BitsStored", 12)
    put(ds, "HighBit", 11)
    put(ds, "PixelRepresentation", 0)
    put(ds, "PixelData", _ZERO_PIXELS)


def _image(
    truth: StudyTruth, device: DeviceSpec, event: PlannedEvent, sop_class: str, number: int
) -> Dataset:
    assert event.image_sop_uid and truth.image_series_instance_uid
    ds = common_header(
        truth,
        device,
        sop_class_uid=sop_class,
        sop_instance_uid=event.image_sop_uid,
        series_instance_uid=truth.image_series_instance_uid,
        modality=device.modality,
        series_number=1,
        instance_number=number,
        content_at=event.started_at,
        series_description=event.protocol or "",
    )
    put(ds, "AcquisitionDate", da(event.started_at))
    put(ds, "AcquisitionTime", tm(event.started_at))
    put(ds, "IrradiationEventUID", event.event_uid)
    put(ds, "ProtocolName", truth.protocol)
    if event.kvp is not None:
        put(ds, "KVP", f"{event.kvp:g}")
    return ds


def dx_images(truth: StudyTruth, device: DeviceSpec) -> list[Dataset]:
    """Return one DX (or CR) image header per projection, DAP in dGy·cm²."""
    sop_class = SopClass.CR_IMAGE if device.kind == "cr" else SopClass.DX_IMAGE_PRESENTATION
    images = []
    for number, event in enumerate(truth.events, start=1):
        ds = _image(truth, device, event, sop_class, number)
        put(ds, "ImageType", ["ORIGINAL", "PRIMARY"])
        put(ds, "BodyPartExamined", (event.target_region or "").upper()[:16])
        if device.kind == "dx":
            put(ds, "PresentationIntentType", "FOR PRESENTATION")
            put(ds, "ImageAndFluoroscopyAreaDoseProduct", fmt_ds((event.dap_gycm2 or 0) * 10))
            put(ds, "EntranceDoseInmGy", fmt_ds(event.rp_dose_mgy or 0.0))
            put(ds, "DetectorType", "SCINTILLATOR")
        put(ds, "ExposureIndex", fmt_ds(event.exposure_index or 0.0))
        put(ds, "TargetExposureIndex", fmt_ds(event.target_exposure_index or 0.0))
        put(ds, "DeviationIndex", fmt_ds(event.deviation_index or 0.0))
        put(ds, "ExposureTime", max(1, round((event.duration_s or 0) * 1000)))
        put(ds, "ViewPosition", "LL" if "LAT" in (event.protocol or "") else "PA")
        put(ds, "PatientOrientation", ["A", "F"])
        add_tiny_pixels(ds)
        images.append(attach_file_meta(ds))
    return images


def mg_images(truth: StudyTruth, device: DeviceSpec) -> list[Dataset]:
    """Return one mammography image header per view: Organ Dose (dGy) and entrance dose."""
    images = []
    for number, event in enumerate(truth.events, start=1):
        ds = _image(truth, device, event, SopClass.MG_IMAGE_PRESENTATION, number)
        put(ds, "ImageType", ["ORIGINAL", "PRIMARY"])
        put(ds, "PresentationIntentType", "FOR PRESENTATION")
        put(ds, "BodyPartExamined", "BREAST")
        put(ds, "ImageLaterality", event.laterality)
        put(ds, "Laterality", event.laterality)
        put(ds, "ViewPosition", event.view)
        view = C.CRANIO_CAUDAL if event.view == "CC" else C.MEDIO_LATERAL_OBLIQUE
        put_seq(
            ds,
            "ViewCodeSequence",
            [
                new(
                    CodeValue=view.value,
                    CodingSchemeDesignator=view.scheme,
                    CodeMeaning=view.meaning,
                )
            ],
        )
        put(ds, "BodyPartThickness", fmt_ds(event.compressed_thickness_mm or 0.0))
        put(ds, "CompressionForce", fmt_ds(event.compression_force_n or 0.0))
        put(ds, "AnodeTargetMaterial", _material_text(event.anode_target))
        put(ds, "FilterMaterial", _material_text(event.filter_material))
        put(ds, "OrganExposed", "BREAST")
        put(ds, "OrganDose", fmt_ds((event.agd_mgy or 0.0) / 100.0))
        put(ds, "EntranceDoseInmGy", fmt_ds(event.entrance_dose_mgy or 0.0))
        put(ds, "ExposureTime", max(1, round((event.duration_s or 0) * 1000)))
        put(ds, "PatientOrientation", ["A", "R"] if event.laterality == "L" else ["P", "L"])
        add_tiny_pixels(ds)
        images.append(attach_file_meta(ds))
    return images


def _material_text(meaning: str | None) -> str:
    """Image headers name materials in upper case ("TUNGSTEN"), reports by code meaning."""
    return (meaning or "UNKNOWN").split()[0].upper()


def pt_images(truth: StudyTruth, device: DeviceSpec, protocol: NmProtocol) -> list[Dataset]:
    """Return PET image headers carrying the Radiopharmaceutical Information Sequence."""
    event = truth.events[0]
    images = []
    for number, sop_uid in enumerate(truth.image_sop_instance_uids, start=1):
        assert truth.image_series_instance_uid
        ds = common_header(
            truth,
            device,
            sop_class_uid=SopClass.PET_IMAGE,
            sop_instance_uid=sop_uid,
            series_instance_uid=truth.image_series_instance_uid,
            modality="PT",
            series_number=3,
            instance_number=number,
            content_at=truth.ended_at,
            series_description="PET WB",
        )
        put(ds, "ImageType", ["ORIGINAL", "PRIMARY"])
        put(ds, "AcquisitionDate", da(truth.ended_at))
        put(ds, "AcquisitionTime", tm(truth.ended_at))
        put(ds, "SeriesType", ["WHOLE BODY", "IMAGE"])
        put(ds, "Units", "BQML")
        put(ds, "DecayCorrection", "START")
        put(ds, "CorrectedImage", ["DECY", "ATTN", "SCAT"])
        put(ds, "ImageIndex", number)
        put(ds, "NumberOfSlices", len(truth.image_sop_instance_uids))
        if truth.frame_of_reference_uid:
            put(ds, "FrameOfReferenceUID", truth.frame_of_reference_uid)
        nuclide = new(
            CodeValue=protocol.radionuclide.value,
            CodingSchemeDesignator=protocol.radionuclide.scheme,
            CodeMeaning=protocol.radionuclide.meaning,
        )
        agent = new(
            CodeValue=protocol.agent.value,
            CodingSchemeDesignator=protocol.agent.scheme,
            CodeMeaning=protocol.agent.meaning,
        )
        info = new(
            Radiopharmaceutical=protocol.agent.meaning[:64],
            RadiopharmaceuticalStartTime=tm(event.started_at),
            RadiopharmaceuticalStartDateTime=event.started_at.strftime("%Y%m%d%H%M%S.%f")[:-3],
            RadionuclideTotalDose=fmt_ds((event.administered_activity_mbq or 0.0) * 1e6),
            RadionuclideHalfLife=fmt_ds(protocol.half_life_s),
            RadionuclidePositronFraction="0.9673",
            RadionuclideCodeSequence=[nuclide],
            RadiopharmaceuticalCodeSequence=[agent],
        )
        put_seq(ds, "RadiopharmaceuticalInformationSequence", [info])
        add_tiny_pixels(ds)
        images.append(attach_file_meta(ds))
    return images
