"""The API's /docs page works offline (Swagger UI's files come from the hub itself); the
hub's SQLite database is created 0600."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from medcoop.hub.app import create_app
from medcoop.hub.settings import HubSettings


def test_docs_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    app = create_app(HubSettings(database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger-ui" in page.text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        sources += re.findall(r"url: '([^']+)'", page.text)
        assert sources and all(s.startswith("/") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
    app.state.engine.dispose()


def test_hub_sqlite_database_is_private(tmp_path: Path) -> None:
    import stat

    path = tmp_path / "hub" / "hub.db"
    app = create_app(HubSettings(database_url=f"sqlite:///{path}"))
    app.state.engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
