"""``medcoop app new NAME``: a working app package an author starts from.

The package holds a manifest (``medcoop-app.json``: id, version, vendor, entry point,
selectors, parameters, output schema, resources), a ``src/<name>/app.py`` entry point that
measures something trivial and reports it as a TID 1500 SR, a ``pyproject.toml`` that builds
the wheel the store publishes, and a test. ``medcoop app run`` runs it on a study folder
through the same runner the edge uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_FILE", "build_wheel", "manifest_for", "new_app", "package_name"]

#: The manifest file in an app's folder.
MANIFEST_FILE = "medcoop-app.json"
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

_APP_PY = '''"""{title}: the entry point medcoop calls (declared in medcoop-app.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medcoop.apps.sdk import (
    AppContext,
    AppResult,
    CloudBatch,
    Code,
    EdgeStudy,
    Measurement,
    measurement_report,
)

IMAGE_COUNT = Code("121028", "DCM", "Number of images")  # replace with your own concepts
NO_UNITS = Code("1", "UCUM", "no units")


def run(inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any],
        context: AppContext) -> AppResult:
    """Count the study's images; return findings and a TID 1500 report of the count."""
    if not isinstance(inputs, EdgeStudy):
        raise TypeError("this app runs on the edge, on one study")
    images = [ds for ds in inputs.datasets if "PixelData" in ds]
    count = Measurement(IMAGE_COUNT, float(len(images)), NO_UNITS)
    flagged = len(images) >= int(parameters["min_images"])
    return AppResult(
        findings={{"images": len(images), "flagged": flagged}},
        measurements=[count],
        dicom=[measurement_report(inputs, [count], context)],
    )
'''

_TEST_PY = '''"""Runs the app's entry point on a synthetic study (no patient data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from medcoop.apps.sdk import AppContext, AppSpec, EdgeStudy, parameters_for, validate_findings
from {package}.app import run

HERE = Path(__file__).resolve().parents[1]


def synthetic_ct() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "SYNTH-1", "Synthetic^Patient", "CT"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = (
        "20260105", "090000", "A1", "")
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.PatientBirthDate, ds.PatientSex, ds.Manufacturer = "19700101", "O", "Synthetic"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.zeros((8, 8), dtype=np.int16).tobytes()
    return ds


def test_the_app_reports_on_a_synthetic_study(tmp_path: Path) -> None:
    spec = AppSpec.load(HERE / "medcoop-app.json")
    image = synthetic_ct()
    assert spec.wants(image)
    context = AppContext(spec.id, spec.version, spec.vendor, "edge", tmp_path)
    result = run(EdgeStudy(str(image.StudyInstanceUID), [image]),
                 parameters_for(spec, None), context)
    assert result.findings == {{"images": 1, "flagged": True}}
    assert validate_findings(result.findings, spec.output_schema) == []
    assert result.dicom[0].StudyInstanceUID == image.StudyInstanceUID
'''

_PYPROJECT = '''[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "{title}"
requires-python = ">=3.11"
# medcoop.apps.sdk, pydicom and highdicom are provided by the medcoop runtime; list only
# what your app needs beyond them.
dependencies = []

[tool.setuptools.packages.find]
where = ["src"]
'''


def package_name(name: str) -> str:
    """The Python package of app ``name`` (``chest-size`` → ``chest_size``)."""
    return name.replace("-", "_")


def manifest_for(name: str, vendor: str, **changes: Any) -> dict[str, Any]:
    """A valid store manifest for a new edge app (``changes`` replace top-level fields).

    Research use only until the vendor names a clearance: such an app is never routed
    clinical studies.
    """
    title = name.replace("-", " ").capitalize()
    manifest: dict[str, Any] = {
        "manifest_version": "1.0",
        "id": f"{vendor}.{name}",
        "version": "0.1.0",
        "vendor": vendor,
        "title": title,
        "summary": f"{title}: counts a study's images (replace with what your app does)",
        "category": "research",
        "intended_use": "Research use: a starting point for an imaging app.",
        "regulatory": {"research_use_only": True},
        "inputs": [{"kind": "dicom", "name": "images",
                    "selectors": [{"attribute": "Modality", "in": ["CT", "DX", "CR"]}]}],
        "outputs": [
            {"name": "findings", "kind": "findings_json", "findings_schema": {
                "type": "object",
                "required": ["images", "flagged"],
                "properties": {"images": {"type": "integer", "minimum": 0},
                               "flagged": {"type": "boolean"}},
                "additionalProperties": False,
            }},
            {"name": "report", "kind": "dicom_sr"},
        ],
        "parameters": [{"name": "min_images", "type": "integer", "default": 1, "minimum": 0}],
        "resources": {"cpu_cores": 1, "memory_mb": 1024, "timeout_s": 120},
        "deployment": ["edge"],
        "data_scopes": ["edge:images", "edge:pacs-write"],
        "offers": {"free": True},
        "licence": {"spdx": "Apache-2.0"},
        "provenance": {"source": f"https://example.org/{vendor}/{name}", "build": "local"},
        "entry_point": f"{package_name(name)}.app:run",
    }
    manifest.update(changes)
    return manifest


def new_app(name: str, parent: Path, *, vendor: str = "my-vendor") -> Path:
    """Create app ``name`` under ``parent``; return its folder.

    Raises
    ------
    ValueError
        ``name`` is not lowercase letters, digits and dashes, or the folder exists.
    """
    if not _NAME.match(name) or not 2 <= len(name) <= 60:
        raise ValueError(f"app name {name!r}: use 2-60 lowercase letters, digits and dashes")
    root = parent / name
    if root.exists():
        raise ValueError(f"{root} already exists")
    package = package_name(name)
    title = name.replace("-", " ").capitalize()
    (root / "src" / package).mkdir(parents=True)
    (root / "tests").mkdir()
    manifest = manifest_for(name, vendor)
    from medcoop.store.manifest import validate_manifest

    validate_manifest(manifest)  # a vendor slug the store refuses fails here, not at publish
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (root / "pyproject.toml").write_text(_PYPROJECT.format(name=name, title=title), "utf-8")
    (root / "src" / package / "__init__.py").write_text(f'"""{title}."""\n', encoding="utf-8")
    (root / "src" / package / "app.py").write_text(_APP_PY.format(title=title), "utf-8")
    (root / "tests" / "test_app.py").write_text(_TEST_PY.format(package=package), "utf-8")
    return root


def build_wheel(root: Path, dist_dir: Path) -> Path:
    """Build the app's wheel (PEP 427, pure Python) from ``root/src``; return its path.

    No build backend is needed (none is downloaded): the package's files, its manifest
    (as ``<package>/medcoop-app.json``), and the ``medcoop.apps`` entry point the edge's
    installer reads, zipped by the wheel spec. This is what ``medcoop store publish``
    takes beside the manifest.
    """
    import base64
    import hashlib
    import zipfile

    manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    name, version = str(manifest["id"]).split(".", 1)[1], str(manifest["version"])
    dist = package_name(name)
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    source = root / "src"
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    files[f"{dist}/{MANIFEST_FILE}"] = (root / MANIFEST_FILE).read_bytes()
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: medcoop-app-build\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = (
        f"[medcoop.apps]\n{manifest['id']} = {manifest['entry_point']}\n").encode()

    def digest(data: bytes) -> str:
        raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        return "sha256=" + raw.decode()

    record = "".join(f"{n},{digest(d)},{len(d)}\n" for n, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    dist_dir.mkdir(parents=True, exist_ok=True)
    wheel = dist_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in files.items():
            archive.writestr(entry, data)
    return wheel
