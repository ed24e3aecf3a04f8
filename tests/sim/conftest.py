"""Fixtures for the sim tests: one fleet's studies, generated once per session."""

from __future__ import annotations

import pytest

from medcoop.sim import Fleet, SimStudy


@pytest.fixture(scope="session")
def fleet_studies() -> list[SimStudy]:
    """The first 400 studies of seed 5: every modality, vendor and device appears."""
    return list(Fleet(seed=5).studies(400))
