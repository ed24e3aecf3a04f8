"""CT patient size from images: water-equivalent diameter (AAPM Report 220) and SSDE.

Pure functions over pydicom datasets and numpy arrays: no I/O, no SDK. The SDK app in
:mod:`medcoop.apps.firstparty.apps` wraps them.

Axial images (AAPM 220)
    HU = stored value × RescaleSlope + RescaleIntercept. The patient region is the
    largest connected region above :data:`PATIENT_THRESHOLD_HU` with its holes filled
    (the lungs, below the threshold, lie inside the patient and count), so the table and
    the air around the patient, which are separate regions, are left out. Then
    ``A_w = Σ (HU/1000 + 1) × pixel area`` over the region and ``D_w = 2·sqrt(A_w/π)``.
    A region that touches the image border is flagged ``truncated``: D_w is then too
    small (AAPM 220 §3), and is reported so, never silently.
    For a scan, D_w of the central slice of the scan range is the study's size (Leng et
    al. 2015: RMS error under 9 % against averaging SSDE(z)); the mean over slices is
    given beside it.

CT localizer (AAPM 204)
    A localizer's pixel values are not HU, so D_w cannot be had from it without a
    per-scanner calibration we do not have. The patient's width across the localizer
    (LAT on a frontal one, AP on a lateral one) is measured and turned into an
    *effective* diameter through AAPM 204's lookup table
    (:func:`medcoop.analytics.ssde.effective_diameter_from_dimension_cm`).

SSDE uses the one packaged copy of the AAPM 204 coefficients in
:mod:`medcoop.analytics.ssde`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset
from scipy import ndimage

from medcoop.analytics.ssde import (
    Phantom,
    SsdeResult,
    effective_diameter_from_dimension_cm,
    ssde_mgy,
)
from medcoop.records import PatientFacts, StudyRecord, record_key_for

__all__ = [
    "PATIENT_THRESHOLD_HU",
    "CtSizeError",
    "SliceSize",
    "StudySize",
    "hu_image",
    "localizer_effective_diameter_cm",
    "patient_mask",
    "size_ssde",
    "slice_size",
    "study_size",
    "water_equivalent_diameter",
    "with_patient_size",
]

#: HU above which a pixel may belong to the patient: between air (−1000) and fat (−100),
#: and above lung (about −800), whose holes are filled afterwards.
PATIENT_THRESHOLD_HU = -500.0
_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
_ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"


class CtSizeError(ValueError):
    """An image from which no size can be had (carries the reason)."""


@dataclass(frozen=True, slots=True)
class SliceSize:
    """The size of the patient on one axial slice."""

    water_equivalent_diameter_cm: float
    #: Area of the patient region, cm².
    area_cm2: float
    mean_hu: float
    #: The region touches the image border: the patient may be cut by the field of view.
    truncated: bool
    #: Table position of the slice (ImagePositionPatient z), mm, when known.
    z_mm: float | None = None


@dataclass(frozen=True, slots=True)
class StudySize:
    """The size of the patient for a study, and how it was had."""

    method: Literal["water_equivalent_diameter", "effective_diameter"]
    diameter_cm: float
    #: Mean D_w over the axial slices (``None`` from a localizer).
    mean_water_equivalent_diameter_cm: float | None
    slices: int
    truncated: bool


def hu_image(ds: Dataset) -> np.ndarray:
    """Return the pixel values of ``ds`` in HU (``RescaleSlope``/``RescaleIntercept``).

    Raises
    ------
    CtSizeError
        If the dataset has no pixel data.
    """
    if "PixelData" not in ds:
        raise CtSizeError("the image has no pixel data")
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return np.asarray(ds.pixel_array, dtype=np.float64) * slope + intercept


def patient_mask(hu: np.ndarray, *, threshold_hu: float = PATIENT_THRESHOLD_HU) -> np.ndarray:
    """Return the patient region of an axial HU image: the largest region above
    ``threshold_hu``, holes filled (an all-False mask when nothing is above it)."""
    labels, count = ndimage.label(hu > threshold_hu)
    if count == 0:
        return np.zeros(hu.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # background
    region = labels == int(np.argmax(sizes))
    return np.asarray(ndimage.binary_fill_holes(region), dtype=bool)


def water_equivalent_diameter(
    hu: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    *,
    threshold_hu: float = PATIENT_THRESHOLD_HU,
    z_mm: float | None = None,
) -> SliceSize:
    """Return D_w (AAPM 220) of one axial HU image with ``pixel_spacing_mm`` (row, column).

    Raises
    ------
    CtSizeError
        If no patient region is found.
    """
    mask = patient_mask(hu, threshold_hu=threshold_hu)
    pixels = int(mask.sum())
    if pixels == 0:
        raise CtSizeError("no patient region above the threshold")
    pixel_area_cm2 = pixel_spacing_mm[0] * pixel_spacing_mm[1] / 100.0
    # HU below −1000 (padding, noise) would count negative water: clip at air
    relative = np.clip(hu[mask], -1000.0, None) / 1000.0 + 1.0
    water_area_cm2 = float(relative.sum()) * pixel_area_cm2
    border = mask[0, :].any() or mask[-1, :].any() or mask[:, 0].any() or mask[:, -1].any()
    return SliceSize(
        water_equivalent_diameter_cm=2.0 * math.sqrt(water_area_cm2 / math.pi),
        area_cm2=pixels * pixel_area_cm2,
        mean_hu=float(hu[mask].mean()),
        truncated=bool(border),
        z_mm=z_mm,
    )


def _pixel_spacing(ds: Dataset) -> tuple[float, float]:
    spacing = ds.get("PixelSpacing")
    if not spacing or len(spacing) != 2:
        raise CtSizeError("the image has no PixelSpacing")
    row, col = float(spacing[0]), float(spacing[1])
    if row <= 0 or col <= 0:
        raise CtSizeError("PixelSpacing must be positive")
    return row, col


def is_localizer(ds: Dataset) -> bool:
    """Whether ``ds`` is a CT localizer (ImageType value 3 ``LOCALIZER``)."""
    return "LOCALIZER" in [str(v).upper() for v in ds.get("ImageType", [])]


def is_axial_ct(ds: Dataset) -> bool:
    """Whether ``ds`` is a CT image with pixels that is not a localizer."""
    return (
        str(ds.get("SOPClassUID", "")) in (_CT_IMAGE, _ENHANCED_CT_IMAGE)
        and "PixelData" in ds
        and not is_localizer(ds)
    )


def slice_size(ds: Dataset, *, threshold_hu: float = PATIENT_THRESHOLD_HU) -> SliceSize:
    """Return D_w of one axial CT image dataset.

    Raises
    ------
    CtSizeError
        If ``ds`` is a localizer, lacks pixels or spacing, or shows no patient.
    """
    if is_localizer(ds):
        raise CtSizeError("a localizer gives no D_w: use localizer_effective_diameter_cm")
    position = ds.get("ImagePositionPatient")
    z_mm = float(position[2]) if position and len(position) == 3 else None
    return water_equivalent_diameter(
        hu_image(ds), _pixel_spacing(ds), threshold_hu=threshold_hu, z_mm=z_mm
    )


def _localizer_measurement(ds: Dataset) -> Literal["lat", "ap"]:
    """LAT across a frontal localizer (rows along patient x), AP across a lateral one."""
    orientation = ds.get("ImageOrientationPatient")
    if not orientation or len(orientation) != 6:
        raise CtSizeError("the localizer has no ImageOrientationPatient")
    row_x, row_y = abs(float(orientation[0])), abs(float(orientation[1]))
    return "lat" if row_x >= row_y else "ap"


def localizer_effective_diameter_cm(ds: Dataset) -> float:
    """Return the effective diameter (AAPM 204 lookup) from a CT localizer's width.

    The patient is where the localizer is above halfway between its background (the
    10th percentile) and its 99th percentile; the width is the median over the rows of
    the central third.

    Raises
    ------
    CtSizeError
        If the localizer cannot be measured, or its width is outside AAPM 204's table.
    """
    image = np.asarray(ds.pixel_array, dtype=np.float64)
    measurement = _localizer_measurement(ds)
    _, col_mm = _pixel_spacing(ds)
    low, high = np.percentile(image, [10, 99])
    if high <= low:
        raise CtSizeError("the localizer shows no patient")
    rows = image.shape[0]
    central = image[rows // 3 : max(rows // 3 + 1, 2 * rows // 3)] > (low + high) / 2
    widths_cm = central.sum(axis=1) * col_mm / 10.0
    width_cm = float(np.median(widths_cm))
    try:
        return effective_diameter_from_dimension_cm(width_cm, measurement)
    except ValueError as exc:
        raise CtSizeError(str(exc)) from exc


def study_size(
    datasets: Iterable[Dataset], *, threshold_hu: float = PATIENT_THRESHOLD_HU
) -> StudySize:
    """Return the patient size of a study: D_w of the central axial slice, else the
    effective diameter from a localizer.

    Raises
    ------
    CtSizeError
        If neither axial images nor a measurable localizer are among ``datasets``.
    """
    items = list(datasets)
    axial = [ds for ds in items if is_axial_ct(ds)]
    if axial:
        sizes = sorted(
            (slice_size(ds, threshold_hu=threshold_hu) for ds in axial),
            key=lambda s: (s.z_mm is None, s.z_mm or 0.0),
        )
        central = sizes[len(sizes) // 2]
        return StudySize(
            method="water_equivalent_diameter",
            diameter_cm=central.water_equivalent_diameter_cm,
            mean_water_equivalent_diameter_cm=float(
                np.mean([s.water_equivalent_diameter_cm for s in sizes])
            ),
            slices=len(sizes),
            truncated=any(s.truncated for s in sizes),
        )
    localizers = [ds for ds in items if is_localizer(ds) and "PixelData" in ds]
    if localizers:
        return StudySize(
            method="effective_diameter",
            diameter_cm=localizer_effective_diameter_cm(localizers[0]),
            mean_water_equivalent_diameter_cm=None,
            slices=0,
            truncated=False,
        )
    raise CtSizeError("the study has neither axial CT images nor a CT localizer with pixels")


def size_ssde(ctdivol_mgy: float, size: StudySize, phantom: Phantom = "body32") -> SsdeResult:
    """Return the SSDE (AAPM 204/220) of a CTDIvol for the study's size."""
    if size.method == "water_equivalent_diameter":
        return ssde_mgy(ctdivol_mgy, water_equivalent_diameter_cm=size.diameter_cm, phantom=phantom)
    return ssde_mgy(ctdivol_mgy, effective_diameter_cm=size.diameter_cm, phantom=phantom)


def with_patient_size(record: StudyRecord, size: StudySize) -> StudyRecord:
    """Return ``record`` with the study's size in its patient facts (the hub computes
    SSDE from it). A truncated D_w is left out: it would understate the size."""
    if size.truncated or not 0 < size.diameter_cm <= 100:
        return record
    field = (
        "water_equivalent_diameter_cm"
        if size.method == "water_equivalent_diameter"
        else "effective_diameter_cm"
    )
    patient: PatientFacts = record.patient.model_copy(update={field: round(size.diameter_cm, 2)})
    updated = record.model_copy(update={"patient": patient})
    # the key is the content's: a record with the size is a new version of the study
    content = updated.model_dump(mode="json", exclude={"record_key"})
    return updated.model_copy(update={"record_key": record_key_for(content)})


def ctdivol_of(record: StudyRecord) -> list[tuple[float, Phantom]]:
    """Return the CTDIvol and phantom of each CT acquisition of ``record`` that has both."""
    return [
        (event.ctdivol_mgy, event.ctdi_phantom)
        for event in record.events
        if event.ctdivol_mgy is not None and event.ctdi_phantom is not None
    ]
