"""The first-party apps' store manifests (``medcoop.store.manifest.AppManifest`` as JSON).

Published through the store like any partner's, under the platform's own vendor slug
``medcoop``. None is cleared as a medical device, so each says ``research_use_only``
(which keeps it off clinical routes until a clearance is named): claiming a clearance we
do not hold would be false.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

from medcoop import __version__

__all__ = ["CT_SIZE", "EXPOSURE_QA", "MANIFESTS", "ONNX_HOST", "manifest"]

VENDOR: Final = "medcoop"
_SOURCE = "https://medcoop.invalid/src/medcoop/apps/firstparty"


def _version() -> str:
    # the apps ship inside medcoop: their version is the platform's release
    return __version__.split("+")[0]


def _base(name: str, title: str, summary: str, entry_point: str) -> dict[str, Any]:
    return {
        "manifest_version": "1.0",
        "id": f"{VENDOR}.{name}",
        "version": _version(),
        "vendor": VENDOR,
        "title": title,
        "summary": summary,
        "regulatory": {"research_use_only": True},
        "deployment": ["edge"],
        "offers": {"free": True},
        "licence": {"spdx": "Apache-2.0"},
        "provenance": {"source": _SOURCE, "build": f"medcoop-{_version()}"},
        "entry_point": entry_point,
    }


CT_SIZE: Final[dict[str, Any]] = {
    **_base(
        "ct-size",
        "CT patient size and SSDE",
        "Water-equivalent diameter (AAPM 220) from CT images and the size-specific dose "
        "estimate (AAPM 204/220)",
        "medcoop.apps.firstparty.apps:ct_size",
    ),
    "description": (
        "Segments the patient on each axial CT image (HU from the rescale values, the "
        "largest region above a threshold, holes filled), computes the water-equivalent "
        "diameter of the central slice, and the SSDE of the study's CTDIvol with the AAPM "
        "204 conversion factor. From a localizer alone, the effective diameter from its "
        "width (AAPM 204 lookup). Writes a TID 1500 report into the study and the size "
        "into the dose record sent to the hub."
    ),
    "category": "dose_analytics",
    "intended_use": "Estimating patient size and size-specific dose of CT body scans.",
    "clinical_scope": {"modalities": ["CT"], "findings": []},
    "inputs": [
        {
            "kind": "dicom",
            "name": "ct_images",
            "selectors": [{"attribute": "Modality", "in": ["CT"]}],
        }
    ],
    "outputs": [
        {"name": "size", "kind": "findings_json"},
        {"name": "measurements", "kind": "measurements"},
        {"name": "report", "kind": "dicom_sr"},
    ],
    "parameters": [
        {"name": "phantom", "type": "enum", "choices": ["body32", "head16"], "default": "body32",
         "description": "CTDIvol phantom when the images do not name one"},
        {"name": "threshold_hu", "type": "number", "default": -500, "minimum": -900,
         "maximum": -100, "description": "patient segmentation threshold (HU)"},
    ],
    "resources": {"cpu_cores": 1, "memory_mb": 1024, "timeout_s": 120, "gpu": "none"},
    "data_scopes": ["edge:images", "edge:pacs-write"],
}

EXPOSURE_QA: Final[dict[str, Any]] = {
    **_base(
        "exposure-qa",
        "Projection X-ray exposure QA",
        "Exposure and deviation index (IEC 62494-1) by device and view; over-, "
        "under-exposure and repeats",
        "medcoop.apps.firstparty.apps:exposure_qa",
    ),
    "description": (
        "Reads ExposureIndex, TargetExposureIndex and DeviationIndex from DX and CR images, "
        "computes DI = 10·log10(EI/EI_T), classes each image by the AAPM TG-116 bands "
        "(flags |DI| > 3), marks repeated views within a study, and trends DI per device."
    ),
    "category": "quality_assurance",
    "intended_use": "Quality assurance of detector exposure in projection radiography.",
    "clinical_scope": {"modalities": ["DX", "CR"], "findings": []},
    "inputs": [
        {
            "kind": "dicom",
            "name": "projection_images",
            "selectors": [{"attribute": "Modality", "in": ["DX", "CR"]}],
        }
    ],
    "outputs": [
        {"name": "exposures", "kind": "findings_json"},
        {"name": "flags", "kind": "alert"},
        {"name": "report", "kind": "dicom_sr"},
    ],
    "parameters": [
        {"name": "review_db", "type": "number", "default": 1.0, "minimum": 0, "maximum": 10},
        {"name": "action_db", "type": "number", "default": 3.0, "minimum": 0, "maximum": 10},
    ],
    "resources": {"cpu_cores": 1, "memory_mb": 512, "timeout_s": 60, "gpu": "none"},
    "data_scopes": ["edge:images", "edge:pacs-write"],
}

ONNX_HOST: Final[dict[str, Any]] = {
    **_base(
        "xray-onnx",
        "ONNX model host for X-ray assessment",
        "Runs a vendor's ONNX model on DX/CR images on CPU with its declared preprocessing",
        "medcoop.apps.firstparty.apps:onnx_host",
    ),
    "description": (
        "Hosts a vendor-supplied ONNX model: windowing, resize and normalisation as the "
        "parameters declare, onnxruntime on CPU, findings with scores and a TID 1500 "
        "report. See docs/apps.md for how a vendor packages a model."
    ),
    "category": "ai_diagnostics",
    "intended_use": "Running a vendor's X-ray assessment model next to the images.",
    "clinical_scope": {"modalities": ["DX", "CR"], "findings": []},
    "inputs": [
        {
            "kind": "dicom",
            "name": "projection_images",
            "selectors": [{"attribute": "Modality", "in": ["DX", "CR"]}],
        }
    ],
    "outputs": [
        {"name": "findings", "kind": "findings_json"},
        {"name": "report", "kind": "dicom_sr"},
    ],
    "parameters": [
        {"name": "model_package", "type": "string", "description": "package holding the file"},
        {"name": "model_file", "type": "string", "default": "model.onnx"},
        {"name": "model_name", "type": "string"},
        {"name": "model_version", "type": "string"},
        {"name": "input_height", "type": "integer", "minimum": 1, "maximum": 4096},
        {"name": "input_width", "type": "integer", "minimum": 1, "maximum": 4096},
        {"name": "window", "type": "enum", "choices": ["range", "voi", "fixed"],
         "default": "range"},
        {"name": "window_center", "type": "number"},
        {"name": "window_width", "type": "number", "minimum": 0},
        {"name": "mean", "type": "number", "default": 0.0},
        {"name": "std", "type": "number", "default": 1.0, "minimum": 0},
        {"name": "channels", "type": "integer", "default": 1, "minimum": 1, "maximum": 3},
        {"name": "output", "type": "enum", "choices": ["sigmoid", "softmax", "scores"],
         "default": "sigmoid"},
        {"name": "findings", "type": "string",
         "description": "JSON list of {code_value, meaning, coding_scheme?, threshold?}"},
    ],
    "resources": {"cpu_cores": 1, "memory_mb": 2048, "timeout_s": 300, "gpu": "optional"},
    "data_scopes": ["edge:images", "edge:pacs-write"],
}

MANIFESTS: Final[dict[str, dict[str, Any]]] = {
    m["id"]: m for m in (CT_SIZE, EXPOSURE_QA, ONNX_HOST)
}


def manifest(app_id: str, **changes: Any) -> str:
    """Return the manifest of ``app_id`` as JSON, with top-level ``changes`` (a vendor's
    ONNX app: its id, title, entry point and parameter defaults)."""
    body = copy.deepcopy(MANIFESTS[app_id])
    body.update(changes)
    return json.dumps(body, sort_keys=True)
