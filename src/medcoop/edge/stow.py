"""The DICOMweb STOW-RS receiver: ``POST /studies`` (and ``/studies/{study}``), PS3.18 10.5.

A small Starlette app served by uvicorn inside the edge process. The request body is
``multipart/related; type="application/dicom"``; each part goes through the same pipeline
as a C-STORE. The answer is ``application/dicom+json``: a ReferencedSOPSequence item for
each instance the edge holds (stored, or kept in quarantine for the edge to resolve) and a
FailedSOPSequence item with a FailureReason (0008,1197) for each it does not: 0xA700 out
of resources (storage full; Retry-After), 0xC000 cannot understand (not DICOM), 0xA900
data set does not match its SOP class (unreadable, truncated, a dose report without dose,
or not of the study in the URL). 200 when all were stored, 202 when some failed, 409 when
none could be (PS3.18 Table 10.5.3-1).

Senders authenticate with a bearer token (``[stow] token``; 401 otherwise). The body is
read as it streams, chunked or not: it is answered 413 as soon as it passes
``max_body_bytes`` whatever ``Content-Length`` said, and spooled to a file in the data
folder beyond ``spool_memory_bytes``; parts are then read from the file one at a time, so
memory stays flat whatever the size of the upload.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from medcoop.edge.config import StowSettings
from medcoop.edge.consent_web import consent_routes
from medcoop.edge.pipeline import Outcome, OutcomeStatus, Pipeline
from medcoop.edge.quarantine import QuarantineReason
from medcoop.edge.web import status_route

__all__ = ["MultipartError", "StowServer", "create_stow_app", "iter_parts", "split_multipart"]

log = logging.getLogger("medcoop.edge.stow")

DICOM_JSON = "application/dicom+json"
FAILURE_OUT_OF_RESOURCES = 0xA700
FAILURE_DATASET_MISMATCH = 0xA900
#: After the limit is passed, read (and drop) at most this much more so that the client,
#: which is still sending, reads our 413 instead of a reset connection.
_DRAIN_BYTES = 16 * 1024 * 1024


class MultipartError(ValueError):
    """The request body is not a well-formed multipart/related message."""


class _TooLarge(Exception):
    pass


def iter_parts(body: BinaryIO, content_type: str) -> Iterator[bytes]:
    """Yield the payload of each part of a ``multipart/related`` body, one at a time.

    Parameters
    ----------
    body : binary file
        The request body (the spooled file): delimiters are found reading it in blocks,
        so only one block and one part are in memory at a time.
    content_type : str
        The request's Content-Type (must carry ``boundary=``).
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type, flags=re.IGNORECASE)
    if not content_type.lower().startswith("multipart/related") or match is None:
        raise MultipartError("expected multipart/related with a boundary")
    delimiter = b"--" + match.group(1).strip().encode()
    starts = _delimiters(body, delimiter)
    if not starts:
        raise MultipartError("no parts in the message")
    count = 0
    for here, following in zip(starts, [*starts[1:], None], strict=True):
        body.seek(here + len(delimiter))
        if body.read(2) == b"--":
            break  # the close delimiter
        if following is None:
            raise MultipartError("a part is not closed by a delimiter")
        body.seek(here + len(delimiter))
        part = body.read(following - 2 - here - len(delimiter))  # up to the CRLF before it
        head, separator, payload = part.partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("a part has no header/body separator")
        if head.strip() and b"application/dicom" not in head.lower():
            raise MultipartError("a part is not application/dicom")
        count += 1
        yield payload
    if not count:
        raise MultipartError("no parts in the message")


def _delimiters(body: BinaryIO, delimiter: bytes) -> list[int]:
    """Offsets of every delimiter line (at the start, or after CRLF) in ``body``."""
    found: list[int] = []
    block = 1 << 20
    keep = len(delimiter) + 1  # overlap, so a delimiter across blocks is found once
    offset, tail = 0, b""
    body.seek(0)
    while chunk := body.read(block):
        data = tail + chunk
        base = offset - len(tail)
        at = data.find(delimiter)
        while at >= 0:
            position = base + at
            preceded = data[at - 2 : at] == b"\r\n" if at >= 2 else position == 0
            if preceded and (not found or found[-1] != position):
                found.append(position)
            at = data.find(delimiter, at + 1)
        offset += len(chunk)
        tail = data[-keep:]
    return found


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """Return the bodies of the parts of a ``multipart/related`` message."""
    return list(iter_parts(io.BytesIO(body), content_type))


