"""The first-party apps through the SDK: findings, measurements, alerts and a TID 1500 SR
that validates (highdicom, and dcmtk's dsrdump where installed) and joins the study."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from medcoop.apps.firstparty import apps
from medcoop.apps.firstparty.manifests import MANIFESTS, manifest
from medcoop.apps.sdk import AppContext, EdgeStudy
from medcoop.apps.sr import validate_sr
from medcoop.sim.phantoms import axial_ct, dx_image, ellipse_hu
from medcoop.sim.tiny_model import mean_intensity_model
from medcoop.store.manifest import validate_manifest
from tests.analytics import factories


def _context(tmp_path: Path, app_id: str) -> AppContext:
    return AppContext(app_id=app_id, app_version="1.0.0", vendor="medcoop", kind="edge",
                      output_dir=tmp_path, model_name="tiny-mean", model_version="1.0")


def _check_sr(sr: Dataset, study: EdgeStudy, tmp_path: Path) -> None:
    originals = sorted({str(ds.SeriesInstanceUID) for ds in study.datasets})
    assert validate_sr(sr, study_instance_uid=study.study_instance_uid,
                       original_series=originals) == []
    assert sr.StudyInstanceUID == study.study_instance_uid
    if shutil.which("dsrdump"):
        path = tmp_path / "report.dcm"
        sr.save_as(path, enforce_file_format=True)
        dumped = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, check=False)
        assert dumped.returncode == 0, dumped.stderr
        assert "Imaging Measurement Report" in dumped.stdout


def _same_study(datasets: list[Dataset]) -> EdgeStudy:
    uid, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    for ds in datasets:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = uid, series
        ds.PatientID, ds.PatientName = "SYN-1", "SYNTHETIC^PATIENT"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20261201", "090000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
        ds.SeriesNumber, ds.InstanceNumber = 1, 1
    return EdgeStudy(str(uid), datasets)


def test_ct_size_app_reports_dw_and_ssde(tmp_path: Path) -> None:
    slices = [axial_ct(*ellipse_hu(16.0, 16.0), z_mm=z) for z in (0.0, 5.0, 10.0)]
    for ds in slices:
        ds.CTDIvol = 10.0
    study = _same_study(slices)
    result = apps.ct_size(study, {"phantom": "body32"}, _context(tmp_path, "medcoop.ct-size"))
    findings = result.findings
    assert findings is not None
    assert findings["method"] == "water_equivalent_diameter"
    assert findings["diameter_cm"] == pytest.approx(32.0, abs=0.05)
    assert findings["ssde_mgy"] == pytest.approx(11.44, abs=0.01)  # f(32 cm) = 1.144
    assert findings["outputs"]["ssde_mgy"] == findings["ssde_mgy"]
    assert [m.name.value for m in result.measurements] == ["113980", "113830", "113930"]
    (sr,) = result.dicom
    _check_sr(sr, study, tmp_path)
    record = factories.record("1.2.9", events=(factories.ct_event("1.2.9.1", 10.0, 300.0),))
    sized = apps.apply_to_record(record, findings)
    assert sized.patient.water_equivalent_diameter_cm == pytest.approx(32.0, abs=0.05)


def test_exposure_qa_app_flags_and_reports(tmp_path: Path) -> None:
    images = [
        dx_image(900.0, 400.0, acquired="20261201T090000"),  # DI +3.5: over
        dx_image(400.0, 400.0, acquired="20261201T090100"),  # same view again: a repeat
        dx_image(400.0, 400.0, view="LL", acquired="20261201T090200"),
    ]
    study = _same_study(images)
    result = apps.exposure_qa(study, {}, _context(tmp_path, "medcoop.exposure-qa"))
    assert result.findings is not None
    assert [i["class"] for i in result.findings["images"]] == ["over", "target", "target"]
    assert sorted(a.code for a in result.alerts) == ["over_exposure", "repeat"]
    assert result.findings["outputs"]["flagged"] == 2.0
    (sr,) = result.dicom
    _check_sr(sr, study, tmp_path)


def test_onnx_host_app_end_to_end(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(mean_intensity_model([8.0, -8.0], [-2.0, 2.0]))
    parameters = {
        "model_file": str(model),
        "model_name": "tiny-mean",
        "model_version": "1.0",
        "input_height": 32,
        "input_width": 32,
        "window": "range",
        "findings": json.dumps([
            {"code_value": "F1", "meaning": "Bright image"},
            {"code_value": "F2", "meaning": "Dark image"},
        ]),
    }
    ramp = np.tile(np.linspace(0, 4000, 48), (64, 1))
    study = _same_study([dx_image(400.0, 400.0, pixels=ramp)])
    result = apps.onnx_host(study, parameters, _context(tmp_path, "medcoop.xray-onnx"))
    assert result.findings is not None
    assert result.findings["present"] == ["Bright image"]
    scores = result.findings["outputs"]
    assert scores["score_F1"] > 0.8 > 0.2 > scores["score_F2"]
    assert [a.message for a in result.alerts] == ["Bright image suspected"]
    (sr,) = result.dicom
    _check_sr(sr, study, tmp_path)


@pytest.mark.parametrize("app_id", sorted(MANIFESTS))
def test_manifests_validate_against_the_store_schema(app_id: str) -> None:
    parsed = validate_manifest(manifest(app_id))
    assert parsed.vendor == "medcoop"
    assert not parsed.allows_clinical_routing  # research use only: no clearance is claimed
