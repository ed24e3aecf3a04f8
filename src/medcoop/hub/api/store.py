"""``/api/v1/store``: the app store's API (manifest schema, catalogue, commerce).

The manifest's JSON Schema is public (vendors validate against it before they hold an
account); everything else asks for a permission through :func:`medcoop.hub.api.deps.require`,
the check the web pages and the CLI share.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from medcoop.store.manifest import manifest_json_schema

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/store", tags=["store"])

_SCHEMA: dict[str, Any] = manifest_json_schema()


class SchemaResponse(JSONResponse):
    """A JSON Schema document (``application/schema+json``)."""

    media_type = "application/schema+json"


@router.get(
    "/manifest.schema.json",
    summary="The app manifest's JSON Schema",
    response_class=SchemaResponse,
)
def manifest_schema() -> SchemaResponse:
    """Return the JSON Schema every app manifest is validated against at publish."""
    return SchemaResponse(_SCHEMA)
