"""Shared fixtures of the ledger tests: the transparency-dev RFC 6962 vectors, hub databases."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.hub.conftest import app, client, db_url, pg_server_url, settings  # noqa: F401

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "rfc6962-vectors"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (VECTORS / name).read_text().splitlines() if line]


@pytest.fixture(scope="session")
def tree8() -> dict[str, Any]:
    return json.loads((VECTORS / "tree_8_leaves.json").read_text())


class LedgerHub:
    """A real hub served by uvicorn on a local port, with its own log key and one witness."""

    def __init__(self, folder: Path, witnesses: tuple[str, ...], key_file: Path) -> None:
        from medcoop.hub.app import create_app
        from medcoop.hub.settings import HubSettings

        folder.mkdir(parents=True, exist_ok=True)
        self.settings = HubSettings(
            database_url=f"sqlite:///{folder / 'hub.db'}",
            ledger_origin="medcoop.test/ledger",
            ledger_key_path=str(key_file),
            ledger_witnesses=witnesses,
            notifier_enabled=False,
        )
        self.app = create_app(self.settings)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ledger(self) -> Any:
        from medcoop.hub.api.ledger import get_ledger

        class _Request:
            app = self.app

        return get_ledger(_Request())  # type: ignore[arg-type]

    def __enter__(self) -> LedgerHub:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.engine.dispose()
