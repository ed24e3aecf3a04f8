"""schemathesis against ``/openapi.json``: generated requests never get a 500, and every
response matches the published schema (status code, content type, body)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from medcoop.hub.app import create_app
from medcoop.hub.db.models import Role
from medcoop.hub.settings import HubSettings
from tests.hub.conftest import auth, make_tenant

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Logging out would revoke the token the rest of the run uses.
SKIPPED = {("POST", "/api/v1/auth/logout")}
#: Routers owned by other packages fuzz themselves in their own tests.
#: The store's authorization matrix (tests/hub/test_store_api.py) calls every store endpoint.
FOREIGN_PREFIXES = ("/api/v1/analytics", "/api/v1/ledger", "/log/", "/api/v1/store")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    path = Path(tmp_path_factory.mktemp("openapi")) / "hub.db"
    return create_app(HubSettings(database_url=f"sqlite:///{path}"))


def test_openapi_is_published_and_versioned(hub: FastAPI) -> None:
    with TestClient(hub) as client:
        spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    # /log/ is the ledger's C2SP tlog-tiles layout, whose paths the spec fixes
    api_paths = [
        p for p in spec["paths"] if p not in ("/healthz", "/readyz") and not p.startswith("/log/")
    ]
    assert all(path.startswith("/api/v1/") for path in api_paths)
    ingest = spec["paths"]["/api/v1/ingest"]["post"]
    assert {"200", "401", "413", "422", "429"} <= set(ingest["responses"])
    assert "RecordBatch" in spec["components"]["schemas"]


def _fuzz(operation: object, headers: dict[str, str]) -> None:
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_schemathesis_finds_no_server_errors(hub: FastAPI) -> None:
    tenant = make_tenant(hub, "Fuzz")
    schema = schemathesis.openapi.from_asgi("/openapi.json", hub)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED or operation.path.startswith(
            FOREIGN_PREFIXES
        ):
            continue
        operations += 1
        token = tenant.site_token if operation.path == "/api/v1/ingest" else None
        headers = auth(token or tenant.tokens[Role.ORG_ADMIN])

        try:
            _fuzz(operation, headers)
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
