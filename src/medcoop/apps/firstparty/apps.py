"""The first-party apps as SDK apps: entry points that wrap the pure science modules.

- ``medcoop.apps.firstparty.apps:ct_size`` — patient size (D_w, AAPM 220; D_eff from a
  localizer, AAPM 204) and SSDE of a CT study, as findings, measurements and a TID 1500 SR;
  :func:`apply_to_record` puts the size into the study's dose record for the hub.
- ``medcoop.apps.firstparty.apps:exposure_qa`` — EI and DI per DX/CR image (IEC 62494-1),
  over/under-exposure and repeat alerts, an SR of the indices.
- ``medcoop.apps.firstparty.apps:onnx_host`` — a vendor's ONNX model run on DX/CR images
  with its declared preprocessing; findings with scores and an SR.

Their manifests are :mod:`medcoop.apps.firstparty.manifests`. Each returns, in its
findings, ``outputs``: the numeric values the edge reports to the hub's monitoring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from medcoop.apps.firstparty import ct_size as size_science
from medcoop.apps.firstparty import exposure_qa as qa_science
from medcoop.apps.firstparty import onnx_host as onnx_science
from medcoop.apps.sdk import Alert, AppContext, AppResult, CloudBatch, Code, EdgeStudy, Measurement
from medcoop.apps.sr import measurement_report
from medcoop.dicom.values import first_float, get_value
from medcoop.records import StudyRecord

__all__ = ["apply_to_record", "ct_size", "exposure_qa", "model_spec", "onnx_host"]

CM = Code("cm", "UCUM", "centimeter")
MGY = Code("mGy", "UCUM", "milligray")
NO_UNIT = Code("1", "UCUM", "no units")
WATER_EQUIVALENT_DIAMETER = Code("113980", "DCM", "Water Equivalent Diameter")
DERIVED_EFFECTIVE_DIAMETER = Code("113933", "DCM", "Derived Effective Diameter")
SSDE = Code("113930", "DCM", "Size Specific Dose Estimate")
MEAN_CTDIVOL = Code("113830", "DCM", "Mean CTDIvol")
EXPOSURE_INDEX = Code("113845", "DCM", "Exposure Index")
TARGET_EXPOSURE_INDEX = Code("113846", "DCM", "Target Exposure Index")
DEVIATION_INDEX = Code("113847", "DCM", "Deviation Index")
_CTDIVOL_TAG = 0x00189345


def _study(inputs: EdgeStudy | CloudBatch) -> EdgeStudy:
    if not isinstance(inputs, EdgeStudy):
        raise TypeError("this app runs at the edge, on one study's images")
    return inputs


# --- CT patient size and SSDE -------------------------------------------------------------


def _ctdivol_mgy(datasets: list[Dataset]) -> float | None:
    values = [first_float(get_value(ds, _CTDIVOL_TAG)) for ds in datasets]
    found = [v for v in values if v is not None and v > 0]
    return float(np.mean(found)) if found else None


def ct_size(
    inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any], context: AppContext
) -> AppResult:
    """Patient size and SSDE of one CT study (see :mod:`.ct_size` for the method).

    Parameters: ``phantom`` (``body32`` or ``head16``: the CTDIvol phantom when the images
    do not say), ``threshold_hu`` (the patient segmentation's threshold).
    """
    study = _study(inputs)
    images = study.by_modality("CT")
    threshold = float(parameters.get("threshold_hu", size_science.PATIENT_THRESHOLD_HU))
    size = size_science.study_size(images, threshold_hu=threshold)
    axial = [ds for ds in images if size_science.is_axial_ct(ds)]
    ctdivol = _ctdivol_mgy(axial)
    phantom = str(parameters.get("phantom", "body32"))
    if phantom not in ("body32", "head16"):
        raise ValueError(f"phantom must be body32 or head16, not {phantom!r}")
    central = axial[len(axial) // 2] if axial else images[0]
    source = str(central.SOPInstanceUID)
    diameter_code = (
        WATER_EQUIVALENT_DIAMETER
        if size.method == "water_equivalent_diameter"
        else DERIVED_EFFECTIVE_DIAMETER
    )
    measurements = [Measurement(diameter_code, round(size.diameter_cm, 2), CM, source)]
    outputs: dict[str, float] = {"diameter_cm": round(size.diameter_cm, 2)}
    findings: dict[str, Any] = {
        "method": size.method,
        "diameter_cm": round(size.diameter_cm, 2),
        "mean_water_equivalent_diameter_cm": size.mean_water_equivalent_diameter_cm,
        "slices": size.slices,
        "truncated": size.truncated,
        "phantom": phantom,
        "ctdivol_mgy": ctdivol,
        "ssde_mgy": None,
        "conversion_factor": None,
    }
    if ctdivol is not None:
        ssde = size_science.size_ssde(ctdivol, size, phantom)  # type: ignore[arg-type]
        measurements += [
            Measurement(MEAN_CTDIVOL, round(ctdivol, 3), MGY, source),
            Measurement(SSDE, round(ssde.ssde_mgy, 3), MGY, source),
        ]
        findings.update(ssde_mgy=round(ssde.ssde_mgy, 3), conversion_factor=round(ssde.factor, 4))
        outputs.update(ssde_mgy=round(ssde.ssde_mgy, 3), conversion_factor=round(ssde.factor, 4))
    findings["outputs"] = outputs
    alerts = []
    if size.truncated:
        alerts.append(
            Alert("truncated", "the patient is cut by the field of view: D_w is understated")
        )
    report = measurement_report(images, measurements, context)
    return AppResult(findings=findings, measurements=measurements, alerts=alerts, dicom=[report])


def apply_to_record(record: StudyRecord, findings: Mapping[str, Any]) -> StudyRecord:
    """Return ``record`` with the CT size app's result in its patient facts (the hub
    computes SSDE from it); unchanged when the size was truncated or not had."""
    method = findings.get("method")
    diameter = findings.get("diameter_cm")
    if method not in ("water_equivalent_diameter", "effective_diameter") or diameter is None:
        return record
    size = size_science.StudySize(
        method=method,
        diameter_cm=float(diameter),
        mean_water_equivalent_diameter_cm=findings.get("mean_water_equivalent_diameter_cm"),
        slices=int(findings.get("slices", 0)),
        truncated=bool(findings.get("truncated", False)),
    )
    return size_science.with_patient_size(record, size)


# --- projection X-ray exposure QA ----------------------------------------------------------


def exposure_qa(
    inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any], context: AppContext
) -> AppResult:
    """EI and DI of each DX/CR image of a study, flags, and an SR of the indices.

    Parameters: ``review_db`` and ``action_db``, the DI thresholds (1 and 3 by default).
    """
    study = _study(inputs)
    thresholds = qa_science.DiThresholds(
        review_db=float(parameters.get("review_db", 1.0)),
        action_db=float(parameters.get("action_db", 3.0)),
    )
    exposures, skipped = qa_science.assess(study.by_modality("DX", "CR"), thresholds)
    measurements: list[Measurement] = []
    alerts: list[Alert] = []
    for number, e in enumerate(exposures, start=1):
        group = str(number)
        measurements.append(
            Measurement(EXPOSURE_INDEX, e.exposure_index, NO_UNIT, e.sop_instance_uid, group)
        )
        if e.target_exposure_index is not None:
            measurements.append(
                Measurement(
                    TARGET_EXPOSURE_INDEX,
                    e.target_exposure_index,
                    NO_UNIT,
                    e.sop_instance_uid,
                    group,
                )
            )
        measurements.append(
            Measurement(DEVIATION_INDEX, e.deviation_index, NO_UNIT, e.sop_instance_uid, group)
        )
        if e.exposure_class in ("over", "under"):
            word = "over" if e.exposure_class == "over" else "under"
            alerts.append(
                Alert(f"{word}_exposure", f"{e.view}: DI {e.deviation_index:+.1f} ({word}exposed)")
            )
        if e.repeat:
            alerts.append(Alert("repeat", f"{e.view}: a repeated exposure", severity="info"))
    findings: dict[str, Any] = {
        "images": [
            {
                "sop_instance_uid": e.sop_instance_uid,
                "device": e.device,
                "view": e.view,
                "exposure_index": e.exposure_index,
                "target_exposure_index": e.target_exposure_index,
                "deviation_index": e.deviation_index,
                "class": e.exposure_class,
                "repeat": e.repeat,
                "header_di_disagrees": e.header_di_disagrees,
            }
            for e in exposures
        ],
        "skipped": [{"sop_instance_uid": uid, "reason": why} for uid, why in skipped],
        "thresholds": {"review_db": thresholds.review_db, "action_db": thresholds.action_db},
    }
    if exposures:
        findings["outputs"] = {
            "deviation_index": round(float(np.mean([e.deviation_index for e in exposures])), 3),
            "flagged": float(sum(e.flagged for e in exposures)),
            "repeats": float(sum(e.repeat for e in exposures)),
        }
    dicom = (
        [measurement_report(study.by_modality("DX", "CR"), measurements, context)]
        if measurements
        else []
    )
    return AppResult(findings=findings, measurements=measurements, alerts=alerts, dicom=dicom)


# --- ONNX model host -------------------------------------------------------------------------


def model_spec(parameters: Mapping[str, Any]) -> onnx_science.ModelSpec:
    """The model's declaration from the manifest's flat parameters (``model_file``,
    ``model_name``, ``model_version``, ``input_height``, ``input_width``, ``window``
    — ``range``, ``voi`` or ``fixed`` with ``window_center``/``window_width`` —, ``mean``,
    ``std``, ``channels``, ``output``, and ``findings``: a JSON list of ``{code_value,
    meaning, coding_scheme?, threshold?}``), or from one ``model`` mapping."""
    if isinstance(parameters.get("model"), Mapping):
        return onnx_science.ModelSpec.model_validate(parameters["model"])
    window: Any = parameters.get("window", "range")
    if window == "fixed":
        window = {"center": parameters["window_center"], "width": parameters["window_width"]}
    findings = parameters["findings"]
    return onnx_science.ModelSpec.model_validate(
        {
            "model_file": parameters["model_file"],
            "model_name": parameters["model_name"],
            "model_version": parameters["model_version"],
            "input_size": (parameters["input_height"], parameters["input_width"]),
            "window": window,
            "mean": parameters.get("mean", 0.0),
            "std": parameters.get("std", 1.0),
            "channels": parameters.get("channels", 1),
            "output": parameters.get("output", "sigmoid"),
            "findings": json.loads(findings) if isinstance(findings, str) else findings,
        }
    )


def _model_path(spec: onnx_science.ModelSpec, parameters: Mapping[str, Any]) -> Path:
    """The model file: ``model_file`` inside the vendor's package ``model_package``, or an
    absolute ``model_file``."""
    spec_file = spec.model_file
    package = parameters.get("model_package")
    if package:
        return Path(str(resources.files(str(package)).joinpath(spec_file)))
    path = Path(spec_file)
    if not path.is_absolute():
        raise ValueError("model_file must be absolute unless model_package names its package")
    return path


@cache
def _load_model(path: Path, spec_json: str) -> onnx_science.OnnxModel:
    # one session per process and model: loading is the slow part of a run
    spec = onnx_science.ModelSpec.model_validate_json(spec_json)
    return onnx_science.OnnxModel(path, spec)


def onnx_host(
    inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any], context: AppContext
) -> AppResult:
    """Run a vendor's ONNX model on each DX/CR image of a study.

    Parameters: the model's declaration (:func:`model_spec`) and ``model_package``, the
    vendor's Python package holding the model file.
    """
    study = _study(inputs)
    spec = model_spec(parameters)
    model = _load_model(_model_path(spec, parameters), spec.model_dump_json())
    images = study.by_modality("DX", "CR")
    if not images:
        raise ValueError("the study has no DX or CR image")
    measurements: list[Measurement] = []
    per_image: list[dict[str, Any]] = []
    seen: list[onnx_science.Finding] = []
    best: dict[str, float] = {}
    for number, ds in enumerate(images, start=1):
        found = model.assess(ds)
        per_image.append(
            {
                "sop_instance_uid": str(ds.SOPInstanceUID),
                "findings": [
                    {
                        "code": f.code_value,
                        "scheme": f.coding_scheme,
                        "meaning": f.meaning,
                        "score": f.score,
                        "present": f.present,
                    }
                    for f in found
                ],
            }
        )
        for f in found:
            measurements.append(
                Measurement(
                    Code(f.code_value, f.coding_scheme, f.meaning),
                    f.score,
                    NO_UNIT,
                    str(ds.SOPInstanceUID),
                    str(number),
                )
            )
            best[f.code_value] = max(best.get(f.code_value, 0.0), f.score)
            seen.append(f)
    present = sorted({f.meaning for f in seen if f.present})
    findings = {
        "model": {"name": spec.model_name, "version": spec.model_version},
        "images": per_image,
        "present": present,
        "outputs": {f"score_{code}": round(score, 6) for code, score in best.items()},
    }
    alerts = [Alert("finding", f"{name} suspected", severity="warning") for name in present]
    report = measurement_report(images, measurements, context)
    return AppResult(findings=findings, measurements=measurements, alerts=alerts, dicom=[report])
