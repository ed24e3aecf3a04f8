"""Unit conversion from the UCUM spellings met in the field to medcoop's fixed units.

Each quantity has one output unit, named in the field names of :mod:`medcoop.records`
(``_mgy``, ``_gycm2``, ``_mgycm``, ``_s``, ``_mbq``...). Spellings are compacted
(``Gy.m2``, ``Gym2``, ``Gy*m^2`` all become ``Gym2``) before lookup; an unknown unit
gives ``None`` rather than a guessed value.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Quantity", "compact_unit", "convert"]


class Quantity(Enum):
    """A physical quantity and its output unit."""

    DOSE_MGY = "mGy"
    DAP_GYCM2 = "Gy.cm2"
    DLP_MGYCM = "mGy.cm"
    TIME_S = "s"
    TIME_MS = "ms"
    ACTIVITY_MBQ = "MBq"
    LENGTH_MM = "mm"
    CURRENT_MA = "mA"
    VOLTAGE_KV = "kV"
    FORCE_N = "N"
    ANGLE_DEG = "deg"
    DOSE_MSV = "mSv"
    MASS_KG = "kg"
    HEIGHT_M = "m"
    AGE_YEARS = "a"
    RATE_PER_S = "/s"
    COUNT = "1"
    CHARGE_MAS = "mAs"


_DOSE = {"Gy": 1000.0, "dGy": 100.0, "cGy": 10.0, "mGy": 1.0, "uGy": 1e-3, "µGy": 1e-3}
_DAP = {
    "Gym2": 1e4,
    "dGym2": 1e3,
    "cGym2": 1e2,
    "mGym2": 10.0,
    "uGym2": 1e-2,
    "µGym2": 1e-2,
    "Gycm2": 1.0,
    "dGycm2": 0.1,
    "cGycm2": 0.01,
    "mGycm2": 1e-3,
    "uGycm2": 1e-6,
    "µGycm2": 1e-6,
    "Gydm2": 100.0,
    "mGydm2": 0.1,
}
_DLP = {"mGycm": 1.0, "Gycm": 1000.0, "mGymm": 0.1, "mGym": 100.0, "cGycm": 10.0, "dGycm": 100.0}
_TIME_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0, "sec": 1.0}
_ACTIVITY = {
    "MBq": 1.0,
    "Bq": 1e-6,
    "kBq": 1e-3,
    "GBq": 1e3,
    "mCi": 37.0,
    "uCi": 0.037,
    "µCi": 0.037,
    "Ci": 37000.0,
}
_LENGTH = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3, "µm": 1e-3}
_CURRENT = {"mA": 1.0, "A": 1000.0, "uA": 1e-3, "µA": 1e-3}
_VOLTAGE = {"kV": 1.0, "V": 1e-3, "kVp": 1.0}
_FORCE = {"N": 1.0, "daN": 10.0, "kN": 1000.0}
_ANGLE = {"deg": 1.0, "°": 1.0, "rad": 57.29577951308232}
_EFFECTIVE = {"mSv": 1.0, "Sv": 1000.0, "uSv": 1e-3, "µSv": 1e-3}
_MASS = {"kg": 1.0, "g": 1e-3, "[lb_av]": 0.45359237}
_HEIGHT = {"m": 1.0, "cm": 0.01, "mm": 1e-3, "[in_i]": 0.0254}
_AGE = {"a": 1.0, "mo": 1.0 / 12.0, "wk": 7.0 / 365.25, "d": 1.0 / 365.25}
_RATE = {"/s": 1.0, "{pulse}/s": 1.0, "pulse/s": 1.0, "{pulses}/s": 1.0, "Hz": 1.0, "1/s": 1.0}
_CHARGE = {"mAs": 1.0, "uAs": 1e-3, "µAs": 1e-3, "As": 1000.0}

_TABLES: dict[Quantity, dict[str, float]] = {
    Quantity.DOSE_MGY: _DOSE,
    Quantity.DAP_GYCM2: _DAP,
    Quantity.DLP_MGYCM: _DLP,
    Quantity.TIME_S: _TIME_S,
    Quantity.TIME_MS: {k: v * 1000.0 for k, v in _TIME_S.items()},
    Quantity.ACTIVITY_MBQ: _ACTIVITY,
    Quantity.LENGTH_MM: _LENGTH,
    Quantity.CURRENT_MA: _CURRENT,
    Quantity.VOLTAGE_KV: _VOLTAGE,
    Quantity.FORCE_N: _FORCE,
    Quantity.ANGLE_DEG: _ANGLE,
    Quantity.DOSE_MSV: _EFFECTIVE,
    Quantity.MASS_KG: _MASS,
    Quantity.HEIGHT_M: _HEIGHT,
    Quantity.AGE_YEARS: _AGE,
    Quantity.RATE_PER_S: _RATE,
    Quantity.CHARGE_MAS: _CHARGE,
}

#: By the quantity's value: an Enum member hashes through Python code, a str does not.
_TABLES_BY_VALUE: dict[str, dict[str, float]] = {q.value: t for q, t in _TABLES.items()}

_compact_cache: dict[str, str] = {}


def compact_unit(unit: str) -> str:
    """Return ``unit`` without separators (``.``, ``*``, ``^``, spaces), e.g. ``Gy.m^2`` → ``Gym2``.

    Parameters
    ----------
    unit : str
        A UCUM code value as written by a device.
    """
    cached = _compact_cache.get(unit)
    if cached is None:
        cached = unit.strip()
        if cached not in _RATE:
            for sep in (".", "*", "^", " ", "·"):
                cached = cached.replace(sep, "")
        if len(_compact_cache) < 4096:  # bounded: junk input must not grow it forever
            _compact_cache[unit] = cached
    return cached


def convert(value: float | None, unit: str | None, quantity: Quantity) -> float | None:
    """Return ``value`` (in ``unit``) converted to ``quantity``'s output unit.

    Parameters
    ----------
    value : float or None
        The numeric value as read.
    unit : str or None
        The UCUM code value as read; ``None`` or empty means "already in the output unit"
        only for dimensionless counts.
    quantity : Quantity
        What the value measures.

    Returns
    -------
    float or None
        The converted value, or ``None`` when the value is missing or the unit unknown.
    """
    if value is None:
        return None
    if quantity is Quantity.COUNT:
        return value
    table = _TABLES_BY_VALUE[quantity._value_]
    if not unit:
        return None
    factor = table.get(unit)
    if factor is None:
        factor = table.get(compact_unit(unit))
        if factor is None:
            return None
    return value * factor
