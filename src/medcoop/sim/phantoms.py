"""Synthetic images with real pixels for the first-party apps (tests, demo, bench): water and
elliptical CT phantoms, CT localizers and DX images with exposure headers, made in memory."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

__all__ = ["axial_ct", "dx_image", "ellipse_hu", "localizer"]

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def _image(pixels: np.ndarray, sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    # a phantom, not a person: the attributes an SR copies from its evidence
    ds.PatientName, ds.PatientID = "PHANTOM^WATER", "PHANTOM-1"
    ds.PatientBirthDate, ds.PatientSex = "", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20261201", "090000", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "SIMU"
    ds.ManufacturerModelName = "Phantom 1"
    ds.StationName = "ROOM1"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def ellipse_hu(
    semi_x_cm: float,
    semi_y_cm: float,
    *,
    fov_cm: float = 50.0,
    size: int = 512,
    inside_hu: float = 0.0,
) -> tuple[np.ndarray, float]:
    """An axial HU image of a uniform ellipse in air; returns it and the pixel size in mm."""
    pixel_mm = fov_cm * 10.0 / size
    centres = (np.arange(size) - (size - 1) / 2.0) * pixel_mm / 10.0
    y, x = np.meshgrid(centres, centres, indexing="ij")
    inside = (x / semi_x_cm) ** 2 + (y / semi_y_cm) ** 2 <= 1.0
    return np.where(inside, inside_hu, -1000.0), pixel_mm


def axial_ct(hu: np.ndarray, pixel_mm: float, *, z_mm: float = 0.0) -> Dataset:
    """An axial CT image of ``hu``, stored with intercept −1024 (as scanners do)."""
    ds = _image(np.clip(np.rint(hu + 1024.0), 0, 65535), CT_IMAGE, "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    ds.PixelSpacing = [pixel_mm, pixel_mm]
    ds.ImagePositionPatient = [0.0, 0.0, z_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    return ds


def localizer(width_cm: float, *, frontal: bool = True, pixel_mm: float = 1.0) -> Dataset:
    """A CT localizer of a patient ``width_cm`` wide (bright band on a dark background)."""
    size = 512
    pixels = np.full((size, size), 100.0)
    half = width_cm * 10.0 / pixel_mm / 2.0
    columns = np.abs(np.arange(size) - (size - 1) / 2.0) <= half
    pixels[:, columns] = 2000.0
    ds = _image(pixels, CT_IMAGE, "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.PixelSpacing = [pixel_mm, pixel_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1] if frontal else [0, 1, 0, 0, 0, -1]
    return ds


def dx_image(
    ei: float | None,
    target: float | None,
    *,
    di: float | None = None,
    view: str = "PA",
    body_part: str = "CHEST",
    study_uid: str | None = None,
    acquired: str = "20261201T093000",
    pixels: np.ndarray | None = None,
    station: str = "ROOM1",
) -> Dataset:
    """A DX image with exposure headers (tiny pixels unless ``pixels`` are given)."""
    ds = _image(pixels if pixels is not None else np.zeros((8, 8)), DX_IMAGE, "DX")
    ds.StationName = station
    if study_uid:
        ds.StudyInstanceUID = study_uid
    ds.ViewPosition = view
    ds.BodyPartExamined = body_part
    day, time = acquired.split("T")
    ds.AcquisitionDate = day
    ds.AcquisitionTime = time
    if ei is not None:
        ds.ExposureIndex = ei
    if target is not None:
        ds.TargetExposureIndex = target
    if di is not None:
        ds.DeviationIndex = di
    return ds
