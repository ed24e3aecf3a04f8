"""Unit conversion from the UCUM spellings met in the field."""

from __future__ import annotations

import pytest

from medcoop.dicom.units import Quantity, compact_unit, convert


@pytest.mark.parametrize(
    ("value", "unit", "quantity", "expected"),
    [
        (1.0, "mGy.cm", Quantity.DLP_MGYCM, 1.0),
        (1.0, "mGycm", Quantity.DLP_MGYCM, 1.0),
        (1.0, "mGy*cm", Quantity.DLP_MGYCM, 1.0),
        (1.0, "Gy.m2", Quantity.DAP_GYCM2, 1e4),
        (1.6e-5, "Gym2", Quantity.DAP_GYCM2, 0.16),
        (1.0, "Gy.m^2", Quantity.DAP_GYCM2, 1e4),
        (10.0, "dGy.cm2", Quantity.DAP_GYCM2, 1.0),
        (100.0, "cGy.cm2", Quantity.DAP_GYCM2, 1.0),
        (1000.0, "mGy.cm2", Quantity.DAP_GYCM2, 1.0),
        (100.0, "uGy.m2", Quantity.DAP_GYCM2, 1.0),
        (0.00252, "Gy", Quantity.DOSE_MGY, 2.52),
        (3.0, "mGy", Quantity.DOSE_MGY, 3.0),
        (0.5, "dGy", Quantity.DOSE_MGY, 50.0),
        (2.0, "s", Quantity.TIME_S, 2.0),
        (854.0, "ms", Quantity.TIME_S, 0.854),
        (1.5, "min", Quantity.TIME_S, 90.0),
        (0.0042, "s", Quantity.TIME_MS, 4.2),
        (394.0, "MBq", Quantity.ACTIVITY_MBQ, 394.0),
        (394e6, "Bq", Quantity.ACTIVITY_MBQ, 394.0),
        (10.0, "mCi", Quantity.ACTIVITY_MBQ, 370.0),
        (7.5, "{pulse}/s", Quantity.RATE_PER_S, 7.5),
    ],
)
def test_every_field_spelling_converts(
    value: float, unit: str, quantity: Quantity, expected: float
) -> None:
    assert convert(value, unit, quantity) == pytest.approx(expected)


def test_unknown_unit_gives_none_not_a_guess() -> None:
    assert convert(5.0, "furlongs", Quantity.DOSE_MGY) is None
    assert convert(5.0, None, Quantity.DAP_GYCM2) is None
    assert convert(None, "mGy", Quantity.DOSE_MGY) is None


def test_a_dose_unit_is_not_accepted_for_a_dap() -> None:
    assert convert(1.0, "mGy", Quantity.DAP_GYCM2) is None


def test_compact_unit_keeps_rates_intact() -> None:
    assert compact_unit("Gy.m^2") == "Gym2"
    assert compact_unit("{pulse}/s") == "{pulse}/s"
