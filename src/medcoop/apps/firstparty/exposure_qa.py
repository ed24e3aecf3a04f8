"""Projection X-ray exposure QA: exposure index and deviation index (IEC 62494-1).

Pure functions over DX/CR image headers: no I/O, no SDK.

IEC 62494-1 defines the exposure index EI (detector exposure, vendor-neutral), the
target EI_T a site sets per body part and view, and the deviation index
``DI = 10·log10(EI / EI_T)``: +1 is 26 % more exposure than intended, +3 is double,
−3 half. The headers carry ExposureIndex (0018,1411), TargetExposureIndex (0018,1412)
and DeviationIndex (0018,1413); when EI and EI_T are both present DI is computed from
them (and a header DI that disagrees by more than 0.1 is reported), else the header's
DI is used.

Thresholds (IEC 62494-1 sets none; these follow AAPM Task Group 116, Shepard et al.
2009, and Don et al. 2012), as :class:`DiThresholds`:

=================  ====================  ===================================
DI                  class                 action
=================  ====================  ===================================
> +3                ``over``              excessive exposure: review technique
+1 … +3             ``high``              above target: watch the trend
−1 … +1             ``target``            none
−3 … −1             ``low``               below target: watch noise
< −3                ``under``             underexposed: a repeat may follow
=================  ====================  ===================================

``over`` and ``under`` are the flags; ``high`` and ``low`` show in the trends only.

A **repeated exposure** is a second image of the same view (ViewPosition, body part and
laterality) in the same study: a study groups one patient's visit without the edge
having to read a patient identifier here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from pydicom.dataset import Dataset

from medcoop.dicom.headers import acquisition_time
from medcoop.dicom.values import first_float, get_value, text_or_none

__all__ = [
    "DiThresholds",
    "Exposure",
    "ExposureClass",
    "ExposureQaError",
    "GroupSummary",
    "TrendPoint",
    "assess",
    "classify",
    "deviation_index",
    "exposure_from_dataset",
    "mark_repeats",
    "summarise",
    "trend",
]

ExposureClass = Literal["over", "high", "target", "low", "under"]
_PROJECTION_MODALITIES = frozenset({"DX", "CR"})


class ExposureQaError(ValueError):
    """An image that cannot be assessed (carries the reason)."""


@dataclass(frozen=True, slots=True)
class DiThresholds:
    """The DI bounds of the classes: ``|DI| > action_db`` is flagged, ``|DI| > review_db``
    is off target."""

    review_db: float = 1.0
    action_db: float = 3.0


@dataclass(frozen=True, slots=True)
class Exposure:
    """One DX/CR image's exposure, with its class and whether it repeats a view."""

    sop_instance_uid: str
    study_instance_uid: str
    device: str
    view: str
    exposure_index: float
    target_exposure_index: float | None
    deviation_index: float
    #: The header's DI disagrees with 10·log10(EI/EI_T) by more than 0.1.
    header_di_disagrees: bool
    acquired_at: datetime | None
    exposure_class: ExposureClass = "target"
    repeat: bool = False

    @property
    def flagged(self) -> bool:
        """Over- or under-exposed beyond the action threshold, or a repeat."""
        return self.exposure_class in ("over", "under") or self.repeat


def deviation_index(exposure_index: float, target_exposure_index: float) -> float:
    """Return ``DI = 10·log10(EI/EI_T)`` (IEC 62494-1).

    Raises
    ------
    ExposureQaError
        If either index is not positive.
    """
    if exposure_index <= 0 or target_exposure_index <= 0:
        raise ExposureQaError("EI and EI_T must be positive for a deviation index")
    return 10.0 * math.log10(exposure_index / target_exposure_index)


def classify(di: float, thresholds: DiThresholds = DiThresholds()) -> ExposureClass:
    """Return the class of a deviation index under ``thresholds``."""
    if di > thresholds.action_db:
        return "over"
    if di < -thresholds.action_db:
        return "under"
    if di > thresholds.review_db:
        return "high"
    if di < -thresholds.review_db:
        return "low"
    return "target"


def _device(ds: Dataset) -> str:
    parts = [text_or_none(get_value(ds, tag)) for tag in (0x00080070, 0x00081090, 0x00081010)]
    return " / ".join(p for p in parts if p) or "unknown device"


def _view(ds: Dataset) -> str:
    position = text_or_none(get_value(ds, 0x00185101)) or "?"
    body_part = text_or_none(get_value(ds, 0x00180015)) or "?"
    laterality = text_or_none(get_value(ds, 0x00200062)) or text_or_none(
        get_value(ds, 0x00200060)
    )
    return f"{body_part} {position}" + (f" {laterality}" if laterality else "")


