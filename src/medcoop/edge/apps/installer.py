"""Installing store apps on the edge: one virtual environment per app version.

``<data_dir>/apps/`` holds everything (the edge's database and key stay outside it):

- ``tuf/metadata/``: the trusted TUF metadata (root from enrollment, then newer);
- ``<app_id>/<version>/venv``: the app's own environment, made with ``python -m venv``
  and filled with ``pip install --no-index --no-deps`` of the verified wheel only;
- ``installed.json``: what is installed (the runtime reads it through
  :func:`installed_apps`);
- ``audit.jsonl``: every install, upgrade, uninstall and refusal, one JSON line each;
- ``reports.jsonl``: reports not yet delivered to the hub (an outbox: a hub that is down
  loses nothing; the next apps command sends them).

The app environment sees the edge's own libraries after its own (a ``.pth`` line), so an
app can import the app SDK and pydicom without the edge downloading anything; isolation
from the edge's key, database and network is the runtime's sandbox's job.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from packaging.version import InvalidVersion, Version

from medcoop.edge.apps.errors import (
    AppInstallError,
    AppNotEntitledError,
    AppRefusedError,
    NotInstalledError,
)
from medcoop.edge.apps.updater import AppUpdater, VerifiedPackage
from medcoop.edge.config import EdgeSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "InstalledApp",
    "UpdateCheck",
    "apps_dir",
    "check_entitlement",
    "check_updates",
    "install_app",
    "installed_apps",
    "uninstall_app",
    "upgrade_app",
]

#: Wheels declare their app's callable in this entry-point group (name: the app id).
ENTRY_POINT_GROUP = "medcoop.apps"
_PIP_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class InstalledApp:
    """An installed app version: what the runtime needs to run it."""

    app_id: str
    version: str
    vendor: str
    #: The app's own interpreter (``<venv>/bin/python``).
    python: Path
    venv: Path
    #: ``module:callable`` from the wheel's ``medcoop.apps`` entry points (or the manifest).
    entry_point: str | None
    wheel_sha256: str
    installed_at: str
    manifest: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able form kept in ``installed.json``."""
        row = asdict(self)
        row["python"], row["venv"] = str(self.python), str(self.venv)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> InstalledApp:
        """Rebuild from :meth:`to_dict`."""
        return cls(**{**row, "python": Path(row["python"]), "venv": Path(row["venv"])})


@dataclass(frozen=True, slots=True)
class UpdateCheck:
    """An installed app and the newest version the hub publishes."""

    app_id: str
    installed: str
    available: str

    @property
    def upgradable(self) -> bool:
        """Whether a newer version is published."""
        return _version_key(self.available) > _version_key(self.installed)


def apps_dir(settings: EdgeSettings) -> Path:
    """Return the folder of this edge's apps (``<data_dir>/apps``)."""
    return settings.storage.data_dir / "apps"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


# --- state files ----------------------------------------------------------------------------


def _registry_path(settings: EdgeSettings) -> Path:
    return apps_dir(settings) / "installed.json"


def _read_registry(settings: EdgeSettings) -> dict[str, InstalledApp]:
    path = _registry_path(settings)
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text())
    return {row["app_id"]: InstalledApp.from_dict(row) for row in rows}


def _write_registry(settings: EdgeSettings, apps: dict[str, InstalledApp]) -> None:
    path = _registry_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(".installed.json.tmp")
    rows = [apps[k].to_dict() for k in sorted(apps)]
    temporary.write_text(json.dumps(rows, indent=2))
    os.replace(temporary, path)


def _append_line(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row, sort_keys=True) + "\n")


def installed_apps(settings: EdgeSettings) -> list[InstalledApp]:
    """Return the apps installed on this edge, by app id (for the app runtime)."""
    apps = _read_registry(settings)
    return [apps[k] for k in sorted(apps)]


# --- talking to the hub -----------------------------------------------------------------


def _client(settings: EdgeSettings) -> httpx.Client:
    if not settings.hub.url or not settings.hub.site_token:
        raise AppInstallError("the edge is not enrolled with a hub (medcoop edge enroll)")
    return httpx.Client(
        base_url=settings.hub.url.rstrip("/"),
        headers={"Authorization": f"Bearer {settings.hub.site_token}"},
        timeout=settings.hub.timeout_s,
    )


def _report(settings: EdgeSettings, client: httpx.Client | None, row: dict[str, Any]) -> None:
    """Audit locally, then queue the report for the hub and send what is queued."""
    _append_line(apps_dir(settings) / "audit.jsonl", {"at": _now(), **row})
    _append_line(apps_dir(settings) / "reports.jsonl", row)
    if client is not None:
        _flush_reports(settings, client)


