"""Size-specific dose estimates (AAPM Reports 204 and 220).

``SSDE = f(D) × CTDIvol`` with ``f(D) = a · exp(−b · D)``, D in cm: the water-equivalent
diameter D_w (AAPM 220) when the record carries it, else the effective diameter
``sqrt(AP × LAT)`` (AAPM 204). Coefficients and the AAPM 204 tables are packaged copies
of the shared reference data (``aapm204_fit.json``, ``aapm204_conversion_factors.csv``,
``aapm204_size_lookup.csv``).

AAPM 204 covers body scans only; its 16 cm phantom factors are for body scans reported
against the 16 cm phantom (mostly paediatric). A head scan gets no SSDE here: AAPM 293
defines head factors that have not been verified for this project.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

from medcoop.records import EventKind, IrradiationEvent, PatientFacts

__all__ = [
    "SsdeResult",
    "conversion_factor",
    "effective_diameter_cm",
    "effective_diameter_from_dimension_cm",
    "ssde_for_event",
    "ssde_mgy",
]

Phantom = Literal["head16", "body32"]
Measurement = Literal["lat_plus_ap", "lat", "ap"]
_PHANTOM_CM: dict[Phantom, str] = {"body32": "32", "head16": "16"}
_HEAD_REGION_WORDS = ("head", "brain", "skull", "sinus", "orbit")


def _data(name: str) -> str:
    return resources.files("medcoop.analytics.data").joinpath(name).read_text("utf-8")


@cache
def _fit() -> dict[str, tuple[float, float, float, float]]:
    raw = json.loads(_data("aapm204_fit.json"))
    ranges = raw["tabulated_range_cm"]
    return {
        size: (float(c["a"]), float(c["b"]), float(ranges[size][0]), float(ranges[size][1]))
        for size, c in raw["phantoms"].items()
    }


@cache
def _size_lookup() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    table: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in csv.DictReader(io.StringIO(_data("aapm204_size_lookup.csv"))):
        key = (row["table_group"], row["measurement"])
        table.setdefault(key, []).append(
            (float(row["measured_cm"]), float(row["effective_diameter_cm"]))
        )
    return {
        key: (np.asarray([m for m, _ in pairs]), np.asarray([d for _, d in pairs]))
        for key, pairs in ((k, sorted(v)) for k, v in table.items())
    }


@dataclass(frozen=True, slots=True)
class SsdeResult:
    """An SSDE with how it was obtained."""

    ssde_mgy: float
    factor: float
    diameter_cm: float
    method: Literal["water_equivalent_diameter", "effective_diameter"]
    phantom: Phantom
    #: The diameter lies outside the range AAPM 204 tabulates: the fit is extrapolated.
    extrapolated: bool


def conversion_factor(diameter_cm: float, phantom: Phantom = "body32") -> float:
    """Return the AAPM 204 conversion factor f(D) for a diameter in cm.

    Raises
    ------
    ValueError
        If the diameter is not a positive finite number.
    """
    if not math.isfinite(diameter_cm) or diameter_cm <= 0:
        raise ValueError(f"diameter must be positive, got {diameter_cm} cm")
    a, b, _, _ = _fit()[_PHANTOM_CM[phantom]]
    return a * math.exp(-b * diameter_cm)


def effective_diameter_cm(ap_cm: float, lat_cm: float) -> float:
    """Return the effective diameter ``sqrt(AP × LAT)`` (AAPM 204) in cm."""
    if ap_cm <= 0 or lat_cm <= 0:
        raise ValueError("AP and LAT dimensions must be positive")
    return math.sqrt(ap_cm * lat_cm)


def effective_diameter_from_dimension_cm(
    measured_cm: float, measurement: Measurement, *, group: Literal["body", "head"] = "body"
) -> float:
    """Return the effective diameter from one measured dimension (AAPM 204 lookup table).

    Linear interpolation between table rows; use only when neither images nor both
    dimensions are available.

    Raises
    ------
    ValueError
        If the measurement lies outside the table (no extrapolation from a lookup).
    """
    measured, diameters = _size_lookup()[(group, measurement)]
    if not measured[0] <= measured_cm <= measured[-1]:
        raise ValueError(
            f"{measurement} of {measured_cm} cm is outside the AAPM 204 {group} table "
            f"({measured[0]:g}–{measured[-1]:g} cm)"
        )
    return float(np.interp(measured_cm, measured, diameters))


def ssde_mgy(
    ctdivol_mgy: float,
    *,
    water_equivalent_diameter_cm: float | None = None,
    effective_diameter_cm: float | None = None,
    phantom: Phantom = "body32",
) -> SsdeResult:
    """Return the SSDE for a CTDIvol, preferring D_w (AAPM 220) over D_eff (AAPM 204).

    Raises
    ------
    ValueError
        If neither diameter is given, or a value is not positive.
    """
    if ctdivol_mgy < 0:
        raise ValueError("CTDIvol must not be negative")
    if water_equivalent_diameter_cm is not None:
        diameter, method = water_equivalent_diameter_cm, "water_equivalent_diameter"
    elif effective_diameter_cm is not None:
        diameter, method = effective_diameter_cm, "effective_diameter"
    else:
        raise ValueError("SSDE needs a water-equivalent or an effective diameter")
    factor = conversion_factor(diameter, phantom)
    _, _, low, high = _fit()[_PHANTOM_CM[phantom]]
    return SsdeResult(
        ssde_mgy=factor * ctdivol_mgy,
        factor=factor,
        diameter_cm=diameter,
        method=method,  # type: ignore[arg-type]
        phantom=phantom,
        extrapolated=not low <= diameter <= high,
    )


def ssde_for_event(event: IrradiationEvent, patient: PatientFacts) -> SsdeResult | None:
    """Return the SSDE of one CT acquisition, or ``None`` when it cannot be had.

    ``None`` when the event is not a CT acquisition, lacks CTDIvol or its phantom, the
    patient has no size, or the scan is of the head (AAPM 204 is for body scans).
    """
    if event.kind != EventKind.CT_ACQUISITION or event.ctdivol_mgy is None:
        return None
    if event.ctdi_phantom is None:
        return None
    region = (event.target_region or "").lower()
    if any(word in region for word in _HEAD_REGION_WORDS):
        return None
    if patient.water_equivalent_diameter_cm is None and patient.effective_diameter_cm is None:
        return None
    return ssde_mgy(
        event.ctdivol_mgy,
        water_equivalent_diameter_cm=patient.water_equivalent_diameter_cm,
        effective_diameter_cm=patient.effective_diameter_cm,
        phantom=event.ctdi_phantom,
    )