def exposure_from_dataset(
    ds: Dataset, thresholds: DiThresholds = DiThresholds()
) -> Exposure:
    """Return the exposure of one DX/CR image.

    Raises
    ------
    ExposureQaError
        If ``ds`` is not DX/CR, or carries neither EI with EI_T nor a DI.
    """
    modality = str(ds.get("Modality", "")).upper()
    if modality not in _PROJECTION_MODALITIES:
        raise ExposureQaError(f"modality {modality or 'none'} is not DX or CR")
    ei = first_float(get_value(ds, 0x00181411))
    target = first_float(get_value(ds, 0x00181412))
    header_di = first_float(get_value(ds, 0x00181413))
    if ei is None or ei <= 0:
        raise ExposureQaError("the image has no exposure index")
    if target is not None and target > 0:
        di = deviation_index(ei, target)
        disagrees = header_di is not None and abs(header_di - di) > 0.1
    elif header_di is not None:
        di, disagrees, target = header_di, False, None
    else:
        raise ExposureQaError("the image has neither a target exposure index nor a DI")
    return Exposure(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        device=_device(ds),
        view=_view(ds),
        exposure_index=ei,
        target_exposure_index=target,
        deviation_index=round(di, 3),
        header_di_disagrees=disagrees,
        acquired_at=acquisition_time(ds),
        exposure_class=classify(di, thresholds),
    )


def mark_repeats(exposures: Iterable[Exposure]) -> list[Exposure]:
    """Return ``exposures`` with every image after the first of its study and view marked
    as a repeat (in acquisition order)."""
    items = sorted(
        exposures, key=lambda e: (e.acquired_at is None, e.acquired_at or datetime.min)
    )
    seen: set[tuple[str, str]] = set()
    marked = []
    for exposure in items:
        key = (exposure.study_instance_uid, exposure.view)
        repeat = key in seen
        seen.add(key)
        marked.append(replace(exposure, repeat=repeat))
    return marked


def assess(
    datasets: Iterable[Dataset], thresholds: DiThresholds = DiThresholds()
) -> tuple[list[Exposure], list[tuple[str, str]]]:
    """Assess every DX/CR image of ``datasets``.

    Returns the exposures (repeats marked) and, for each image that could not be
    assessed, its SOP Instance UID and the reason (never silently dropped).
    """
    exposures: list[Exposure] = []
    skipped: list[tuple[str, str]] = []
    for ds in datasets:
        try:
            exposures.append(exposure_from_dataset(ds, thresholds))
        except ExposureQaError as exc:
            skipped.append((str(ds.get("SOPInstanceUID", "")), str(exc)))
    return mark_repeats(exposures), skipped


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Exposure QA of one device and view."""

    device: str
    view: str
    images: int
    mean_di: float
    median_ei: float
    over: int
    under: int
    repeats: int


def summarise(exposures: Iterable[Exposure]) -> list[GroupSummary]:
    """Return one summary per device and view, sorted by device then view."""
    groups: dict[tuple[str, str], list[Exposure]] = defaultdict(list)
    for exposure in exposures:
        groups[(exposure.device, exposure.view)].append(exposure)
    summaries = []
    for (device, view), items in sorted(groups.items()):
        eis = sorted(e.exposure_index for e in items)
        middle = len(eis) // 2
        median = eis[middle] if len(eis) % 2 else (eis[middle - 1] + eis[middle]) / 2
        summaries.append(
            GroupSummary(
                device=device,
                view=view,
                images=len(items),
                mean_di=round(sum(e.deviation_index for e in items) / len(items), 3),
                median_ei=median,
                over=sum(e.exposure_class == "over" for e in items),
                under=sum(e.exposure_class == "under" for e in items),
                repeats=sum(e.repeat for e in items),
            )
        )
    return summaries


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """Mean DI of one device on one day (the trend chart's point)."""

    device: str
    day: date
    images: int
    mean_di: float
    flagged: int


def trend(exposures: Iterable[Exposure]) -> list[TrendPoint]:
    """Return the daily mean DI per device (images without a time are left out)."""
    days: dict[tuple[str, date], list[Exposure]] = defaultdict(list)
    for exposure in exposures:
        if exposure.acquired_at is not None:
            days[(exposure.device, exposure.acquired_at.date())].append(exposure)
    return [
        TrendPoint(
            device=device,
            day=day,
            images=len(items),
            mean_di=round(sum(e.deviation_index for e in items) / len(items), 3),
            flagged=sum(e.flagged for e in items),
        )
        for (device, day), items in sorted(days.items())
    ]
