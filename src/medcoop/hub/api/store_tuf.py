"""The store's TUF repository over HTTP, and vendors' uploads to it.

- ``GET /store/tuf/metadata/{name}``: signed metadata, public (it is signed; clients
  trust signatures, not this server).
- ``GET /store/tuf/targets/{path}``: wheels and manifests, to any authenticated caller
  (an edge's site token, a person's token); whether a site may *install* is the
  entitlement check of ``/api/v1/store/installs/authorize``.
- ``POST /api/v1/store/tuf/publish``: a vendor publisher uploads the role metadata it
  signed locally, the wheel and the manifest; the hub verifies and stores them
  (:meth:`medcoop.store.tuf.repo.TufRepository.publish`).
- ``GET /api/v1/store/releases``: which versions of an app are published (unsigned
  convenience index; edges verify everything they fetch through TUF).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from medcoop.hub.api.deps import UserPrincipal, authenticate_request
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.models import TokenKind
from medcoop.hub.errors import NotFoundError, PayloadTooLargeError
from medcoop.hub.services import store_tuf

__all__ = ["router"]

router = APIRouter(tags=["store"])
_ANYONE = frozenset(TokenKind)
_MIB = 1024 * 1024
#: Upload limits: a wheel, a manifest, a role's metadata.
MAX_WHEEL_BYTES = 64 * _MIB
MAX_MANIFEST_BYTES = 1 * _MIB
MAX_METADATA_BYTES = 5 * _MIB


class ReleaseOut(BaseModel):
    """A published wheel and the TUF target paths to fetch it by."""

    app_id: str
    version: str
    vendor: str
    wheel_target: str
    manifest_target: str
    published_at: str


class PublishOut(BaseModel):
    """What the hub stored."""

    role: str
    version: int
    snapshot_version: int
    releases: list[ReleaseOut]


@router.get("/store/tuf/metadata/{name}", include_in_schema=False)
def tuf_metadata(name: str, request: Request) -> FileResponse:
    """Serve one signed metadata file (``timestamp.json`` is never cached)."""
    path = store_tuf.repository(request.app.state.settings).metadata_file(name)
    if path is None:
        raise NotFoundError("metadata", name)
    cache = "no-store" if name == "timestamp.json" else "public, max-age=300"
    return FileResponse(path, media_type="application/json", headers={"Cache-Control": cache})


@router.get("/store/tuf/targets/{target:path}", include_in_schema=False)
async def tuf_target(target: str, request: Request) -> FileResponse:
    """Serve one target file (content-addressed name) to an authenticated caller."""
    await run_in_threadpool(authenticate_request, request, _ANYONE)
    path = store_tuf.repository(request.app.state.settings).target_file(target)
    if path is None:
        raise NotFoundError("target", target)
    return FileResponse(path, media_type="application/octet-stream")


async def _read(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(f"{upload.filename or 'file'} is larger than {limit} bytes")
    return data


@router.post(
    "/api/v1/store/tuf/publish",
    response_model=PublishOut,
    responses={
        401: {"model": ErrorOut, "description": "Not signed in"},
        403: {"model": ErrorOut, "description": "Not a vendor publisher"},
        503: {"model": ErrorOut, "description": "The hub has no TUF repository"},
        413: {"model": ErrorOut, "description": "A file is too large"},
        422: {"model": ErrorOut, "description": "Refused: every failed check listed"},
    },
)
async def publish(
    principal: UserPrincipal,
    request: Request,
    vendor: Annotated[str, Form(max_length=64)],
    wheel_target: Annotated[str, Form(max_length=300)],
    manifest_target: Annotated[str, Form(max_length=300)],
    metadata: Annotated[UploadFile, File()],
    wheel: Annotated[UploadFile, File()],
    manifest: Annotated[UploadFile, File()],
) -> Any:
    """Verify and store a vendor's signed release (metadata, wheel, manifest)."""
    files = {
        wheel_target: await _read(wheel, MAX_WHEEL_BYTES),
        manifest_target: await _read(manifest, MAX_MANIFEST_BYTES),
    }
    signed = await _read(metadata, MAX_METADATA_BYTES)
    result = await run_in_threadpool(
        store_tuf.publish_release,
        request.app.state.settings,
        request.app.state.session_factory,
        principal,
        vendor,
        signed,
        files,
    )
    return PublishOut(
        role=result.role,
        version=result.version,
        snapshot_version=result.snapshot_version,
        releases=[ReleaseOut(**r.to_dict()) for r in result.releases],
    )


@router.get(
    "/api/v1/store/releases",
    response_model=list[ReleaseOut],
    responses={401: {"model": ErrorOut, "description": "Not authenticated"}},
)
async def releases(
    request: Request,
    app_id: Annotated[str | None, Query(max_length=200)] = None,
) -> list[ReleaseOut]:
    """The published versions of ``app_id`` (or of every app), oldest first."""
    await run_in_threadpool(authenticate_request, request, _ANYONE)
    repo = store_tuf.repository(request.app.state.settings)
    if not repo.exists:
        return []
    return [ReleaseOut(**r.to_dict()) for r in repo.releases(app_id)]
