"""What the supply chain needs from an app manifest: its id, version and vendor, validated.

The schema is the catalogue's (:func:`medcoop.store.manifest.validate_manifest`, every
problem listed); this adapter keeps the supply chain's checks on bytes, with no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from medcoop.store import manifest as schema

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
    vendor: str
    document: dict[str, Any]


def read_manifest(data: bytes) -> ManifestFacts:
    """Parse and validate manifest ``data`` (JSON).

    Raises
    ------
    ManifestError
        The bytes are not a valid manifest (every problem listed).
    """
    try:
        manifest = schema.validate_manifest(data)
    except schema.ManifestError as exc:
        raise ManifestError([str(problem) for problem in exc.problems]) from exc
    document: dict[str, Any] = json.loads(data)
    return ManifestFacts(manifest.id, manifest.version, manifest.vendor, document)
