"""The edge node's configuration: one TOML file loaded into a frozen settings object.

``medcoop edge init`` writes a commented file (:func:`write_default_config`); every other
command loads it with :func:`load_settings`. Relative paths in the file are resolved against
the file's folder so that an edge's whole state can live beside its configuration.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medcoop.apps.settings import AppsSettings
from medcoop.edge.errors import ConfigError

__all__ = [
    "ANY_AE",
    "DEFAULT_CONFIG_TEXT",
    "DEFAULT_HOST",
    "DEFAULT_STOW_PORT",
    "DeidSettings",
    "DicomSettings",
    "EdgeSettings",
    "HubSettings",
    "StorageSettings",
    "StowSettings",
    "default_config_text",
    "load_settings",
    "write_default_config",
    "write_site_token",
]

AeTitle = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[ -~]*[!-~][ -~]*$")]
Port = Annotated[int, Field(ge=0, le=65535)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Loopback only: an edge reachable from the network is a choice made in its configuration.
DEFAULT_HOST = "127.0.0.1"
#: The STOW-RS default port (Orthanc, often on the same machine, has 8042).
DEFAULT_STOW_PORT = 8142
#: ``allowed_calling_aets`` entry that accepts any calling AE title (not the default).
ANY_AE = "*"


class DicomSettings(_Frozen):
    """The DIMSE receiver (C-ECHO, C-STORE, MPPS)."""

    enabled: bool = True
    ae_title: AeTitle = "MEDCOOP"
    host: str = DEFAULT_HOST
    port: Port = 11112
    #: Calling AE titles allowed to associate; ``["*"]`` accepts any caller, and an empty
    #: list none (the association is rejected: calling AE title not recognised).
    allowed_calling_aets: tuple[AeTitle, ...] = ()
    #: Reject associations addressed to another called AE title than ``ae_title``.
    require_called_aet: bool = True
    max_pdu_bytes: Annotated[int, Field(ge=0)] = 262_144
    network_timeout_s: Annotated[float, Field(gt=0)] = 60.0

    @property
    def any_caller(self) -> bool:
        """Whether every calling AE title is accepted (``allowed_calling_aets = ["*"]``)."""
        return ANY_AE in self.allowed_calling_aets


class StowSettings(_Frozen):
    """The DICOMweb STOW-RS receiver."""

    enabled: bool = True
    host: str = DEFAULT_HOST
    port: Port = DEFAULT_STOW_PORT
    #: Largest request body; enforced while the body streams in (chunked or not): the
    #: request is answered 413 as soon as it passes this, whatever it declared.
    max_body_bytes: Annotated[int, Field(gt=0)] = 512 * 1024 * 1024
    #: Request bodies beyond this many bytes are spooled to a file in the data folder.
    spool_memory_bytes: Annotated[int, Field(ge=0)] = 4 * 1024 * 1024
    #: Bearer token senders must present (``Authorization: Bearer …``); ``edge init``
    #: writes a random one. None with ``require_token`` on refuses every request.
    token: str | None = None
    #: Turn off only behind a proxy that authenticates senders itself.
    require_token: bool = True
    #: TLS: a PEM certificate chain and its key; both set serves HTTPS.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


class HubSettings(_Frozen):
    """Where records go, and how the uploader behaves."""

    url: str | None = None
    site_token: str | None = None
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 500
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    backoff_base_s: Annotated[float, Field(gt=0)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0)] = 300.0


class DeidSettings(_Frozen):
    """De-identification: the site key and the profile."""

    key_file: Path = Path("site.key")
    profile: str = "dose-monitoring"
    options: dict[str, Any] = Field(default_factory=dict)
    #: Terms known not to identify anyone that also appear among objects' identifying
    #: values (a department called "Mammography"): not looked for by the residual check.
    #: After adding one, ``medcoop edge quarantine retry --all`` releases what now passes.
    allow_terms: tuple[str, ...] = ()
    #: Issuer of Patient ID for objects without one (the RIS's, so reports and images agree).
    default_issuer: str = ""


class StorageSettings(_Frozen):
    """Where the edge keeps its state, and how much it keeps."""

    data_dir: Path = Path("edge-data")
    #: Keep a copy of every received object (off: the edge keeps only what it must).
    retain_received: bool = False
    retention_days: Annotated[int, Field(ge=1)] = 30
    #: Refuse new objects (DICOM 0xA700) when the data folder's free space drops below this.
    min_free_bytes: Annotated[int, Field(ge=0)] = 256 * 1024 * 1024


class EdgeSettings(_Frozen):
    """All of an edge node's settings (frozen: pass it in, never mutate it)."""

    name: str = "edge"
    #: IANA time zone of the site, for turning naive DICOM times into UTC-aware ``*_at``.
    site_timezone: str = "UTC"
    #: A study's record is sent this long after its last object, unless MPPS completed it
    #: first (see docs/edge.md, "When a study is sent").
    study_completion_timeout_s: Annotated[float, Field(ge=0)] = 300.0
    dicom: DicomSettings = DicomSettings()
    stow: StowSettings = StowSettings()
    hub: HubSettings = HubSettings()
    deid: DeidSettings = DeidSettings()
    storage: StorageSettings = StorageSettings()
    #: On-premise apps (medcoop.apps.settings): limits, routes, result destinations.
    apps: AppsSettings = AppsSettings()
    #: The configuration file this was loaded from (None when built in code).
    config_path: Path | None = None

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {name!r}") from exc
        return name

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.site_timezone)

    @property
    def db_path(self) -> Path:
        """The SQLite database holding outbox, study state, quarantine and consent."""
        return self.storage.data_dir / "edge.sqlite3"

    @property
    def quarantine_dir(self) -> Path:
        """Where quarantined objects are kept (files mode 0600)."""
        return self.storage.data_dir / "quarantine"

    @property
    def app_runs_dir(self) -> Path:
        """Where objects wait for app runs (``inbox/``), and runs keep their results
        (``results/``); files mode 0600. Installed apps live apart, in ``apps/``."""
        return self.storage.data_dir / "app-runs"

    @property
    def received_dir(self) -> Path:
        """Where received objects are kept when ``retain_received`` is on."""
        return self.storage.data_dir / "received"


