"""The edge node: receivers, pipeline, study closer and uploader wired together.

``EdgeNode(settings).start()`` runs everything in threads of the calling process (the demo
and tests run one or two edges in-process); ``stop()`` shuts down in order: stop accepting,
let in-flight objects finish, queue what is due, flush the uploader, close the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from medcoop.apps.edge import EdgeApps, start_edge_apps
from medcoop.deid.pseudonym import load_or_create_key
from medcoop.edge.config import EdgeSettings
from medcoop.edge.dimse import DicomReceiver
from medcoop.edge.pipeline import Pipeline
from medcoop.edge.status import EdgeStatus, hub_report, read_status
from medcoop.edge.store import EdgeStore
from medcoop.edge.stow import StowServer
from medcoop.edge.uploader import Uploader

__all__ = ["EdgeNode", "open_pipeline"]

log = logging.getLogger("medcoop.edge.node")

_CLOSER_INTERVAL_S = 0.5
_PRUNE_INTERVAL_S = 3600.0


def open_pipeline(
    settings: EdgeSettings, *, on_queued: Callable[[], None] | None = None
) -> tuple[EdgeStore, Pipeline]:
    """Open the edge's database and key and return them with a pipeline (for CLI commands)."""
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = EdgeStore(settings.db_path)
    key = load_or_create_key(settings.deid.key_file, default_issuer=settings.deid.default_issuer)
    return store, Pipeline(settings, store, key, on_queued=on_queued)


class EdgeNode:
    """One edge node running in threads of this process.

    Parameters
    ----------
    settings : EdgeSettings
        Frozen settings (ports 0 pick free ports; read them from :attr:`dicom_port` and
        :attr:`stow_port` after :meth:`start`).
    """

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.store: EdgeStore | None = None
        self.pipeline: Pipeline | None = None
        self.dicom: DicomReceiver | None = None
        self.stow: StowServer | None = None
        self.uploader: Uploader | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closer: threading.Thread | None = None
        self.apps: EdgeApps | None = None

    @property
    def dicom_port(self) -> int:
        """The DICOM receiver's port."""
        assert self.dicom is not None, "DICOM receiver not running"
        return self.dicom.port

    @property
    def stow_port(self) -> int:
        """The STOW-RS receiver's port."""
        assert self.stow is not None, "STOW-RS receiver not running"
        return self.stow.port

    def start(self) -> None:
        """Open storage and start the uploader, the study closer and the receivers."""
        self.store, self.pipeline = open_pipeline(self.settings, on_queued=self._wake.set)
        pipeline = self.pipeline
        self.uploader = Uploader(
            pipeline.outbox,
            self.settings.hub,
            wake=self._wake,
            status_report=lambda: hub_report(pipeline),
        )
        self.uploader.start()
        self._closer = threading.Thread(target=self._close_studies, name="medcoop-closer")
        self._closer.daemon = True
        self._closer.start()
        self.apps = start_edge_apps(self.settings, self.store, pipeline)  # None when off
        if self.settings.dicom.enabled:
            self.dicom = DicomReceiver(self.settings.dicom, self.pipeline)
            self.dicom.start()
        if self.settings.stow.enabled:
            self.stow = StowServer(self.pipeline, self.settings.stow)
            self.stow.start()
        log.info("edge started", extra={"edge": self.settings.name})

    def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        """Stop accepting, finish in-flight objects, queue what is due and flush."""
        if self.dicom is not None:
            self.dicom.stop()
        if self.stow is not None:
            self.stow.stop()
        self._stop.set()
        if self._closer is not None:
            self._closer.join(timeout=10.0)
        if self.pipeline is not None:
            self.pipeline.emit_due()
        if self.apps is not None:
            self.apps.stop()
        if self.uploader is not None:
            self.uploader.stop(flush_timeout_s=flush_timeout_s)
        stats = {}
        if self.store is not None:
            self.store.close()
            stats = {
                "group_commits": self.store.group_commits,
                "grouped_works": self.store.grouped_works,
            }
        log.info("edge stopped", extra={"edge": self.settings.name, **stats})

    def status(self) -> EdgeStatus:
        """Return the counters, backlog and upload state."""
        assert self.pipeline is not None, "edge not started"
        return read_status(self.pipeline)

    def flush_due(self) -> int:
        """Queue every study due now (complete or idle); return how many were queued."""
        assert self.pipeline is not None, "edge not started"
        return self.pipeline.emit_due()

    def _close_studies(self) -> None:
        last_prune = 0.0
        while not self._stop.wait(_CLOSER_INTERVAL_S):
            try:
                assert self.pipeline is not None
                if self.pipeline.emit_due():
                    self._wake.set()
                if time.monotonic() - last_prune > _PRUNE_INTERVAL_S:
                    self.pipeline.prune()
                    last_prune = time.monotonic()
            except Exception:  # the closer must outlive a bad study; it is logged and retried
                log.exception("study closer failed")


def default_config_path() -> Path:
    """The configuration file used when ``--config`` is not given."""
    return Path("medcoop-edge.toml")
