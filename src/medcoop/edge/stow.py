"""The DICOMweb STOW-RS receiver: ``POST /studies`` (and ``/studies/{study}``), PS3.18 10.5.

A small Starlette app served by uvicorn inside the edge process. The request body is
``multipart/related; type="application/dicom"``; each part goes through the same pipeline
as a C-STORE. The answer is ``application/dicom+json`` with a ReferencedSOPSequence for
stored instances and a FailedSOPSequence (with a FailureReason) for the others:
200 when all were stored, 202 when some failed, 409 when none could be, 503 with
Retry-After when the edge's storage is full.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import threading
from typing import Any

import pydicom
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medcoop.edge.config import StowSettings
from medcoop.edge.pipeline import Outcome, Pipeline
from medcoop.edge.web import status_route

__all__ = ["StowServer", "create_stow_app", "split_multipart"]

log = logging.getLogger("medcoop.edge.stow")

DICOM_JSON = "application/dicom+json"
_FAILURE_PROCESSING = 0x0110  # PS3.18 Table 10.5.3-1: processing failure
_FAILURE_OUT_OF_RESOURCES = 0xA700


class MultipartError(ValueError):
    """The request body is not a well-formed multipart/related message."""


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """Return the bodies of the parts of a ``multipart/related`` message.

    Parameters
    ----------
    body : bytes
        The request body.
    content_type : str
        The request's Content-Type (must carry ``boundary=``).
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type, flags=re.IGNORECASE)
    if not content_type.lower().startswith("multipart/related") or match is None:
        raise MultipartError("expected multipart/related with a boundary")
    delimiter = b"--" + match.group(1).strip().encode()
    parts: list[bytes] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the close delimiter
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a part has no header/body separator")
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        if b"application/dicom" not in head.lower() and head.strip():
            raise MultipartError("a part is not application/dicom")
        parts.append(payload)
    if not parts:
        raise MultipartError("no parts in the message")
    return parts


def create_stow_app(pipeline: Pipeline, settings: StowSettings) -> Starlette:
    """Return the STOW-RS application bound to ``pipeline``."""

    async def store(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > settings.max_body_bytes:
            return JSONResponse({"detail": "body too large"}, status_code=413)
        body = await request.body()
        try:
            parts = split_multipart(body, request.headers.get("content-type", ""))
        except MultipartError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=415)
        results = [await run_in_threadpool(_store_part, pipeline, part) for part in parts]
        return _stow_response(results, str(request.base_url))

    return Starlette(
        routes=[
            Route("/studies", store, methods=["POST"]),
            Route("/studies/{study}", store, methods=["POST"]),
            status_route(pipeline),  # the local status page (medcoop.edge.web)
        ]
    )


def _store_part(pipeline: Pipeline, part: bytes) -> tuple[Outcome, str | None, str | None]:
    outcome = pipeline.process_bytes(part, "stow")
    sop_class, sop_uid = _sop_ids(part)
    return outcome, sop_class, sop_uid


def _sop_ids(part: bytes) -> tuple[str | None, str | None]:
    try:
        ds = pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True, force=True)
        return str(ds.SOPClassUID), str(ds.SOPInstanceUID)
    except Exception:  # a malformed part has no identity we can report
        return None, None


def _stow_response(
    results: list[tuple[Outcome, str | None, str | None]], base_url: str
) -> Response:
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for outcome, sop_class, sop_uid in results:
        item: dict[str, Any] = {}
        if sop_class:
            item["00081150"] = {"vr": "UI", "Value": [sop_class]}
        if sop_uid:
            item["00081155"] = {"vr": "UI", "Value": [sop_uid]}
        if outcome.accepted:
            referenced.append(item)
        else:
            failed.append({**item, "00081197": {"vr": "US", "Value": [_FAILURE_OUT_OF_RESOURCES]}})
    body: dict[str, Any] = {"00081190": {"vr": "UR", "Value": [base_url.rstrip("/") + "/studies"]}}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if not failed:
        status = 200
    elif referenced:
        status = 202
    else:
        status = 409
    headers = {"Retry-After": "30"} if failed else None
    return JSONResponse(body, status_code=status, media_type=DICOM_JSON, headers=headers)


class StowServer:
    """Runs the STOW-RS app with uvicorn in a background thread."""

    def __init__(self, pipeline: Pipeline, settings: StowSettings) -> None:
        self.settings = settings
        self.app = create_stow_app(pipeline, settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        if self._socket is None:
            raise RuntimeError("the STOW-RS receiver is not running")
        return int(self._socket.getsockname()[1])

    def start(self) -> int:
        """Bind, start serving in a thread and return the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self._socket = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])),  # type: ignore[union-attr]
            name="medcoop-stow",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        log.info("STOW-RS receiver listening", extra={"port": self.port})
        return self.port

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop accepting requests and let those in flight finish."""
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        if self._socket is not None:
            self._socket.close()
        self._server = None
