"""Edge test fixtures: settings on free ports, and a real hub served over HTTP by uvicorn.

The hub is medcoop's own FastAPI app on a SQLite file, wrapped in a small ASGI middleware
that keeps every request body it receives (the privacy test searches them). It can be
stopped and started again on the same port to play "hub down for a while".
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from medcoop.edge.config import (
    DeidSettings,
    DicomSettings,
    EdgeSettings,
    HubSettings,
    StorageSettings,
    StowSettings,
)

_LOCAL: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
#: The STOW-RS token the test edges expect.
STOW_TOKEN = "test-stow-token"
#: Test edges accept any calling AE title unless a test says otherwise.
ANY_CALLER = DicomSettings(**_LOCAL, allowed_calling_aets=("*",))


def make_settings(data: Path, hub: HubSettings | None = None, **overrides: Any) -> EdgeSettings:
    """Edge settings in ``data`` on free ports (overrides are top-level fields)."""
    return EdgeSettings(
        name="test-edge",
        site_timezone="Europe/London",
        study_completion_timeout_s=overrides.pop("study_completion_timeout_s", 1.0),
        dicom=overrides.pop("dicom", ANY_CALLER),
        stow=overrides.pop("stow", StowSettings(**_LOCAL, token=STOW_TOKEN)),
        hub=hub or HubSettings(),
        deid=DeidSettings(key_file=data / "site.key"),
        storage=overrides.pop(
            "storage", StorageSettings(data_dir=data / "state", min_free_bytes=0)
        ),
        **overrides,
    )


@pytest.fixture
def edge_settings(tmp_path: Path) -> EdgeSettings:
    """Settings for an edge with no hub configured."""
    return make_settings(tmp_path)


class RecordingMiddleware:
    """ASGI middleware keeping every HTTP request body (for the privacy search)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.bodies.append(b"".join(chunks))
            return message

        await self.app(scope, recording_receive, send)


class LiveHub:
    """medcoop's hub on a SQLite file, served by uvicorn on a fixed local port."""

    def __init__(self, folder: Path) -> None:
        from medcoop.hub.app import create_app
        from medcoop.hub.settings import HubSettings as HubAppSettings

        folder.mkdir(parents=True, exist_ok=True)
        self.db_path = folder / "hub.sqlite3"
        self.settings = HubAppSettings(
            database_url=f"sqlite:///{self.db_path}", ingest_rate_per_s=10_000, ingest_burst=10_000
        )
        self.app = create_app(self.settings)
        self.recorder = RecordingMiddleware(self.app)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(self.recorder, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        self._server = server
        self._sock = sock
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._sock.close()
            self._server = None

    def enrollment_code(self, site: str = "Edge Test Site") -> str:
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services import accounts

        with self.app.state.session_factory() as session:
            scope_session(session, ALL_TENANTS)
            provisioned = accounts.provision_site(session, "Test Health", site, country="GB")
            session.commit()
        return provisioned.enrollment_code

    def site_token(self, site: str = "Edge Test Site") -> str:
        import httpx

        code = self.enrollment_code(site)
        response = httpx.post(self.url + "/api/v1/enroll", json={"code": code, "edge_name": "t"})
        response.raise_for_status()
        return str(response.json()["site_token"])

    def physicist_token(self, org: str = "Test Health") -> str:
        """A personal token of a medical physicist of ``org`` (to read the hub's API)."""
        from sqlalchemy import select

        from medcoop.hub.db.models import Organisation, Role, TokenKind
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services import accounts

        with self.app.state.session_factory() as session:
            scope_session(session, ALL_TENANTS)
            org_id = session.scalar(select(Organisation.id).where(Organisation.name == org))
            user = accounts.create_user(session, f"physicist-{time.monotonic_ns()}@test.example")
            accounts.add_membership(session, org_id, user.id, Role.MEDICAL_PHYSICIST)
            _token, secret = accounts.issue_token(
                session, TokenKind.PERSONAL, org_id, user_id=user.id, ttl_s=3600
            )
            session.commit()
        return secret

    def received_keys(self) -> list[str]:
        with sqlite3.connect(self.db_path) as conn:
            return [r[0] for r in conn.execute("SELECT record_key FROM record_receipts")]

    def study_uids(self) -> list[str]:
        with sqlite3.connect(self.db_path) as conn:
            return [r[0] for r in conn.execute("SELECT study_uid FROM studies")]


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A running hub (stopped at the end)."""
    hub = LiveHub(tmp_path / "hub")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
        hub.app.state.engine.dispose()


def encode(ds: Any) -> bytes:
    """A dataset as the Part 10 bytes a modality would send."""
    import io

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def fleet_studies(n: int, seed: int = 3) -> list[Any]:
    """``n`` synthetic studies (deterministic for a seed)."""
    from datetime import date

    from medcoop.sim import Fleet

    fleet = Fleet(seed=seed, sites=("St Elsewhere",), start=date(2026, 1, 5))
    return list(fleet.studies(n=n))


def feed_study(pipeline: Any, study: Any) -> list[Any]:
    """Send a study through the pipeline as a modality would: MPPS, objects, MPPS end."""
    uid = study.truth.mpps_sop_instance_uid
    outcomes = [pipeline.process_mpps(study.mpps_create, uid, "test")]
    outcomes += [pipeline.process_bytes(encode(ds), "test") for ds in study.datasets]
    outcomes.append(pipeline.process_mpps(study.mpps_set, uid, "test"))
    return outcomes


class EdgeProcess:
    """``medcoop edge serve`` in a child process, ready once ``port`` accepts connections."""

    def __init__(self, config: Path, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "medcoop", "edge", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            assert self.proc.poll() is None, "".join(self.stderr)
            time.sleep(0.05)
        raise AssertionError("edge did not start listening")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)
