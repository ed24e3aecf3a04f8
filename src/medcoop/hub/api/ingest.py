"""``POST /api/v1/ingest``: an enrolled edge delivers a batch of de-identified records.

The body is read with a hard cap (413 beyond ``max_body_bytes``, whatever
``Content-Length`` claims), validated once with pydantic, and stored in one transaction.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from medcoop.hub.api.deps import authenticate_request, get_limiter, get_settings, open_session
from medcoop.hub.api.schemas import ErrorOut, IngestOut
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import AuthenticationError, PayloadTooLargeError, RateLimitedError
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.ingest import ingest_batch, parse_batch
from medcoop.records import RecordBatch

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["ingest"])
_SITE = frozenset({TokenKind.SITE})


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLargeError(f"request body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _store(request: Request, principal: Principal, body: bytes) -> dict[str, Any]:
    settings = get_settings(request)
    batch = parse_batch(body, max_records=settings.max_records_per_batch)
    if principal.site_id is None:
        raise AuthenticationError("this token belongs to no site")
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        result = ingest_batch(session, principal.site_id, batch)
    if result.alerts_opened:
        request.app.state.notifier.wake()  # committed: their notices are due
    return result.as_response()


@router.post(
    "/ingest",
    response_model=IngestOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RecordBatch"}}
            },
        }
    },
    responses={
        401: {"model": ErrorOut, "description": "Missing, unknown, expired or revoked site token"},
        403: {"model": ErrorOut, "description": "The token is not allowed to ingest"},
        413: {"model": ErrorOut, "description": "Body or batch over the limits"},
        422: {
            "model": ErrorOut,
            "description": "Bad record (record_index names it); nothing written",
        },
        429: {"model": ErrorOut, "description": "Rate limited; see Retry-After"},
    },
)
async def ingest(request: Request) -> dict[str, Any]:
    """Store a :class:`~medcoop.records.RecordBatch`; idempotent by ``record_key``."""
    settings = get_settings(request)
    principal = await run_in_threadpool(authenticate_request, request, _SITE)
    principal.require(Permission.INGEST)
    wait_s = get_limiter(request).acquire(
        f"ingest:{principal.site_id}",
        rate_per_s=settings.ingest_rate_per_s,
        burst=settings.ingest_burst,
    )
    if wait_s:
        raise RateLimitedError(wait_s)
    body = await _read_body(request, settings.max_body_bytes)
    return await run_in_threadpool(_store, request, principal, body)


#: The schema components the ingest body refers to, merged into ``/openapi.json``.
RECORD_BATCH_SCHEMA = RecordBatch.model_json_schema(ref_template="#/components/schemas/{model}")
