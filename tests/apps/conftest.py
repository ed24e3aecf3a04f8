"""App runtime fixtures: synthetic studies from the sim fleet, a running app's context."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydicom.dataset import Dataset

from medcoop.apps.sdk import AppContext

if TYPE_CHECKING:
    from medcoop.apps.runner import AppInstall


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


SAMPLE_APPS = Path(__file__).parent / "sample_apps"


def sample_install(entry_point: str, **changes: Any) -> AppInstall:
    """A test app from ``sample_apps/`` run by this interpreter (no venv to build).

    Its manifest is the scaffold's (CT, DX, CR inputs) with ``changes``; an
    ``output_schema`` change replaces the findings output's schema.
    """
    from medcoop.apps.runner import AppInstall, current_python
    from medcoop.apps.scaffold import manifest_for
    from medcoop.apps.sdk import AppSpec

    name = entry_point.split(":")[0].replace("_", "-")
    schema = changes.pop("output_schema", None)
    manifest = manifest_for(name, "acme", entry_point=entry_point, **changes)
    if schema is not None:
        manifest["outputs"][0]["findings_schema"] = schema
    elif "outputs" not in changes:
        manifest["outputs"][0].pop("findings_schema")
    return AppInstall(AppSpec.from_json(manifest), current_python(), (SAMPLE_APPS,))


def write_study(folder: Path, objects: list[Dataset]) -> list[Path]:
    """Write a study's objects as Part 10 files; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, ds in enumerate(objects):
        path = folder / f"{index:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
