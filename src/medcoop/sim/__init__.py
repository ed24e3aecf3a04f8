"""The synthetic scanner fleet: realistic studies, dose reports and MPPS for demo, tests, bench.

>>> from datetime import date
>>> from medcoop.sim import Fleet
>>> fleet = Fleet(seed=1, sites=("St Elsewhere", "County General"), start=date(2026, 1, 5))
>>> study = next(fleet.studies(n=1))
>>> study.truth.event_count >= 1
True

Everything is synthetic and deterministic for a seed; vendor names are invented.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medcoop.sim.fleet import Fleet, SimStudy, Site
    from medcoop.sim.people import PlantedPatient, Staff
    from medcoop.sim.plan import PlannedEvent, StudyTruth
    from medcoop.sim.vendors import DeviceSpec, VendorStyle

#: Where each public name lives: imported on first use, so that ``medcoop --help`` and
#: commands that never simulate (``medcoop deid``) do not pay for pydicom and the planners.
_HOMES = {
    "DeviceSpec": "vendors",
    "Fleet": "fleet",
    "PlannedEvent": "plan",
    "PlantedPatient": "people",
    "SimStudy": "fleet",
    "Site": "fleet",
    "Staff": "people",
    "StudyTruth": "plan",
    "VendorStyle": "vendors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"medcoop.sim.{home}"), name)

__all__ = [
    "DeviceSpec",
    "Fleet",
    "PlannedEvent",
    "PlantedPatient",
    "SimStudy",
    "Site",
    "Staff",
    "StudyTruth",
    "VendorStyle",
]
