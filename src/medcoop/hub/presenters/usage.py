"""Device utilization: exams, exam and change-over times, occupancy per device of a site.

:func:`utilization_out` builds the API's answer; :func:`usage_view` the table printed by
the CLI, the demo and the web dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel

from medcoop.analytics.utilization import DeviceUtilization
from medcoop.output import DASH, Column, View, fixed, percent

__all__ = [
    "DeviceUtilizationOut",
    "ProtocolUsageOut",
    "device_label",
    "usage_view",
    "utilization_out",
]


class ProtocolUsageOut(BaseModel):
    """Exams and median duration of one protocol on one device."""

    exams: int
    median_duration_min: float


class DeviceUtilizationOut(BaseModel):
    """One device's utilization over the period."""

    device_key: str
    exams: int
    median_duration_min: float
    median_change_min: float | None
    exams_per_open_hour: float
    occupancy: float
    utilization: float
    available_min: float
    busy_open_min: float
    idle_min: float
    clamped_gaps: int
    heatmap: list[list[int]]
    #: Protocol → exams and median exam duration (minutes).
    by_protocol: dict[str, ProtocolUsageOut]


def utilization_out(found: Mapping[str, DeviceUtilization]) -> list[DeviceUtilizationOut]:
    """The API's answer for the service's per-device utilization (field for field)."""
    return [DeviceUtilizationOut.model_validate(u, from_attributes=True) for u in found.values()]


def device_label(device_key: str, labels: Mapping[str, str]) -> str:
    """A device by name with the start of its key (``CT Acme Somatom (3f2a…12 hex)``)."""
    name = labels.get(device_key)
    return f"{name} ({device_key[:12]})" if name else device_key


def _minutes(value: Any) -> str:
    return DASH if value is None else fixed(value, 1)


def usage_view(
    rows: Sequence[Mapping[str, Any]],
    *,
    site: str,
    first_day: date,
    last_day: date,
    devices: Mapping[str, str] | None = None,
) -> View:
    """The utilization table of ``rows`` (the API's JSON) for the site named ``site``."""
    names = devices or {}
    records = [
        {
            "device": device_label(row["device_key"], names),
            "device_key": row["device_key"],
            "exams": row["exams"],
            "median_duration_min": row["median_duration_min"],
            "median_change_min": row["median_change_min"],
            "exams_per_open_hour": row["exams_per_open_hour"],
            "occupancy": row["occupancy"],
            "utilization": row["utilization"],
            "idle_min": row["idle_min"],
        }
        for row in rows
    ]
    columns = (
        Column("device", "device"),
        Column("device_key", "device key", hidden=True),
        Column("exams", "exams", justify="right"),
        Column("median_duration_min", "median exam (min)", _minutes, "right"),
        Column("median_change_min", "median change-over (min)", _minutes, "right"),
        Column("exams_per_open_hour", "exams per open hour", lambda v: fixed(v, 2), "right"),
        Column("occupancy", "occupancy", percent, "right"),
        Column("utilization", "utilization", percent, "right"),
        Column("idle_min", "idle (min)", lambda v: fixed(v, 0), "right"),
    )
    period = f"{first_day}" if first_day == last_day else f"{first_day} – {last_day}"
    return View(f"Utilization {period}, {site}", columns, records)
