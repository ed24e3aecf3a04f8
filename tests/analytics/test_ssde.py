"""SSDE (AAPM 204/220) against the shared reference tables."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from medcoop.analytics.ssde import (
    conversion_factor,
    effective_diameter_cm,
    effective_diameter_from_dimension_cm,
    ssde_for_event,
    ssde_mgy,
)
from medcoop.records import PatientFacts

from .factories import KEY, ct_event

PHANTOMS = {"32": "body32", "16": "head16"}


def test_fit_reproduces_every_tabulated_factor(reference_dir: Path) -> None:
    with (reference_dir / "ssde" / "aapm204_conversion_factors.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 88
    for row in rows:
        phantom = PHANTOMS[row["ctdi_phantom_cm"]]
        factor = conversion_factor(float(row["effective_diameter_cm"]), phantom)  # type: ignore[arg-type]
        assert factor == pytest.approx(float(row["factor_fit"]), abs=5e-5)
        assert abs(factor - float(row["factor_table"])) <= 0.005 + 1e-9


def test_sanity_checks_from_the_reference(reference_dir: Path) -> None:
    checks = json.loads((reference_dir / "ssde" / "aapm204_fit.json").read_text())["checks"]
    for check in checks:
        phantom = PHANTOMS[str(check["phantom_cm"])]
        assert conversion_factor(check["D_cm"], phantom) == pytest.approx(check["f_fit"], abs=5e-4)  # type: ignore[arg-type]


def test_water_equivalent_diameter_is_preferred_over_effective_diameter() -> None:
    result = ssde_mgy(10.0, water_equivalent_diameter_cm=32.0, effective_diameter_cm=20.0)
    assert result.method == "water_equivalent_diameter"
    assert result.ssde_mgy == pytest.approx(11.44, abs=0.01) and not result.extrapolated
    fallback = ssde_mgy(10.0, effective_diameter_cm=20.0)
    assert fallback.factor == pytest.approx(3.704369 * math.exp(-0.03671937 * 20))
    assert ssde_mgy(10.0, effective_diameter_cm=60.0).extrapolated
    with pytest.raises(ValueError, match="needs a water-equivalent"):
        ssde_mgy(10.0)


def test_effective_diameter_and_lookup(reference_dir: Path) -> None:
    assert effective_diameter_cm(25.0, 36.0) == pytest.approx(30.0)
    with (reference_dir / "ssde" / "aapm204_size_lookup.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::7]:
        got = effective_diameter_from_dimension_cm(
            float(row["measured_cm"]),
            row["measurement"],
            group=row["table_group"],  # type: ignore[arg-type]
        )
        assert got == pytest.approx(float(row["effective_diameter_cm"]))
    # halfway between LAT+AP 16 → 7.7 and 18 → 8.7
    assert effective_diameter_from_dimension_cm(17.0, "lat_plus_ap") == pytest.approx(8.2)
    with pytest.raises(ValueError, match="outside the AAPM 204"):
        effective_diameter_from_dimension_cm(500.0, "lat_plus_ap")


def test_ssde_for_event_skips_heads_and_patients_without_size() -> None:
    sized = PatientFacts(pseudonym=KEY.patient_pseudonym("p"), water_equivalent_diameter_cm=28)
    unsized = PatientFacts(pseudonym=KEY.patient_pseudonym("p"))
    body = ct_event("9.1", 8.0, 300.0, target_region="Abdomen")
    head = ct_event("9.2", 50.0, 800.0, target_region="Head", ctdi_phantom="head16")
    result = ssde_for_event(body, sized)
    assert result is not None
    assert result.ssde_mgy == pytest.approx(8.0 * 3.704369 * math.exp(-0.03671937 * 28))
    assert ssde_for_event(head, sized) is None
    assert ssde_for_event(body, unsized) is None
