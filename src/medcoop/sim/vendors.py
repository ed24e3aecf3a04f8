"""Invented vendors, their reporting styles, and the devices each site owns.

The vendor names are invented ("Acme Medical", "Zenith Imaging", "Nordlys", "Kestrel
Systems"); none claims to be a real manufacturer. Each style reproduces a quirk that real
reports show: unit spellings (``mGy.cm`` vs ``mGycm``), DAP in ``dGy.cm2`` instead of
``Gy.m2``, dose at the reference point in ``mGy`` instead of ``Gy``, concept names in upper
case, a timezone offset written or not, patient size omitted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["VENDORS", "DeviceSpec", "VendorStyle", "site_devices"]

#: Multiply a value in record units by this factor to get it in the written unit.
UNIT_FACTORS: dict[str, float] = {
    "mGy.cm": 1.0,
    "mGycm": 1.0,
    "Gy.m2": 1e-4,  # from Gy·cm²
    "dGy.cm2": 10.0,  # from Gy·cm²
    "Gy": 1e-3,  # from mGy
    "mGy": 1.0,
}


@dataclass(frozen=True, slots=True)
class VendorStyle:
    """How one (invented) vendor writes its objects."""

    manufacturer: str
    meaning_case: str = "standard"  # "standard" | "upper" | "lower"
    dlp_unit: str = "mGy.cm"
    dap_unit: str = "Gy.m2"
    rp_dose_unit: str = "Gy"
    writes_timezone: bool = False
    writes_patient_size: bool = True
    writes_patient_age: bool = True
    software_prefix: str = "VA"


VENDORS: dict[str, VendorStyle] = {
    "acme": VendorStyle("Acme Medical", writes_timezone=True, software_prefix="syngo-like VB"),
    "zenith": VendorStyle(
        "Zenith Imaging", meaning_case="upper", dlp_unit="mGycm", software_prefix="zx"
    ),
    "nordlys": VendorStyle(
        "Nordlys",
        dap_unit="dGy.cm2",
        rp_dose_unit="mGy",
        writes_patient_size=False,
        software_prefix="N",
    ),
    "kestrel": VendorStyle(
        "Kestrel Systems", meaning_case="lower", writes_patient_age=False, software_prefix="K"
    ),
}


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One physical device at a site, and what it sends for each study.

    ``kind`` picks the protocol catalogue: ``ct``, ``dx``, ``cr``, ``rf``, ``mg``, ``nm``, ``pt``.
    """

    key: str  # the device_key_hint: "<site slug>:<kind>-<n>"
    kind: str
    vendor: VendorStyle
    model: str
    serial_number: str
    station_name: str
    software_versions: str
    device_observer_uid: str
    sends_rdsr: bool
    sends_images: bool
    dual_source: bool = False
    biplane: bool = False
    clock_offset_s: float = 0.0
    opening_hours: tuple[int, int] = (8, 18)  # local [start, end) hour
    weekends: bool = False

    @property
    def modality(self) -> str:
        """The physicist's modality code of the device's studies."""
        return {"ct": "CT", "dx": "DX", "cr": "CR", "rf": "RF", "mg": "MG", "nm": "NM"}.get(
            self.kind, "PT"
        )


# kind, vendor, model, sends_rdsr, sends_images, dual_source, biplane, hours, weekends
_CATALOGUE: tuple[tuple[str, str, str, bool, bool, bool, bool, tuple[int, int], bool], ...] = (
    ("ct", "acme", "Helix 128", True, True, False, False, (0, 24), True),
    ("ct", "zenith", "Revo Duo", True, False, True, False, (7, 22), False),
    ("ct", "kestrel", "Quanta 64", False, True, False, False, (8, 18), False),
    ("dx", "nordlys", "Aurora DR", True, True, False, False, (8, 20), True),
    ("dx", "acme", "Radiant DR", False, True, False, False, (8, 18), False),
    ("cr", "kestrel", "Plate CR 2", False, True, False, False, (8, 17), False),
    ("rf", "acme", "Fluorix", True, False, False, False, (9, 17), False),
    ("rf", "nordlys", "Polaris Bi", True, False, False, True, (8, 18), False),
    ("mg", "zenith", "Mammo Vista", True, True, False, False, (8, 16), False),
    ("mg", "kestrel", "Crest M", False, True, False, False, (8, 16), False),
    ("nm", "acme", "Gamma Duet", True, False, False, False, (8, 17), False),
    ("pt", "zenith", "Positron 600", True, True, False, False, (8, 18), False),
)


def site_devices(rng: random.Random, site: str, site_index: int) -> tuple[DeviceSpec, ...]:
    """Return the devices of ``site``: every catalogue entry, with its own serial and clock.

    Sites get the same kinds of equipment but different serial numbers, station names and
    clock offsets; the second site's biplane and dual-source rooms are what make the
    peers differ.
    """
    slug = "".join(ch for ch in site.lower() if ch.isalnum())[:10] or f"site{site_index}"
    devices: list[DeviceSpec] = []
    counts: dict[str, int] = {}
    for kind, vendor_key, model, rdsr, images, dual, biplane, hours, weekends in _CATALOGUE:
        counts[kind] = counts.get(kind, 0) + 1
        number = counts[kind]
        vendor = VENDORS[vendor_key]
        devices.append(
            DeviceSpec(
                key=f"{slug}:{kind}-{number}",
                kind=kind,
                vendor=vendor,
                model=model,
                serial_number=f"{vendor_key[:2].upper()}{rng.randrange(10_000, 99_999)}",
                station_name=f"{slug[:6].upper()}{kind.upper()}{number}",
                software_versions=f"{vendor.software_prefix}{rng.randrange(10, 40)}",
                device_observer_uid=f"2.25.{rng.getrandbits(120)}",
                sends_rdsr=rdsr,
                sends_images=images,
                dual_source=dual,
                biplane=biplane,
                # Scanner clocks drift: most are within a minute, some are minutes off.
                clock_offset_s=round(rng.gauss(0, 45) + (rng.random() < 0.2) * 420, 1),
                opening_hours=hours,
                weekends=weekends,
            )
        )
    return tuple(devices)
