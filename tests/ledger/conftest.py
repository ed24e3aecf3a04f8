"""Shared fixtures of the ledger tests: the transparency-dev RFC 6962 vectors, hub databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import app, client, db_url, pg_server_url, settings  # noqa: F401

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "rfc6962-vectors"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (VECTORS / name).read_text().splitlines() if line]


@pytest.fixture(scope="session")
def tree8() -> dict[str, Any]:
    return json.loads((VECTORS / "tree_8_leaves.json").read_text())
