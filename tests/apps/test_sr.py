"""TID 1500 reports from app measurements: valid for highdicom, parsed by dcmtk, same study."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from medcoop.apps.errors import InvalidReportError
from medcoop.apps.sdk import AppContext, Code, EdgeStudy, Measurement
from medcoop.apps.sr import measurement_report, validate_sr
from tests.apps.conftest import ct_study

DIAMETER = Code("81827009", "SCT", "Diameter")
MM = Code("mm", "UCUM", "millimeter")


def _report(context: AppContext) -> tuple[list, object]:
    objects = ct_study()
    image = objects[0]
    study = EdgeStudy(str(image.StudyInstanceUID), objects)
    sr = measurement_report(
        study, [Measurement(DIAMETER, 251.5, MM, str(image.SOPInstanceUID))], context
    )
    return objects, sr


def test_report_joins_the_original_study_in_a_new_series(context: AppContext) -> None:
    objects, sr = _report(context)
    assert sr.StudyInstanceUID == objects[0].StudyInstanceUID
    assert sr.PatientID == objects[0].PatientID
    assert sr.SeriesInstanceUID not in {o.SeriesInstanceUID for o in objects}
    assert validate_sr(sr, study_instance_uid=str(objects[0].StudyInstanceUID)) == []


def test_dcmtk_parses_the_report_and_names_the_app_as_observer_device(
    context: AppContext, tmp_path: Path
) -> None:
    _, sr = _report(context)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    out = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, check=True)
    assert "Imaging Measurement Report" in out.stdout
    assert '"Device Observer Name")="trivial 1.0.0"' in out.stdout
    assert '"Device Observer Model Name")="diameter-net 2"' in out.stdout
    assert '"Diameter")="251.5" (mm,UCUM' in out.stdout


def test_validation_names_what_is_wrong(context: AppContext) -> None:
    objects, sr = _report(context)
    assert validate_sr(sr, study_instance_uid="1.2.3") == [
        "Study Instance UID is not the original study's"
    ]
    problems = validate_sr(sr, original_series=[str(sr.SeriesInstanceUID)])
    assert problems == ["the report is in one of the original series, not a new one"]
    assert "not an SR class" in validate_sr(objects[0])[0]
    sr.ContentTemplateSequence[0].TemplateIdentifier = "2000"
    assert any("TID 1500" in p for p in validate_sr(sr))


def test_a_report_of_no_objects_is_refused(context: AppContext) -> None:
    with pytest.raises(InvalidReportError):
        measurement_report([], [], context)
