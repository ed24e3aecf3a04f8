"""Protocol sharing endpoints: own summaries, opt-in publishing, the library, adoption.

Reading needs ``studies:read``; publishing needs ``devices:write`` (physicists, admins).
The library lists every organisation's published protocols by the label each publisher
chose; it never names the publishing organisation or site.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from medcoop.analytics.protocols import (
    ProtocolSummary,
    PublishedProtocol,
    export_json,
)
from medcoop.hub.api.analytics_dose import PoolSession
from medcoop.hub.api.deps import DbSession, WriteSession, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.base import utcnow
from medcoop.hub.presenters.html import render_protocol_sheet
from medcoop.hub.services import analytics
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/analytics/protocols", tags=["analytics"])
Reader = Annotated[Principal, Depends(require(Permission.READ_STUDIES))]
Physicist = Annotated[Principal, Depends(require(Permission.MANAGE_DEVICES))]
_ERRORS = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


class PublishIn(BaseModel):
    """Which own protocol to publish, and how to present it."""

    name: str = Field(min_length=1, max_length=128)
    description: str = Field(max_length=4000)
    publisher: str = Field(default="", max_length=128)
    site_id: uuid.UUID | None = None


class LibraryEntryOut(BaseModel):
    """One published protocol in the library."""

    id: uuid.UUID
    name: str
    modality: str
    body_region: str | None
    n_studies: int
    publisher: str
    published_at: datetime


class ComparisonRowOut(BaseModel):
    """One quantity's medians side by side (``ratio`` = own ÷ published)."""

    quantity: str
    unit: str
    own_median: float | None
    other_median: float | None
    ratio: float | None


class ComparisonOut(BaseModel):
    """A published protocol against one of the caller's own."""

    published: PublishedProtocol
    own: ProtocolSummary
    rows: list[ComparisonRowOut]


@router.get("/own", response_model=list[ProtocolSummary], responses=_ERRORS)
def own(
    _principal: Reader, db: DbSession, site_id: uuid.UUID | None = None
) -> list[ProtocolSummary]:
    """Summaries of the organisation's own protocols (technique and achieved dose)."""
    return list(analytics.own_protocols(db, site_id).values())


@router.post(
    "", response_model=LibraryEntryOut, status_code=status.HTTP_201_CREATED, responses=_ERRORS
)
def publish(body: PublishIn, principal: Physicist, db: WriteSession) -> LibraryEntryOut:
    """Publish one own protocol to the community library (opt-in, ≥ 10 studies)."""
    row = analytics.publish_protocol(
        db,
        principal.org_id,
        name=body.name,
        description=body.description,
        publisher=body.publisher,
        now=utcnow(),
        site_id=body.site_id,
    )
    db.commit()
    return LibraryEntryOut.model_validate(row, from_attributes=True)


@router.get("", response_model=list[LibraryEntryOut], responses=_ERRORS)
def library(
    _principal: Reader,
    pool: PoolSession,
    modality: Annotated[str | None, Query(max_length=16)] = None,
) -> list[LibraryEntryOut]:
    """Browse every organisation's published protocols."""
    rows = analytics.library(pool, modality)
    return [LibraryEntryOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{protocol_id}", responses={**_ERRORS, 200: {"content": {"application/json": {}}}})
def export(protocol_id: uuid.UUID, _principal: Reader, pool: PoolSession) -> Response:
    """Download a published protocol as JSON (to adopt it)."""
    published = analytics.get_published(pool, protocol_id)
    return Response(export_json(published), media_type="application/json")


@router.get("/{protocol_id}/sheet", responses={**_ERRORS, 200: {"content": {"text/html": {}}}})
def sheet(protocol_id: uuid.UUID, _principal: Reader, pool: PoolSession) -> HTMLResponse:
    """A printable HTML sheet of a published protocol."""
    return HTMLResponse(render_protocol_sheet(analytics.get_published(pool, protocol_id)))


@router.get("/{protocol_id}/compare", response_model=ComparisonOut, responses=_ERRORS)
def compare(
    protocol_id: uuid.UUID,
    _principal: Reader,
    db: DbSession,
    pool: PoolSession,
    own: Annotated[str, Query(min_length=1, max_length=128)],
) -> ComparisonOut:
    """A published protocol side by side with one of the organisation's own."""
    published, mine, rows = analytics.compare_with_own(db, pool, protocol_id, own)
    return ComparisonOut(
        published=published, own=mine, rows=[ComparisonRowOut(**asdict(r)) for r in rows]
    )