def _flush_reports(settings: EdgeSettings, client: httpx.Client) -> None:
    path = apps_dir(settings) / "reports.jsonl"
    if not path.is_file():
        return
    pending = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    left: list[dict[str, Any]] = []
    for row in pending:
        if left:
            left.append(row)  # keep the order: stop at the first failure
            continue
        try:
            response = client.post("/api/v1/store/installs/report", json=row)
        except httpx.HTTPError:
            left.append(row)
            continue
        if response.status_code >= 500 or response.status_code in (401, 429):
            left.append(row)
    temporary = path.with_name(".reports.jsonl.tmp")
    temporary.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in left))
    os.replace(temporary, path)


def _releases(client: httpx.Client, app_id: str) -> list[dict[str, Any]]:
    try:
        response = client.get("/api/v1/store/releases", params={"app_id": app_id})
    except httpx.HTTPError as exc:
        raise AppInstallError(f"cannot reach the hub: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise AppInstallError(f"the hub answered {response.status_code} for the releases")
    rows: list[dict[str, Any]] = response.json()
    return rows


def _pick(releases: list[dict[str, Any]], app_id: str, version: str | None) -> dict[str, Any]:
    if version is not None:
        for row in releases:
            if row["version"] == version:
                return row
        raise AppInstallError(f"{app_id} {version} is not published")
    if not releases:
        raise AppInstallError(f"{app_id} is not published on the hub's store")
    return max(releases, key=lambda row: _version_key(row["version"]))


def _authorize(client: httpx.Client, app_id: str, version: str | None) -> None:
    try:
        response = client.post(
            "/api/v1/store/installs/authorize", json={"app_id": app_id, "version": version}
        )
    except httpx.HTTPError as exc:
        raise AppInstallError(f"cannot reach the hub: {type(exc).__name__}") from exc
    if response.status_code == 403:
        raise AppNotEntitledError(str(response.json().get("detail", "not entitled")))
    if response.status_code != 200:
        raise AppInstallError(f"the hub answered {response.status_code} to the entitlement check")


def check_entitlement(settings: EdgeSettings, app_id: str) -> None:
    """Ask the hub whether this site may run ``app_id`` now (for the app runtime).

    Raises
    ------
    AppNotEntitledError
        No entitlement, or it expired or reached its cap.
    AppInstallError
        The edge is not enrolled, or the hub cannot be reached.
    """
    with _client(settings) as client:
        _authorize(client, app_id, None)


# --- the environment ----------------------------------------------------------------------


def _entry_point(wheel: Path, app_id: str, manifest: dict[str, Any]) -> str | None:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        if names:
            parser = configparser.ConfigParser(interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_file(io.StringIO(archive.read(names[0]).decode("utf-8")))
            if parser.has_section(ENTRY_POINT_GROUP):
                entries = dict(parser.items(ENTRY_POINT_GROUP))
                if entries:
                    return entries.get(app_id) or next(iter(entries.values()))
    value = manifest.get("entry_point")
    return str(value) if isinstance(value, str) else None


def _make_venv(venv: Path, wheel: Path) -> Path:
    """Create ``venv`` and install ``wheel`` into it (offline, no dependencies)."""
    run = {"check": True, "capture_output": True, "timeout": _PIP_TIMEOUT_S}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)  # type: ignore[call-overload]
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(  # type: ignore[call-overload]
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
            **run,
        ).stdout.strip()
    )
    # the edge's libraries (app SDK, pydicom) come after the app's own; addsitedir, not a
    # plain path line, so the edge's own .pth files (an editable medcoop) apply too
    edge_libs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in edge_libs)
    (purelib / "_medcoop_edge.pth").write_text(lines)
    subprocess.run(  # type: ignore[call-overload]
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            str(wheel),
        ],
        env={**os.environ, "PIP_NO_INPUT": "1", "PIP_CONFIG_FILE": os.devnull},
        **run,
    )
    return python


