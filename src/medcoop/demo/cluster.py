"""The demo's moving parts: a hub in a child process and edges in this one.

The hub is ``medcoop hub serve`` on a SQLite file, provisioned the way an operator does it
(``create-org``, ``create-site``, ``create-user``, ``create-token``: the same service
functions those commands call). Each edge gets the commented configuration file that
``medcoop edge init`` writes, adjusted for the demo, and enrolls over HTTP with its
one-time code exactly as ``medcoop edge enroll`` does; it then runs in threads of this
process (:class:`~medcoop.edge.node.EdgeNode`).
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from medcoop.demo import ledger_part
from medcoop.edge.config import (
    EdgeSettings,
    load_settings,
    write_default_config,
)
from medcoop.edge.enrollment import enroll
from medcoop.edge.node import EdgeNode

__all__ = [
    "DemoEdge",
    "DemoHub",
    "Provisioned",
    "SitePlan",
    "edit_config",
    "free_port",
]


@dataclass(frozen=True, slots=True)
class SitePlan:
    """A hospital in the demo.

    ``local`` sites belong to the demo's hospital group and receive their scanners' studies
    over DICOM; the others are peer hospitals of other organisations that back-load.
    """

    name: str
    org: str
    site_type: str
    local: bool
    country: str = "GB"


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What the operator created at the hub, and the secrets handed out (shown once)."""

    site_ids: dict[str, uuid.UUID]
    enrollment_codes: dict[str, str]
    user_email: str
    user_password: str
    personal_token: str


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """Return ``preferred`` if it can be bound on ``host``, else a free port."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free TCP port")  # pragma: no cover - the OS always has one for 0


class DemoHub:
    """The hub: provisioned in-process, then served by ``medcoop hub serve`` (uvicorn)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.db_url = f"sqlite:///{folder / 'hub.db'}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The hub's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the hub's own output goes."""
        return self.folder / "hub.log"

    def provision(self, sites: list[SitePlan], *, user_org: str, email: str) -> Provisioned:
        """Create organisations, sites (with enrollment codes), a physicist and their token."""
        from medcoop.hub.db import migrate
        from medcoop.hub.db.engine import make_engine, make_session_factory
        from medcoop.hub.db.models import Role, TokenKind
        from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
        from medcoop.hub.services import accounts
        from medcoop.hub.settings import HubSettings

        self.folder.mkdir(parents=True, exist_ok=True)
        engine = make_engine(HubSettings(database_url=self.db_url))
        migrate.upgrade(engine)
        password = secrets.token_urlsafe(12)
        try:
            with make_session_factory(engine)() as session:
                scope_session(session, ALL_TENANTS)
                site_ids: dict[str, uuid.UUID] = {}
                codes: dict[str, str] = {}
                orgs: dict[str, uuid.UUID] = {}
                for plan in sites:
                    if plan.org not in orgs:
                        org = accounts.create_organisation(session, plan.org, country=plan.country)
                        orgs[plan.org] = org.id
                    site = accounts.create_site(
                        session,
                        orgs[plan.org],
                        plan.name,
                        country=plan.country,
                        site_type=plan.site_type,
                    )
                    site_ids[plan.name] = site.id
                    codes[plan.name] = accounts.issue_enrollment_code(
                        session, orgs[plan.org], site.id, ttl_s=3600
                    )
                user = accounts.create_user(
                    session, email, password=password, display_name="Demo physicist"
                )
                accounts.add_membership(session, orgs[user_org], user.id, Role.MEDICAL_PHYSICIST)
                _token, secret = accounts.issue_token(
                    session,
                    TokenKind.PERSONAL,
                    orgs[user_org],
                    user_id=user.id,
                    name="demo",
                    ttl_s=7 * 86400,
                )
                session.commit()
        finally:
            engine.dispose()
        return Provisioned(site_ids, codes, email, password, secret)

    def start(self, *, timeout_s: float = 90.0) -> None:
        """Start ``medcoop hub serve`` and wait until it answers ``/healthz``."""
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "medcoop", "hub", "serve", "--db", self.db_url]
        command += ["--port", str(self.port), "--log-level", "warning"]
        command += ["--store-tuf-dir", str(self.folder / "tuf")]  # the store's signed packages
        command += ledger_part.hub_options(self.folder)  # the log's key and its witness
        # its own session: Ctrl-C at the terminal must not stop the hub before the edges
        # have flushed their outboxes to it; stop() ends it last
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the hub exited at start; see {self.log_path}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the hub did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Stop the hub (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def edit_config(text: str, section: str | None, key: str, value: str) -> str:
    """Set ``key = value`` (``value`` already TOML) in ``[section]`` (None: the top level)."""
    pattern = re.compile(rf"^#?\s*{re.escape(key)}\s*=.*$", re.MULTILINE)
    if section is None:
        start, end = 0, text.find("\n[")
    else:
        start = text.index(f"[{section}]")
        following = text.find("\n[", start + 1)
        end = following if following != -1 else len(text)
    block = text[start:end]
    if not pattern.search(block):
        raise KeyError(f"{key} not in [{section or 'top level'}] of the edge configuration")
    return text[:start] + pattern.sub(f"{key} = {value}", block, count=1) + text[end:]


class DemoEdge:
    """One hospital's edge node: its configuration file, enrollment and the running node."""

    def __init__(
        self,
        folder: Path,
        site: SitePlan,
        *,
        dicom_port: int | None,
        stow_port: int | None,
        completion_timeout_s: float,
    ) -> None:
        self.folder = folder
        self.site = site
        self.config_path = folder / "medcoop-edge.toml"
        self.node: EdgeNode | None = None
        write_default_config(self.config_path, overwrite=True)
        text = self.config_path.read_text()
        slug = re.sub(r"[^a-z0-9]+", "-", site.name.lower()).strip("-")
        text = edit_config(text, None, "name", f'"{slug}"')
        text = edit_config(text, None, "study_completion_timeout_s", f"{completion_timeout_s:g}")
        for section, port in (("dicom", dicom_port), ("stow", stow_port)):
            text = edit_config(text, section, "enabled", "true" if port else "false")
            text = edit_config(text, section, "host", '"127.0.0.1"')
            text = edit_config(text, section, "port", str(port or 0))
        # the demo's scanners are on this machine and name themselves after their device
        text = edit_config(text, "dicom", "allowed_calling_aets", '["*"]')
        # the demo's data is small; do not refuse objects on a nearly full laptop disk
        text = edit_config(text, "storage", "min_free_bytes", str(16 * 1024 * 1024))
        self.config_path.write_text(text)

    @property
    def settings(self) -> EdgeSettings:
        """The settings as ``medcoop edge serve --config`` would load them."""
        return load_settings(self.config_path)

    def enroll(self, hub_url: str, code: str) -> None:
        """Exchange the one-time code for a site token and store it (``medcoop edge enroll``)."""
        enroll(self.config_path, code, hub_url, edge_name=self.settings.name)

    def start(self) -> EdgeNode:
        """Start the node (receivers, study closer, uploader) in this process."""
        self.node = EdgeNode(self.settings)
        self.node.start()
        return self.node

    def stop(self) -> None:
        """Stop the node: finish in-flight objects, queue what is due, flush the uploader."""
        if self.node is not None:
            self.node.stop()
            self.node = None
