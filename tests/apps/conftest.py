"""App runtime fixtures: synthetic studies from the sim fleet, a running app's context."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from medcoop.apps.sdk import AppContext


def ct_study(seed: int = 3) -> list[Dataset]:
    """A synthetic CT study's objects (images, then the dose report)."""
    from medcoop.sim import Fleet

    study = next(
        s for s in Fleet(seed=seed).studies(20) if str(s.datasets[0].Modality) == "CT"
    )
    return list(study.datasets)


@pytest.fixture
def context(tmp_path: Path) -> AppContext:
    """The context of a run of a trivial app."""
    return AppContext(
        app_id="trivial", app_version="1.0.0", vendor="Acme Imaging", kind="edge",
        output_dir=tmp_path, model_name="diameter-net", model_version="2",
    )
