"""What the supply chain needs from an app manifest: its id, version and vendor, validated.

The manifest's schema belongs to the catalogue (``medcoop.store.manifest``); when that
module is installed its validator decides (every error listed), else only the fields the
supply chain itself relies on are checked. Either way the check takes bytes, no I/O.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ManifestError", "ManifestFacts", "read_manifest"]


class ManifestError(ValueError):
    """The manifest is not valid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid manifest: " + "; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """The fields of a valid manifest the supply chain uses, and the whole document."""

    app_id: str
    version: str
    vendor: str | None
    document: dict[str, Any]


def _schema_errors(document: dict[str, Any]) -> list[str] | None:
    """Errors from the catalogue's manifest schema, or ``None`` when it is not installed."""
    try:
        schema = importlib.import_module("medcoop.store.manifest")
    except ModuleNotFoundError as exc:
        if exc.name != "medcoop.store.manifest":
            raise
        return None
    validate = getattr(schema, "manifest_errors", None)
    if validate is None:
        return None
    return list(validate(document))


def read_manifest(data: bytes) -> ManifestFacts:
    """Parse and validate manifest ``data`` (JSON).

    Raises
    ------
    ManifestError
        The bytes are not a JSON object, or the schema finds errors (all listed).
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError([f"not JSON: {type(exc).__name__}"]) from exc
    if not isinstance(document, dict):
        raise ManifestError(["a manifest is a JSON object"])
    errors = _schema_errors(document) or []
    for name in ("id", "version"):
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{name}: a non-empty string is required")
    if errors:
        raise ManifestError(sorted(set(errors)))
    vendor = document.get("vendor")
    if isinstance(vendor, dict):
        vendor = vendor.get("id") or vendor.get("slug")
    return ManifestFacts(
        str(document["id"]),
        str(document["version"]),
        str(vendor) if isinstance(vendor, str) else None,
        document,
    )