DEFAULT_CONFIG_TEXT = """\
# medcoop edge node configuration.
# Relative paths are relative to this file's folder.

# A name for this edge (shown at the hub when enrolling).
name = "edge"
# IANA time zone of the site: naive DICOM dates and times are read in this zone.
site_timezone = "UTC"
# A study's record is sent this many seconds after its last object arrived; 2 s after
# the MPPS N-SET COMPLETED when the dose report is in, 30 s after it when not.
# `medcoop edge status` shows when each open study will be sent.
study_completion_timeout_s = 300

[dicom]
# DIMSE receiver: C-ECHO, C-STORE (all storage SOP classes) and MPPS (N-CREATE, N-SET).
enabled = true
# Senders must address this called AE title (require_called_aet).
ae_title = "MEDCOOP"
require_called_aet = true
# 127.0.0.1 accepts only this machine; "0.0.0.0" (or one address) to accept modalities.
host = "{host}"
port = 11112
# Calling AE titles allowed to send; others are rejected at association ("calling AE
# title not recognised"). Empty: no one. ["*"]: anyone (not advised).
allowed_calling_aets = [{aets}]

[stow]
# DICOMweb STOW-RS receiver: POST /studies (multipart/related; type="application/dicom").
enabled = true
host = "{host}"
port = {stow_port}
# Senders present this token: "Authorization: Bearer <token>".
token = "{token}"
require_token = true
# Largest request body in bytes (chunked uploads too; answered 413 beyond it).
max_body_bytes = 536870912
# Serve HTTPS with these PEM files (relative paths are relative to this file).
# tls_cert_file = "edge-cert.pem"
# tls_key_file = "edge-key.pem"

[hub]
# The hub's base URL and this site's token (`medcoop edge enroll CODE --hub URL` fills both).
# url = "https://hub.example.org"
# site_token = "mcs_..."
batch_size = 500
timeout_s = 30

[deid]
# The site's secret key (created 0600 on first use; it never leaves this machine).
key_file = "site.key"
profile = "dose-monitoring"
# Terms that are not a person's yet appear among objects' identifying values (for
# example a department called "Mammography"); then `medcoop edge quarantine retry --all`.
allow_terms = []
# Issuer of Patient ID assumed when an object has none (set it to your RIS's issuer, so a
# dose report without it and images with it give the patient one pseudonym).
# default_issuer = "RIS-A"

[storage]
# SQLite database (outbox, study state, consent), quarantine folder, retained objects.
data_dir = "edge-data"
# Keep a copy of every received object? Off: the edge keeps only what it must.
retain_received = false
retention_days = 30
# Refuse new objects (DICOM status 0xA700) when free space falls below this many bytes.
min_free_bytes = 268435456

# On-premise apps (docs/apps.md): off until enabled; no route, no run.
# [apps]
# enabled = true
# quiet_period_s = 120
# [[apps.routes]]
# name = "ct-clinical"
# clinical = true        # research-use-only apps are never on a clinical route
# modalities = ["CT"]
# destinations = ["pacs"]
# [[apps.destinations]]
# name = "pacs"
# host = "10.0.0.5"
# port = 104
# ae_title = "PACS"
"""


