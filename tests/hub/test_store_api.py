"""``/api/v1/store``: the manifest schema is public and is the one validation uses."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from medcoop.hub.app import create_app
from medcoop.hub.settings import HubSettings
from medcoop.store.manifest import manifest_json_schema


def test_manifest_schema_is_served_without_a_token(tmp_path: Path) -> None:
    app = create_app(HubSettings(database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    with TestClient(app) as client:
        response = client.get("/api/v1/store/manifest.schema.json")
    app.state.engine.dispose()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    assert response.json() == manifest_json_schema()
