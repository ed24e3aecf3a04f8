"""The SDK contract: selectors, findings schema, the result across the process boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from medcoop.apps.errors import AppOutputError, EntryPointError
from medcoop.apps.scaffold import manifest_for
from medcoop.apps.sdk import (
    Alert,
    AppResult,
    AppSpec,
    Code,
    EdgeStudy,
    Measurement,
    load_entry_point,
    parameters_for,
    read_result,
    validate_findings,
    write_result,
)
from medcoop.store.manifest import ManifestError, ParameterError
from tests.apps.conftest import ct_study

SCHEMA = {
    "type": "object", "required": ["score"],
    "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}},
}
MANIFEST = manifest_for(
    "chest-size", "acme",
    inputs=[
        {"kind": "dicom", "name": "axial", "selectors": [
            {"attribute": "Modality", "equals": "CT"},
            {"attribute": "ImageType", "in": ["AXIAL"]}]},
        {"kind": "dicom", "name": "projection", "selectors": [
            {"attribute": "Modality", "in": ["DX", "CR"]}]},
    ],
    parameters=[{"name": "threshold", "type": "number", "default": 0.5},
                {"name": "mode", "type": "enum", "choices": ["fast", "thorough"],
                 "default": "fast"}],
    resources={"cpu_cores": 2, "memory_mb": 900, "timeout_s": 30},
)


def _ds(**values: object) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def test_the_store_manifest_is_read_as_the_runtime_needs_it() -> None:
    spec = AppSpec.from_json(MANIFEST)
    assert (spec.id, spec.version, spec.vendor, spec.kind) == (
        "acme.chest-size", "0.1.0", "acme", "edge")
    assert spec.research_only
    assert (spec.wall_s, spec.cpu_s, spec.memory_mb) == (30.0, 60.0, 900)
    assert spec.output_schema is not None and "images" in spec.output_schema["properties"]
    with pytest.raises(ManifestError, match="entry_point"):
        AppSpec.from_json({**MANIFEST, "entry_point": "not an entry point"})


def test_selectors_are_the_manifests_inputs() -> None:
    spec = AppSpec.from_json(MANIFEST)
    assert spec.wants(_ds(Modality="CT", ImageType=["ORIGINAL", "PRIMARY", "AXIAL"]))
    assert not spec.wants(_ds(Modality="CT", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]))
    assert spec.wants(_ds(Modality="CR"))
    assert not spec.wants(_ds(Modality="MG"))
    assert not spec.wants(_ds())


def test_parameters_are_defaults_overlaid_with_the_sites() -> None:
    spec = AppSpec.from_json(MANIFEST)
    assert parameters_for(spec, {"mode": "thorough"}) == {"threshold": 0.5, "mode": "thorough"}
    with pytest.raises(ParameterError, match="not one of"):
        parameters_for(spec, {"mode": "reckless"})


def test_findings_are_checked_against_the_output_schema() -> None:
    schema = SCHEMA
    assert validate_findings({"score": 0.3}, schema) == []
    assert validate_findings(None, schema) == []
    assert validate_findings({"score": 3}, schema) == ["score: 3 is greater than the maximum of 1"]
    assert validate_findings({}, schema) == ["(root): 'score' is a required property"]
    assert validate_findings([1], schema) == ["findings must be a JSON object"]
    assert "invalid" in validate_findings({}, {"type": "nonsense"})[0]


def test_a_result_crosses_the_boundary_intact(tmp_path: Path) -> None:
    objects = ct_study()
    sr = Dataset()
    sr.update(objects[-1])  # any DICOM object will do for the round trip
    sr.file_meta = objects[-1].file_meta
    result = AppResult(
        findings={"score": 0.25},
        measurements=[Measurement(Code("1", "99X", "m"), 2.5, Code("mm", "UCUM", "mm"))],
        alerts=[Alert("big", "patient larger than expected", "info")],
        dicom=[sr],
    )
    write_result(result, tmp_path)
    back, files = read_result(tmp_path, max_bytes=10_000_000)
    assert back.findings == {"score": 0.25}
    assert back.measurements == result.measurements
    assert back.alerts == result.alerts
    assert [f.name for f in files] == ["0000.dcm"]
    with pytest.raises(AppOutputError, match="over the limit"):
        read_result(tmp_path, max_bytes=100)


def test_outputs_outside_the_folder_or_malformed_are_refused(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"dicom": ["../../etc/passwd"]}))
    with pytest.raises(AppOutputError, match="outside"):
        read_result(tmp_path, max_bytes=10_000)
    (tmp_path / "result.json").write_text(json.dumps({"findings": [1]}))
    with pytest.raises(AppOutputError, match="JSON object"):
        read_result(tmp_path, max_bytes=10_000)
    (tmp_path / "result.json").write_text("{not json")
    with pytest.raises(AppOutputError, match="malformed"):
        read_result(tmp_path, max_bytes=10_000)
    with pytest.raises(AppOutputError, match="not AppResult"):
        write_result({"findings": {}}, tmp_path)  # type: ignore[arg-type]


def test_entry_points_are_loaded_or_refused_with_the_reason() -> None:
    assert load_entry_point("json:dumps") is json.dumps
    for bad, why in (("json", "not 'module:function'"), ("no_such_mod:run", "cannot import"),
                     ("json:nothing", "no callable")):
        with pytest.raises(EntryPointError, match=why):
            load_entry_point(bad)


def test_a_study_folder_keeps_only_the_main_study(tmp_path: Path) -> None:
    objects = ct_study()
    for i, ds in enumerate(objects):
        ds.save_as(tmp_path / f"{i}.dcm", enforce_file_format=True)
    stray = ct_study(seed=4)[0]
    stray.save_as(tmp_path / "stray.dcm", enforce_file_format=True)
    (tmp_path / "notes.txt").write_text("not DICOM")
    study = EdgeStudy.from_folder(tmp_path)
    assert study.study_instance_uid == str(objects[0].StudyInstanceUID)
    assert len(study.datasets) == len(objects)
    assert study.by_modality("CT") and all(d.Modality == "CT" for d in study.by_modality("CT"))