def _install_package(settings: EdgeSettings, package: VerifiedPackage) -> InstalledApp:
    home = apps_dir(settings) / package.app_id / package.version
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        entry = _entry_point(package.wheel_path, package.app_id, package.manifest.document)
        python = _make_venv(home / "venv", package.wheel_path)
    except (subprocess.SubprocessError, zipfile.BadZipFile, OSError) as exc:
        shutil.rmtree(home, ignore_errors=True)
        stderr = getattr(exc, "stderr", None)
        said = stderr.decode(errors="replace")[-300:] if isinstance(stderr, bytes) else ""
        raise AppInstallError(
            f"could not install {package.app_id} {package.version}: {type(exc).__name__} {said}"
        ) from exc
    finally:
        package.wheel_path.unlink(missing_ok=True)
    return InstalledApp(
        app_id=package.app_id,
        version=package.version,
        vendor=package.vendor,
        python=python,
        venv=home / "venv",
        entry_point=entry,
        wheel_sha256=package.wheel_sha256,
        installed_at=_now(),
        manifest=package.manifest.document,
    )


# --- the operations -------------------------------------------------------------------------


def _fetch_verified(
    settings: EdgeSettings, client: httpx.Client, release: dict[str, Any]
) -> VerifiedPackage:
    updater = AppUpdater(apps_dir(settings), str(settings.hub.url), client)
    try:
        return updater.fetch(
            app_id=release["app_id"],
            version=release["version"],
            wheel_target=release["wheel_target"],
        )
    except AppRefusedError as exc:
        _report(
            settings,
            client,
            {
                "app_id": release["app_id"],
                "version": release["version"],
                "action": "refused",
                "detail": f"{exc.code}: {exc.message}"[:1000],
            },
        )
        raise


def _deploy(
    settings: EdgeSettings, app_id: str, version: str | None, *, upgrade: bool
) -> InstalledApp | None:
    with _client(settings) as client:
        _flush_reports(settings, client)
        current = _read_registry(settings).get(app_id)
        if upgrade and current is None:
            raise NotInstalledError(f"{app_id} is not installed on this edge")
        release = _pick(_releases(client, app_id), app_id, version)
        not_newer = current is not None and (
            _version_key(release["version"]) <= _version_key(current.version)
        )
        if upgrade and not_newer:
            return None
        if not upgrade and current is not None and current.version == release["version"]:
            return current
        _authorize(client, app_id, release["version"])
        package = _fetch_verified(settings, client, release)
        installed = _install_package(settings, package)
        apps = _read_registry(settings)
        old = apps.get(app_id)
        apps[app_id] = installed
        _write_registry(settings, apps)
        if old is not None and old.version != installed.version:
            shutil.rmtree(old.venv.parent, ignore_errors=True)
        action = "upgraded" if old is not None else "installed"
        _report(
            settings, client, {"app_id": app_id, "version": installed.version, "action": action}
        )
        return installed


def install_app(settings: EdgeSettings, app_id: str, version: str | None = None) -> InstalledApp:
    """Install ``app_id`` (``version``, else the newest published) after the hub allows it.

    Raises
    ------
    AppRefusedError
        The package failed TUF verification (audited, reported to the hub; nothing
        installed).
    AppNotEntitledError
        The hub says the site holds no entitlement.
    AppInstallError
        Not enrolled, hub unreachable, no such release, or the install failed.
    """
    installed = _deploy(settings, app_id, version, upgrade=False)
    assert installed is not None
    return installed


def upgrade_app(settings: EdgeSettings, app_id: str) -> InstalledApp | None:
    """Upgrade ``app_id`` to the newest published version; ``None`` if already newest.

    The old version's environment is removed only once the new one is installed.
    """
    return _deploy(settings, app_id, None, upgrade=True)


def uninstall_app(settings: EdgeSettings, app_id: str) -> InstalledApp:
    """Remove ``app_id``'s environment and registry entry; report it to the hub."""
    apps = _read_registry(settings)
    app = apps.pop(app_id, None)
    if app is None:
        raise NotInstalledError(f"{app_id} is not installed on this edge")
    _write_registry(settings, apps)
    shutil.rmtree(app.venv.parent, ignore_errors=True)
    row = {"app_id": app_id, "version": app.version, "action": "uninstalled"}
    try:
        client = _client(settings)
    except AppInstallError:
        _report(settings, None, row)
        return app
    with client:
        _report(settings, client, row)
    return app


def check_updates(settings: EdgeSettings) -> list[UpdateCheck]:
    """Refresh TUF metadata and list each installed app with the newest published version.

    The benchmark's "update check when nothing changed" is this call.
    """
    apps = installed_apps(settings)
    with _client(settings) as client:
        AppUpdater(apps_dir(settings), str(settings.hub.url), client).refresh()
        checks = []
        for app in apps:
            releases = _releases(client, app.app_id)
            newest = _pick(releases, app.app_id, None)["version"] if releases else app.version
            checks.append(UpdateCheck(app.app_id, app.version, newest))
    return checks