def create_stow_app(pipeline: Pipeline, settings: StowSettings) -> Starlette:
    """Return the STOW-RS application bound to ``pipeline``."""
    spool_dir = pipeline.settings.storage.data_dir / "spool"
    spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.require_token and not settings.token:
        log.warning("STOW-RS has no token configured: every request will be refused (401)")

    async def store(request: Request) -> Response:
        if not bearer_authorised(request, settings):
            return JSONResponse(
                {"detail": "a valid bearer token is required ([stow] token)"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="medcoop-edge"'},
            )
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/related"):
            return JSONResponse({"detail": "expected multipart/related"}, status_code=415)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _too_large(settings)
        with tempfile.SpooledTemporaryFile(  # type: ignore[call-overload]
            max_size=settings.spool_memory_bytes, dir=spool_dir, prefix="stow-"
        ) as spool:
            try:
                await _receive(request, spool, settings.max_body_bytes)
            except _TooLarge:
                return _too_large(settings)
            except ClientDisconnect:
                return Response(status_code=400)
            study = request.path_params.get("study")
            try:
                results = await run_in_threadpool(
                    _store_parts, pipeline, spool, content_type, study, _client(request)
                )
            except MultipartError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)
        return _stow_response(results, str(request.base_url))

    return Starlette(
        routes=[
            Route("/studies", store, methods=["POST"]),
            Route("/studies/{study}", store, methods=["POST"]),
            status_route(pipeline),  # the local status page (medcoop.edge.web)
            *consent_routes(pipeline, settings),  # decisions from the hospital's systems
        ]
    )


def bearer_authorised(request: Request, settings: StowSettings) -> bool:
    """Whether ``request`` carries the edge's bearer token (STOW-RS, consent)."""
    if not settings.require_token:
        return True
    if not settings.token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), settings.token.encode()
    )


def _too_large(settings: StowSettings) -> Response:
    detail = f"request body exceeds {settings.max_body_bytes} bytes ([stow] max_body_bytes)"
    return JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})


async def _receive(request: Request, spool: IO[bytes], limit: int) -> None:
    size = 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            drained = 0
            async for rest in stream:  # let the sender finish a little, then stop reading
                drained += len(rest)
                if drained > _DRAIN_BYTES:
                    break
            raise _TooLarge
        spool.write(chunk)


def _store_parts(
    pipeline: Pipeline, spool: BinaryIO, content_type: str, study: str | None, client: str
) -> list[Outcome]:
    spool.flush()
    if spool.seek(0, 2) == 0:
        raise MultipartError("empty body")
    for _ in iter_parts(spool, content_type):
        pass  # check the whole message first: a malformed one stores nothing
    return [
        pipeline.process_bytes(part, "stow", sender=client, expect_study_uid=study)
        for part in iter_parts(spool, content_type)
    ]


def _client(request: Request) -> str:
    return f"stow:{request.client.host}" if request.client else "stow"


def _failure_reason(outcome: Outcome) -> int:
    if outcome.status is OutcomeStatus.REFUSED:
        return FAILURE_OUT_OF_RESOURCES
    if outcome.status is OutcomeStatus.REJECTED:
        return FAILURE_DATASET_MISMATCH
    return (outcome.code or QuarantineReason.MALFORMED).failure_status


def _stow_response(results: list[Outcome], base_url: str) -> Response:
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for outcome in results:
        item: dict[str, Any] = {}
        if outcome.sop_class_uid:
            item["00081150"] = {"vr": "UI", "Value": [outcome.sop_class_uid]}
        if outcome.sop_instance_uid:
            item["00081155"] = {"vr": "UI", "Value": [outcome.sop_instance_uid]}
        if outcome.failed:
            failed.append({**item, "00081197": {"vr": "US", "Value": [_failure_reason(outcome)]}})
        else:
            referenced.append(item)
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
    retry = any(o.status is OutcomeStatus.REFUSED for o in results)
    headers = {"Retry-After": "30"} if retry else None
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

    @property
    def scheme(self) -> str:
        """``https`` when TLS files are configured, else ``http``."""
        return "https" if self.settings.tls_cert_file and self.settings.tls_key_file else "http"

    def start(self) -> int:
        """Bind, start serving in a thread and return the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self._socket = sock
        tls: dict[str, Any] = {}
        if self.scheme == "https":
            tls = {
                "ssl_certfile": str(Path(self.settings.tls_cert_file)),  # type: ignore[arg-type]
                "ssl_keyfile": str(Path(self.settings.tls_key_file)),  # type: ignore[arg-type]
            }
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", **tls
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[sock])),  # type: ignore[union-attr]
            name="medcoop-stow",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        log.info(
            "STOW-RS receiver listening",
            extra={"host": self.settings.host, "port": self.port, "scheme": self.scheme},
        )
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
