"""Tiny app wheels built at test time, by the wheel spec (PEP 427), with zipfile only."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from tests.store.manifests import manifest

__all__ = ["build_app", "build_wheel", "manifest_for"]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build_wheel(folder: Path, dist: str, version: str, *, app_id: str, answer: str = "ok") -> Path:
    """Write ``<dist>-<version>-py3-none-any.whl`` with one module and a medcoop entry point."""
    module = _module(dist)
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (
            f"VERSION = {version!r}\n\ndef run():\n    return {answer!r}\n"
        ).encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n").encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: medcoop-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[medcoop.apps]\n{app_id} = {module}:run\n".encode(),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def manifest_for(app_id: str, version: str, vendor: str) -> dict[str, object]:
    """A valid edge-app manifest (the catalogue's example) for ``app_id`` at ``version``."""
    module = _module(app_id)
    return manifest(
        id=app_id,
        version=version,
        vendor=vendor,
        entry_point=f"{module}:run",
        provenance={"source": "https://git.example.org/tests", "build": "test"},
    )


def _module(app_id: str) -> str:
    return app_id.replace("-", "_").replace(".", "_")


def build_app(
    folder: Path, app_id: str, version: str, vendor: str, **kwargs: str
) -> tuple[Path, Path]:
    """Write a wheel and its manifest file; return both paths."""
    wheel = build_wheel(folder, app_id, version, app_id=app_id, **kwargs)
    manifest = folder / f"{app_id}-{version}.manifest.json"
    manifest.write_text(json.dumps(manifest_for(app_id, version, vendor)))
    return wheel, manifest
