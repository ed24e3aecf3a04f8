"""Hub configuration: one frozen settings object, passed in, never read from globals.

A hub worker process started by uvicorn (``--workers N``) cannot receive Python objects,
so :func:`settings_from_env` / :meth:`HubSettings.to_env` carry the settings through the
``MEDCOOP_HUB_SETTINGS`` environment variable as JSON.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SETTINGS_ENV",
    "HubSettings",
    "default_database_url",
    "medcoop_home",
    "normalise_database_url",
    "settings_from_env",
]

SETTINGS_ENV = "MEDCOOP_HUB_SETTINGS"
_MIB = 1024 * 1024


def medcoop_home() -> Path:
    """Return the data folder: ``$MEDCOOP_HOME``, else ``~/.local/share/medcoop``."""
    home = os.environ.get("MEDCOOP_HOME")
    if home:
        return Path(home).expanduser()
    return Path.home() / ".local" / "share" / "medcoop"


def default_database_url() -> str:
    """Return the embedded default database: SQLite at ``$MEDCOOP_HOME/hub/hub.db``."""
    return f"sqlite:///{medcoop_home() / 'hub' / 'hub.db'}"


def normalise_database_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named for PostgreSQL URLs.

    ``postgresql://`` and ``postgres://`` would otherwise pick psycopg2, which we do not ship.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class HubSettings(BaseModel):
    """Everything a hub instance needs to know; immutable once built.

    Parameters
    ----------
    database_url
        SQLAlchemy URL; ``None`` means the embedded SQLite default.
    migrate_on_start
        Run Alembic migrations when the app is created (``medcoop hub serve`` migrates once
        in the parent process and turns this off for its workers).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = None
    migrate_on_start: bool = True
    max_body_bytes: int = Field(default=16 * _MIB, gt=0)
    max_records_per_batch: int = Field(default=5000, gt=0)
    #: Ingest token bucket per site: sustained requests/s and burst size.
    ingest_rate_per_s: float = Field(default=50.0, gt=0)
    ingest_burst: int = Field(default=200, gt=0)
    #: Login token bucket per (client address, e-mail): attempts per minute and burst.
    login_rate_per_min: float = Field(default=10.0, gt=0)
    login_burst: int = Field(default=10, gt=0)
    session_ttl_s: int = Field(default=12 * 3600, gt=0)
    personal_token_ttl_s: int = Field(default=90 * 86400, gt=0)
    site_token_ttl_s: int = Field(default=365 * 86400, gt=0)
    enrollment_code_ttl_s: int = Field(default=7 * 86400, gt=0)
    invitation_ttl_s: int = Field(default=7 * 86400, gt=0)
    #: Mark cookies Secure (turn on behind TLS; off for the local demo over http).
    cookie_secure: bool = False
    #: Origins allowed on unsafe cookie-authenticated requests besides the hub's own.
    trusted_origins: tuple[str, ...] = ()
    #: SQLAlchemy pool size per worker (PostgreSQL only).
    pool_size: int = Field(default=5, gt=0)
    #: Run the background jobs (``hub/worker.py``: notifier, compaction) inside each web
    #: worker's process, as the embedded demo does; off, ``medcoop hub worker`` runs them.
    worker_in_process: bool = True
    #: Deliver alert notices (``hub/services/analytics/notifier.py``) in the worker; off,
    #: notices wait in the database for a worker that has it.
    notifier_enabled: bool = True
    #: Seconds between the notifier's polls when no commit wakes it.
    notifier_interval_s: float = Field(default=5.0, gt=0)
    #: Seconds between background compactions of stale pooled blocks (0: queries only).
    compaction_interval_s: float = Field(default=60.0, ge=0)
    #: Redis URL for rate limits shared by every hub instance (``redis://host:6379/0``);
    #: unset, each process keeps its own buckets.
    rate_limit_redis_url: str | None = None
    #: The ledger's origin line (C2SP tlog-checkpoint) and the name of its signing key.
    ledger_origin: str = "medcoop.local/ledger"
    #: The log's private key file; ``None`` means ``$MEDCOOP_HOME/hub/ledger.key``.
    ledger_key_path: str | None = None
    #: Witnesses whose cosignatures the hub collects: C2SP verifier keys (type 0x04).
    ledger_witnesses: tuple[str, ...] = ()
    #: Most entries one sequencing transaction takes from the queue.
    ledger_batch_max: int = Field(default=20_000, gt=0)
    #: Write every audited read of pooled data to the ledger as an access entry.
    ledger_access_log: bool = True
    #: Seconds a read's access entry waits to be written in one batch with others.
    ledger_access_flush_s: float = Field(default=0.2, gt=0)
    #: The store's TUF repository folder; ``None`` means ``$MEDCOOP_HOME/hub/tuf``.
    store_tuf_dir: str | None = None
    #: Seconds between the worker's checks that snapshot and timestamp are fresh (0: off).
    store_tuf_refresh_interval_s: float = Field(default=600.0, ge=0)

    @property
    def resolved_ledger_key_path(self) -> Path:
        """Where the log's signing key lives."""
        if self.ledger_key_path:
            return Path(self.ledger_key_path)
        return medcoop_home() / "hub" / "ledger.key"

    @property
    def resolved_store_tuf_dir(self) -> Path:
        """Where the store's TUF repository lives."""
        if self.store_tuf_dir:
            return Path(self.store_tuf_dir)
        return medcoop_home() / "hub" / "tuf"

    @property
    def resolved_database_url(self) -> str:
        """The database URL to connect to, defaults applied and driver normalised."""
        return normalise_database_url(self.database_url or default_database_url())

    def to_env(self) -> dict[str, str]:
        """Return the environment entries that make :func:`settings_from_env` rebuild us."""
        return {SETTINGS_ENV: self.model_dump_json()}


def settings_from_env() -> HubSettings:
    """Return the settings in ``$MEDCOOP_HUB_SETTINGS`` (JSON), or the defaults."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        return HubSettings()
    return HubSettings.model_validate_json(raw)
