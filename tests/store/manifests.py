"""Manifests for store tests: a valid edge app and a valid cloud app, as plain dicts."""

from __future__ import annotations

import copy
from typing import Any

EDGE_APP: dict[str, Any] = {
    "manifest_version": "1.0",
    "id": "acme.chest-triage",
    "version": "1.2.0",
    "vendor": "acme",
    "title": "Chest triage",
    "summary": "Flags chest radiographs with a suspected pneumothorax",
    "description": "Scores adult chest radiographs and writes a TID 1500 report.",
    "category": "ai_diagnostics",
    "intended_use": "Triage of adult chest radiographs for radiologist review.",
    "regulatory": {
        "eu_mdr": {"mdr_class": "IIa", "notified_body": "0123", "certificate": "CE 700123"},
        "us_fda": {"k510": "K231234"},
    },
    "clinical_scope": {
        "modalities": ["DX", "CR"],
        "body_parts": ["CHEST"],
        "findings": ["pneumothorax"],
    },
    "inputs": [
        {
            "kind": "dicom",
            "name": "chest",
            "selectors": [
                {"attribute": "Modality", "in": ["DX", "CR"]},
                {"attribute": "BodyPartExamined", "equals": "CHEST"},
            ],
        }
    ],
    "outputs": [
        {"name": "findings", "kind": "findings_json"},
        {"name": "report", "kind": "dicom_sr"},
    ],
    "parameters": [
        {"name": "threshold", "type": "number", "default": 0.5, "minimum": 0, "maximum": 1}
    ],
    "resources": {"cpu_cores": 1, "memory_mb": 1024, "timeout_s": 120, "gpu": "optional"},
    "deployment": ["edge"],
    "data_scopes": ["edge:images", "edge:pacs-write"],
    "offers": {
        "trial": {"days": 30, "study_cap": 100, "approval": "automatic"},
        "per_study": {"amount": "1.50", "currency": "EUR"},
        "quote_on_request": True,
    },
    "licence": {"spdx": "LicenseRef-Acme-EULA"},
    "provenance": {
        "source": "https://git.example.org/acme/chest-triage",
        "build": "ci-42",
        "sbom": {"format": "cyclonedx", "uri": "sbom.cdx.json"},
    },
    "entry_point": "acme_chest_triage.app:run",
    "changelog": "Lower false positives on portable AP films.",
}

CLOUD_APP: dict[str, Any] = {
    **copy.deepcopy(EDGE_APP),
    "id": "acme.dose-trends",
    "title": "Dose trends",
    "summary": "CT dose trends against the pooled peers",
    "category": "dose_analytics",
    "regulatory": {"research_use_only": True},
    "inputs": [
        {
            "kind": "pooled",
            "name": "ct_studies",
            "selectors": [
                {"attribute": "modality", "in": ["CT"]},
                {"attribute": "patient.age_years", "min": 18},
            ],
        }
    ],
    "outputs": [{"name": "trend", "kind": "findings_json"}],
    "deployment": ["cloud"],
    "data_scopes": ["pooled:studies", "pooled:dose"],
    "offers": {
        "subscriptions": [{"name": "yearly", "period": "year", "price": {"amount": "1200"}}]
    },
}


def manifest(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``base`` (the edge app) with top-level ``changes``."""
    out = copy.deepcopy(base or EDGE_APP)
    out.update(copy.deepcopy(changes))
    return out
