"""Results back to the hospital: C-STORE to a PACS, or STOW-RS, with per-destination retries.

Each app result waiting to go out is a row of ``app_exports`` (one per object and
destination), written in the transaction that records the run. One sender thread per
configured destination takes that destination's due rows: a PACS that is down (or slow
to time out) delays only its own exports, never another destination's and never the
edge's reception or runs. A failure is recorded with its reason and retried with
exponential backoff (``export_backoff_base_s`` doubling up to ``export_backoff_max_s``),
for as long as it takes: nothing is dropped. Once every export of a run is sent, the
run's DICOM files are deleted (they hold the patient's identity).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medcoop.apps.settings import Destination

if TYPE_CHECKING:
    from medcoop.edge.config import EdgeSettings
    from medcoop.edge.store import EdgeStore

__all__ = ["ExportError", "Exporter", "send_c_store", "send_stow"]

log = logging.getLogger("medcoop.apps.export")

_BATCH = 50
_POLL_S = 0.5


class ExportError(Exception):
    """A destination refused or could not be reached (the reason is stored, no identifiers)."""


class Exporter:
    """One sender thread per destination."""

    def __init__(self, settings: EdgeSettings, store: EdgeStore) -> None:
        self.config = settings.apps
        self.store = store
        self._stop = threading.Event()
        self._wakes = {d.name: threading.Event() for d in self.config.destinations}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start a sender per destination."""
        for destination in self.config.destinations:
            thread = threading.Thread(target=self._loop, args=(destination,), daemon=True,
                                      name=f"medcoop-export-{destination.name}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the senders (unsent exports stay queued)."""
        self._stop.set()
        for wake in self._wakes.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)

    def wake(self) -> None:
        """New results are queued: look now."""
        for wake in self._wakes.values():
            wake.set()

    def _loop(self, destination: Destination) -> None:
        wake = self._wakes[destination.name]
        while not self._stop.is_set():
            try:
                sent = self.send_due(destination)
            except Exception:  # a sender outlives any one bad export; it is logged
                log.exception("export step failed", extra={"destination": destination.name})
                sent = 0
            if not sent:
                wake.wait(_POLL_S)
                wake.clear()

    def send_due(self, destination: Destination, now: float | None = None) -> int:
        """Send this destination's due exports; return how many were sent."""
        from medcoop.edge.store import now_s

        now = now_s() if now is None else now
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, run_id, path, attempts FROM app_exports WHERE destination = ? "
                "AND sent_at IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                (destination.name, now, _BATCH),
            ).fetchall()
        if not rows:
            return 0
        paths = [Path(r[2]) for r in rows]
        try:
            if destination.kind == "stow":
                send_stow(destination, paths)
            else:
                send_c_store(destination, paths)
        except ExportError as exc:
            self._failed(rows, str(exc))
            return 0
        except Exception as exc:  # a library's failure is this try's failure, retried
            self._failed(rows, f"{type(exc).__name__}")
            return 0
        self._sent(rows)
        return len(rows)

    def _sent(self, rows: Sequence[tuple[int, int, str, int]]) -> None:
        from medcoop.edge.store import now_s

        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE app_exports SET sent_at = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE id = ?", [(now_s(), r[0]) for r in rows])
            done_runs = [
                run_id for run_id in {r[1] for r in rows}
                if not conn.execute("SELECT 1 FROM app_exports WHERE run_id = ? AND sent_at "
                                    "IS NULL LIMIT 1", (run_id,)).fetchone()
            ]
            paths = [Path(p) for run_id in done_runs for (p,) in conn.execute(
                "SELECT DISTINCT path FROM app_exports WHERE run_id = ?", (run_id,))]
        for path in paths:  # every destination has it: the identified copy can go
            with contextlib.suppress(OSError):
                path.unlink()

    def _failed(self, rows: Sequence[tuple[int, int, str, int]], reason: str) -> None:
        from medcoop.edge.store import now_s

        base, cap = self.config.export_backoff_base_s, self.config.export_backoff_max_s
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE app_exports SET attempts = attempts + 1, last_error = ?, next_at = ? "
                "WHERE id = ?",
                [(reason[:200], now_s() + min(cap, base * 2 ** min(r[3], 20)), r[0])
                 for r in rows],
            )
        log.warning("export failed, will retry", extra={"reason": reason[:200]})


def send_c_store(destination: Destination, paths: Sequence[Path]) -> None:
    """Send files to a DICOM peer in one association (C-STORE).

    Raises
    ------
    ExportError
        The association is refused or fails, or an object's status is a failure.
    """
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(p) for p in paths]
    ae = AE(ae_title=destination.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = destination.timeout_s
    for sop_class, syntax in sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                                     for ds in datasets}):
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise ExportError(f"association with {destination.name} not established")
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = int(status.Status) if "Status" in status else None
            if code is None:
                raise ExportError(f"{destination.name} did not answer a C-STORE")
            if code != 0 and not 0xB000 <= code <= 0xBFFF:  # warnings are stored
                raise ExportError(f"{destination.name} answered C-STORE status 0x{code:04X}")
    finally:
        if assoc.is_established:
            assoc.release()


def send_stow(destination: Destination, paths: Sequence[Path]) -> None:
    """POST files to a STOW-RS service (``<url>/studies``, multipart/related).

    Raises
    ------
    ExportError
        No URL, a transport error, or an answer other than 200/202.
    """
    import secrets

    import httpx

    if not destination.url:
        raise ExportError(f"{destination.name} has no url")
    boundary = "medcoop-" + secrets.token_hex(12)
    parts = []
    for path in paths:
        parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                     + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
               "Accept": "application/dicom+json"}
    if destination.token:
        headers["Authorization"] = f"Bearer {destination.token}"
    try:
        answer = httpx.post(destination.url.rstrip("/") + "/studies", content=body,
                            headers=headers, timeout=destination.timeout_s)
    except httpx.HTTPError as exc:
        raise ExportError(f"{destination.name}: {type(exc).__name__}") from exc
    if answer.status_code not in (200, 202):
        raise ExportError(f"{destination.name} answered HTTP {answer.status_code}")
