"""Write a pure-Python wheel (PEP 427) from a package folder, with zipfile only.

For the demo and the benchmark, which package an app scaffold (``medcoop app new``)
without a build backend or a network; a vendor normally builds with ``python -m build``.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

__all__ = ["write_wheel"]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def write_wheel(
    out_dir: Path, dist: str, version: str, package_dir: Path, *, entry_points: dict[str, str]
) -> Path:
    """Write ``<dist>-<version>-py3-none-any.whl`` holding ``package_dir`` (``*.py`` files).

    ``entry_points`` go in the ``medcoop.apps`` group (name → ``module:callable``).
    """
    module = dist.replace("-", "_").replace(".", "_")
    info = f"{module}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{package_dir.name}/{p.relative_to(package_dir).as_posix()}": p.read_bytes()
        for p in sorted(package_dir.rglob("*.py"))
    }
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: medcoop\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    files[f"{info}/entry_points.txt"] = f"[medcoop.apps]\n{lines}".encode()
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path
