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

from medcoop.sim.fleet import Fleet, SimStudy, Site
from medcoop.sim.people import PlantedPatient, Staff
from medcoop.sim.plan import PlannedEvent, StudyTruth
from medcoop.sim.vendors import DeviceSpec, VendorStyle

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
