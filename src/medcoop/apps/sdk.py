"""The app SDK: the contract between medcoop and an app, on both sides of the process boundary.

An app is a Python package with one **entry point** (``"package.module:function"``, declared
in its manifest). The runner calls it in a process of its own, in the app's own virtual
environment, as::

    def run(inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any],
            context: AppContext) -> AppResult: ...

- an **edge app** gets one :class:`EdgeStudy`: the study's objects its input selectors
  matched, as pydicom datasets (the hospital's own, identified objects: they never leave
  the edge), read from a read-only folder holding nothing else;
- a **cloud app** gets one :class:`CloudBatch`: pooled, de-identified records (dicts of
  :class:`medcoop.records.StudyRecord` fields) that its pooled-record query selected;
- ``parameters`` are the manifest's parameter defaults overlaid with the site's values;
- ``context`` names the app, its version and model, and the one folder it may write.

It returns an :class:`AppResult`: ``findings`` (JSON, validated against the manifest's
output schema by the runner, see :func:`validate_findings`), ``measurements``
(:class:`Measurement`), ``alerts`` (:class:`Alert`) and ``dicom`` (datasets such as the
TID 1500 report :func:`medcoop.apps.sr.measurement_report` builds). Nothing else crosses
back: the result is written as JSON and Part 10 files in the output folder
(:func:`write_result`) and read back and checked by the runner (:func:`read_result`).

This module imports only pydicom and the standard library at import time, so it loads
quickly inside an app's process; the SR helpers (:mod:`medcoop.apps.sr`) are re-exported
lazily.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

from pydicom.dataset import Dataset

from medcoop.apps.errors import AppOutputError, EntryPointError

if TYPE_CHECKING:
    from medcoop.apps.sr import measurement_report, validate_sr

__all__ = [
    "RESULT_FILE",
    "Alert",
    "AppContext",
    "AppResult",
    "AppSpec",
    "CloudBatch",
    "Code",
    "EdgeStudy",
    "EntryPoint",
    "ManifestLike",
    "Measurement",
    "load_entry_point",
    "measurement_report",
    "parameters_for",
    "read_result",
    "validate_findings",
    "validate_sr",
    "write_result",
]

#: The result's JSON file in the output folder; DICOM objects go to ``dicom/*.dcm`` beside it.
RESULT_FILE = "result.json"
AppKind = Literal["edge", "cloud"]
Severity = Literal["info", "warning", "critical"]


class Code(NamedTuple):
    """A coded concept: ``Code("8410-0", "LN", "Body weight")``; units use UCUM (``"UCUM"``)."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Measurement:
    """One numeric result, in a unit coded in UCUM (``Code("mm", "UCUM", "millimeter")``).

    ``source_sop_instance_uid`` names the image it was measured on (it becomes the SR's
    source image reference); ``group`` collects measurements into one measurement group
    (TID 1501) of the report, one group per distinct value.
    """

    name: Code
    value: float
    unit: Code
    source_sop_instance_uid: str | None = None
    group: str = "1"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a person should look at (``severity``: info, warning or critical)."""

    code: str
    message: str
    severity: Severity = "warning"


@dataclass(slots=True)
class AppResult:
    """What an app returns: findings JSON, measurements, alerts and DICOM objects."""

    findings: dict[str, Any] | None = None
    measurements: list[Measurement] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dicom: list[Dataset] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AppContext:
    """Who is running and where it may write (given to the entry point)."""

    app_id: str
    app_version: str
    vendor: str
    kind: AppKind
    output_dir: Path
    model_name: str | None = None
    model_version: str | None = None
    #: The run's identifier on this edge or hub (for the app's own logs).
    run_id: str = "local"

    @property
    def observer_name(self) -> str:
        """The app as an SR observer device names it: ``"<id> <version>"``."""
        return f"{self.app_id} {self.app_version}"

    def to_json(self) -> dict[str, Any]:
        """The context as JSON (passed to the app's process)."""
        return {
            "app_id": self.app_id, "app_version": self.app_version, "vendor": self.vendor,
            "kind": self.kind, "output_dir": str(self.output_dir),
            "model_name": self.model_name, "model_version": self.model_version,
            "run_id": self.run_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppContext:
        """Rebuild a context written by :meth:`to_json`."""
        return cls(**{**data, "output_dir": Path(data["output_dir"])})


@dataclass(slots=True)
class EdgeStudy:
    """One study's matched objects, for an edge app (identified: they stay on premise)."""

    study_instance_uid: str
    datasets: list[Dataset]
    paths: list[Path] = field(default_factory=list)

    def by_modality(self, *modalities: str) -> list[Dataset]:
        """The datasets of the given modalities (all when none are given)."""
        wanted = {m.upper() for m in modalities}
        return [ds for ds in self.datasets if not wanted or str(ds.get("Modality", "")) in wanted]

    @classmethod
    def from_folder(cls, folder: Path) -> EdgeStudy:
        """Read every DICOM file under ``folder`` (one study; the most common UID wins).

        Files of another study are left out: an app is never given other studies.
        """
        import pydicom

        loaded: list[tuple[Path, Dataset]] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name == "job.json":
                continue
            try:
                # pydicom's reader: an app needs the pixel data the edge's fast reader skips
                loaded.append((path, pydicom.dcmread(path)))
            except Exception:  # not DICOM: an author's stray file is skipped, not fatal
                continue
        if not loaded:
            raise AppOutputError(f"no DICOM objects under {folder}")
        counts: dict[str, int] = {}
        for _, ds in loaded:
            uid = str(ds.get("StudyInstanceUID", ""))
            counts[uid] = counts.get(uid, 0) + 1
        study_uid = max(counts, key=lambda uid: counts[uid])
        kept = [(p, ds) for p, ds in loaded if str(ds.get("StudyInstanceUID", "")) == study_uid]
        return cls(study_uid, [ds for _, ds in kept], [p for p, _ in kept])


@dataclass(slots=True)
class CloudBatch:
    """Pooled, de-identified records for a cloud app (dicts of ``StudyRecord`` fields)."""

    records: list[dict[str, Any]]


#: The entry point's signature.
EntryPoint = Callable[[EdgeStudy | CloudBatch, Mapping[str, Any], AppContext], AppResult]


# --- the manifest, as the runtime needs it ----------------------------------------------
@runtime_checkable
class ManifestLike(Protocol):
    """The store's app manifest (:class:`medcoop.store.manifest.AppManifest`) as read here."""

    id: str
    version: str
    vendor: str
    entry_point: str

    def matching_inputs(self, source: Any) -> tuple[Any, ...]:
        """The DICOM inputs whose selectors all pass on ``source``."""

    def resolve_parameters(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter's value: ``given`` over the defaults (raises on a bad one)."""


@dataclass(frozen=True, slots=True)
class AppSpec:
    """What the runtime needs of one app version, read from its store manifest.

    Selectors and parameters are the manifest's own (:meth:`AppManifest.matching_inputs`,
    :meth:`AppManifest.resolve_parameters`): one implementation of what they mean.
    """

    manifest: ManifestLike
    id: str
    version: str
    entry_point: str
    vendor: str
    kind: AppKind = "edge"
    output_schema: Mapping[str, Any] | None = None
    research_only: bool = False
    model_name: str | None = None
    model_version: str | None = None
    #: Requested resources (the site's limits cap them): CPU seconds, MiB, wall seconds.
    cpu_s: float | None = None
    memory_mb: int | None = None
    wall_s: float | None = None

    @property
    def key(self) -> str:
        """``"<id>@<version>"``: how runs and logs name the app version."""
        return f"{self.id}@{self.version}"

    def wants(self, ds: Any) -> bool:
        """Whether any of the manifest's DICOM inputs matches ``ds`` (a Dataset)."""
        return bool(self.manifest.matching_inputs(ds))

    @classmethod
    def from_manifest(cls, manifest: ManifestLike) -> AppSpec:
        """Read an :class:`~medcoop.store.manifest.AppManifest`.

        The kind is ``edge`` when the app deploys to the edge; the output schema is its
        ``findings_json`` output's; the wall-clock limit is ``resources.timeout_s`` and
        the CPU time that times ``cpu_cores``.
        """
        m: Any = manifest
        targets = [str(getattr(t, "value", t)) for t in m.deployment]
        schemas = [o.findings_schema for o in m.outputs
                   if str(getattr(o.kind, "value", o.kind)) == "findings_json"
                   and o.findings_schema]
        resources = m.resources
        return cls(
            manifest=manifest, id=m.id, version=m.version, entry_point=m.entry_point,
            vendor=m.vendor, kind="edge" if "edge" in targets else "cloud",
            output_schema=schemas[0] if schemas else None,
            research_only=not m.allows_clinical_routing,
            model_name=m.title, model_version=m.version,
            cpu_s=float(resources.timeout_s) * float(resources.cpu_cores),
            memory_mb=int(resources.memory_mb), wall_s=float(resources.timeout_s),
        )

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any]) -> AppSpec:
        """Validate a manifest's JSON (raises :class:`~medcoop.store.manifest.ManifestError`
        listing every problem) and read it."""
        from medcoop.store.manifest import validate_manifest

        return cls.from_manifest(validate_manifest(data))

    @classmethod
    def load(cls, path: Path) -> AppSpec:
        """Read and validate a manifest file (``medcoop-app.json``)."""
        return cls.from_json(path.read_bytes())


# --- the entry point and the result across the process boundary -------------------------
def load_entry_point(spec: str) -> EntryPoint:
    """Import ``"package.module:function"`` and return the function.

    Raises
    ------
    EntryPointError
        The string is malformed, the module does not import or has no such callable.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise EntryPointError(f"entry point {spec!r} is not 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        reason = f"cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        raise EntryPointError(reason) from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
    if not callable(target):
        raise EntryPointError(f"{spec!r} names no callable")
    return target  # type: ignore[no-any-return]


def write_result(result: AppResult, output_dir: Path) -> None:
    """Write ``result`` as ``result.json`` and ``dicom/NNNN.dcm`` under ``output_dir``."""
    if not isinstance(result, AppResult):
        raise AppOutputError(f"the entry point returned {type(result).__name__}, not AppResult")
    dicom_dir = output_dir / "dicom"
    names: list[str] = []
    for index, ds in enumerate(result.dicom):
        dicom_dir.mkdir(exist_ok=True)
        name = f"{index:04d}.dcm"
        ds.save_as(dicom_dir / name, enforce_file_format=True)
        names.append(f"dicom/{name}")
    body = {
        "findings": result.findings,
        "measurements": [
            {"name": list(m.name), "value": float(m.value), "unit": list(m.unit),
             "source_sop_instance_uid": m.source_sop_instance_uid, "group": m.group}
            for m in result.measurements
        ],
        "alerts": [{"code": a.code, "message": a.message, "severity": a.severity}
                   for a in result.alerts],
        "dicom": names,
    }
    tmp = output_dir / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(body, allow_nan=False), encoding="utf-8")
    os.replace(tmp, output_dir / RESULT_FILE)


def read_result(output_dir: Path, *, max_bytes: int) -> tuple[AppResult, list[Path]]:
    """Read what an app's process wrote; return the result and its DICOM files' paths.

    DICOM objects are returned as paths (and parsed only to check them): the exporter
    sends the files as written.

    Raises
    ------
    AppOutputError
        No result, output over ``max_bytes`` in all, malformed JSON or values, a DICOM
        file that is missing, outside the folder or not DICOM.
    """
    path = output_dir / RESULT_FILE
    if not path.is_file():
        raise AppOutputError("the app wrote no result")
    total = sum(p.stat().st_size for p in output_dir.rglob("*") if p.is_file())
    if total > max_bytes:
        raise AppOutputError(f"output of {total} bytes is over the limit of {max_bytes}")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        result = AppResult(
            findings=body.get("findings"),
            measurements=[
                Measurement(Code(*m["name"]), float(m["value"]), Code(*m["unit"]),
                            m.get("source_sop_instance_uid"), str(m.get("group", "1")))
                for m in body.get("measurements", [])
            ],
            alerts=[Alert(str(a["code"]), str(a["message"]), a.get("severity", "warning"))
                    for a in body.get("alerts", [])],
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise AppOutputError(f"malformed result: {type(exc).__name__}: {exc}") from exc
    if result.findings is not None and not isinstance(result.findings, dict):
        raise AppOutputError("findings must be a JSON object")
    files: list[Path] = []
    root = output_dir.resolve()
    for name in body.get("dicom", []):
        file = (output_dir / str(name)).resolve()
        if root not in file.parents or not file.is_file() or file.is_symlink():
            raise AppOutputError(f"DICOM output {name!r} is missing or outside the output folder")
        files.append(file)
    return result, files


def validate_findings(findings: Any, schema: Mapping[str, Any] | None) -> list[str]:
    """Return the findings' errors against the manifest's output JSON Schema (none: valid).

    No schema accepts any JSON object; ``None`` findings are valid (the app found nothing).
    """
    if findings is None:
        return []
    if not isinstance(findings, dict):
        return ["findings must be a JSON object"]
    if not schema:
        return []
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"the manifest's output schema is invalid: {exc.message}"]
    errors = sorted(validator_cls(schema).iter_errors(findings), key=lambda e: list(e.path))
    return [f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors]


def parameters_for(spec: AppSpec, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest's parameter defaults overlaid with the site's values.

    Raises :class:`~medcoop.store.manifest.ParameterError` listing each unknown name,
    missing value and value of the wrong type.
    """
    return spec.manifest.resolve_parameters(overrides)


def _lazy(names: Iterable[str]) -> dict[str, str]:
    return dict.fromkeys(names, "medcoop.apps.sr")


_LAZY = _lazy(("measurement_report", "validate_sr"))


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