def default_config_text(
    *,
    host: str = DEFAULT_HOST,
    allowed_calling_aets: tuple[str, ...] = (),
    stow_token: str | None = None,
    stow_port: int = DEFAULT_STOW_PORT,
) -> str:
    """The commented configuration ``edge init`` writes (a new random STOW-RS token)."""
    return DEFAULT_CONFIG_TEXT.format(
        host=host,
        aets=", ".join(_toml_string(a) for a in allowed_calling_aets),
        token=stow_token or "mst_" + secrets.token_urlsafe(32),
        stow_port=stow_port,
    )


def write_default_config(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    host: str = DEFAULT_HOST,
    allowed_calling_aets: tuple[str, ...] = (),
) -> Path:
    """Write a commented default configuration file (mode 0600) and return its path.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write it.
    overwrite : bool
        Replace an existing file; otherwise an existing file raises :class:`ConfigError`.
    host : str
        The receivers' listening address (loopback unless told otherwise).
    allowed_calling_aets : tuple of str
        The modalities' and PACS's AE titles allowed to send.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(str(target), "already exists (not overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = default_config_text(host=host, allowed_calling_aets=allowed_calling_aets)
    _write_private(target, text)
    return target


def load_settings(path: str | os.PathLike[str]) -> EdgeSettings:
    """Load and validate the edge's TOML configuration file.

    Parameters
    ----------
    path : str or os.PathLike
        The configuration file.

    Returns
    -------
    EdgeSettings
        Frozen settings with relative paths resolved against the file's folder.

    Raises
    ------
    ConfigError
        The file is missing, is not TOML, or holds invalid settings.
    """
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text())
    except FileNotFoundError as exc:
        hint = "no such file (create one with `medcoop edge init`)"
        raise ConfigError(str(source), hint) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(source), f"cannot be read as TOML: {exc}") from exc
    base = source.resolve().parent
    try:
        settings = EdgeSettings.model_validate({**raw, "config_path": source.resolve()})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(str(source), problems) from exc
    return _resolve_paths(settings, base)


def _resolve_paths(settings: EdgeSettings, base: Path) -> EdgeSettings:
    def resolve(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    deid = settings.deid.model_copy(update={"key_file": resolve(settings.deid.key_file)})
    storage = settings.storage.model_copy(update={"data_dir": resolve(settings.storage.data_dir)})
    stow = settings.stow.model_copy(
        update={
            name: resolve(getattr(settings.stow, name))
            for name in ("tls_cert_file", "tls_key_file")
            if getattr(settings.stow, name) is not None
        }
    )
    apps = settings.apps.model_copy(update={"installed": tuple(
        i.model_copy(update={
            "manifest": resolve(i.manifest),
            "python": resolve(i.python) if i.python is not None else None,
            "app_paths": tuple(resolve(p) for p in i.app_paths),
        }) for i in settings.apps.installed)})
    return settings.model_copy(
        update={"deid": deid, "storage": storage, "stow": stow, "apps": apps}
    )


_TOKEN_LINE = re.compile(r"^\s*#?\s*site_token\s*=.*$", re.MULTILINE)
_URL_LINE = re.compile(r"^\s*#?\s*url\s*=.*$", re.MULTILINE)


def write_site_token(path: str | os.PathLike[str], *, hub_url: str, site_token: str) -> None:
    """Store the hub URL and site token in the ``[hub]`` table of the config file (mode 0600).

    Comments and other settings are kept; the file is replaced atomically.
    """
    target = Path(path)
    text = target.read_text() if target.exists() else default_config_text()
    url_line = f"url = {_toml_string(hub_url)}"
    token_line = f"site_token = {_toml_string(site_token)}"
    if "[hub]" not in text:
        text = text.rstrip("\n") + "\n\n[hub]\n"
    head, _, tail = text.partition("[hub]")
    section, sep, rest = tail.partition("\n[")
    section = _replace_or_add(section, _URL_LINE, url_line)
    section = _replace_or_add(section, _TOKEN_LINE, token_line)
    new_text = head + "[hub]" + section + (sep + rest if sep else "")
    tomllib.loads(new_text)  # never write a file we could not read back
    _write_private(target, new_text)


def _replace_or_add(section: str, pattern: re.Pattern[str], line: str) -> str:
    if pattern.search(section):
        return pattern.sub(line, section, count=1)
    return section.rstrip("\n") + "\n" + line + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_private(target: Path, text: str) -> None:
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
