"""Real DICOM peers for the export tests: a pynetdicom storage SCP and an Orthanc server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"


class StorageScp:
    """A pynetdicom C-STORE SCP keeping every dataset it receives."""

    def __init__(self, ae_title: str = "PACS") -> None:
        self.received: list[Dataset] = []
        ae = AE(ae_title=ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        self._server = ae.start_server(("127.0.0.1", 0), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port = int(self._server.server_address[1])

    def _on_store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        self.received.append(ds)
        return 0x0000

    def wait_for(self, count: int, timeout_s: float = 90.0) -> list[Dataset]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Orthanc:
    """Debian's Orthanc on free DICOM and HTTP ports, with its own storage folder."""

    def __init__(self, folder: Path, ae_title: str = "ORTHANC") -> None:
        self.folder = folder
        self.ae_title = ae_title
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "orthanc.json"
        self.config.write_text(json.dumps({
            "Name": "medcoop-test", "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"), "DicomAet": ae_title,
            "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False, "UnknownSopClassAccepted": True,
            "Plugins": [], "HttpServerEnabled": True, "DicomServerEnabled": True,
            "StableAge": 1,
        }))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        log = open(self.folder / "orthanc.log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen([ORTHANC, str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/system", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("Orthanc did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def study_series(self, study_uid: str) -> list[dict[str, Any]]:
        """The series Orthanc holds in the study with this Study Instance UID."""
        found = httpx.post(self.url + "/tools/find", json={
            "Level": "Study", "Query": {"StudyInstanceUID": study_uid}}, timeout=10).json()
        series: list[dict[str, Any]] = []
        for study_id in found:
            series += httpx.get(f"{self.url}/studies/{study_id}/series", timeout=10).json()
        return series
