"""Sites and devices of an organisation, by name: the listings behind ``--site NAME``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medcoop.output import DASH, Column, View

__all__ = ["device_name", "devices_view", "sites_view"]


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else DASH


def device_name(device: Mapping[str, Any]) -> str:
    """A device's readable name: its display name, else modality, manufacturer and model."""
    if device.get("display_name"):
        return str(device["display_name"])
    parts = (device.get("modality"), device.get("manufacturer"), device.get("model"))
    return " ".join(str(p) for p in parts if p) or str(device["device_key"])[:12]


def sites_view(sites: Sequence[Mapping[str, Any]], *, total: int | None = None) -> View:
    """The organisation's sites (the API's JSON items), by name."""
    columns = (
        Column("name", "site"),
        Column("country", "country"),
        Column("site_type", "type"),
        Column("edge_name", "edge"),
        Column("enrolled_at", "enrolled (UTC)", _when),
        Column("id", "id", hidden=True),
    )
    records = [dict(site) for site in sites]
    return View("Sites", columns, records, page=(0, len(records), total or len(records)))


def devices_view(
    devices: Sequence[Mapping[str, Any]], *, site: str, total: int | None = None
) -> View:
    """A site's devices (the API's JSON items), by name."""
    records = [{**d, "name": device_name(d)} for d in devices]
    columns = (
        Column("name", "device"),
        Column("modality", "modality"),
        Column("manufacturer", "manufacturer"),
        Column("model", "model"),
        Column("device_class", "class"),
        Column("first_seen_at", "first seen (UTC)", _when),
        Column("device_key", "device key", hidden=True),
    )
    return View(
        f"Devices, {site}", columns, records, page=(0, len(records), total or len(records))
    )
