"""Shared pytest configuration: where the shared corpus and reference data live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEDCOOP_SHARED", REPO_ROOT.parent / "shared"))
CORPUS = Path(os.environ.get("MEDCOOP_CORPUS", SHARED / "corpus"))
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The OpenREM public test files (not ours to copy: read from ../shared)."""
    path = CORPUS / "openrem"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the shared corpus is missing in CI: {path}")
        pytest.skip(f"the shared OpenREM corpus is not present at {path} (set MEDCOOP_CORPUS)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The shared reference tables (PS3.15, DRLs, SSDE, RFC 6962 vectors)."""
    if not REFERENCE.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the shared reference data is missing in CI: {REFERENCE}")
        pytest.skip(f"the shared reference data is not present at {REFERENCE}")
    return REFERENCE
