"""Edges' status: ``POST /api/v1/edge/status`` (an edge, with its site token) and
``GET /api/v1/edges`` (the organisation's overview: quarantine counts by reason per site)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from medcoop.hub.api.deps import DbSession, authenticate_request, open_session, require
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import AuthenticationError
from medcoop.hub.presenters.edges import EdgesOut, edges_out
from medcoop.hub.services.accounts import Permission, Principal
from medcoop.hub.services.edges import edge_overview, record_report

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["edges"])
_SITE = frozenset({TokenKind.SITE})
Reader = Annotated[Principal, Depends(require(Permission.READ_DIRECTORY))]
Count = Annotated[int, Field(ge=0)]


class EdgeStatusIn(BaseModel):
    """What an edge reports about itself: counts only, never an object or a value."""

    model_config = ConfigDict(extra="forbid")

    quarantine_by_reason: dict[Annotated[str, Field(max_length=40)], Count] = Field(
        default_factory=dict, max_length=64
    )
    counters: dict[Annotated[str, Field(max_length=40)], Count] = Field(
        default_factory=dict, max_length=64
    )
    open_studies: Count = 0
    backlog: Count = 0
    edge_version: Annotated[str, Field(max_length=40)] | None = None


def _store(request: Request, principal: Principal, body: EdgeStatusIn) -> None:
    if principal.site_id is None:
        raise AuthenticationError("this token belongs to no site")
    with open_session(request) as session:
        scope_session(session, principal.org_id)
        record_report(
            session,
            principal.org_id,
            principal.site_id,
            quarantine_by_reason=body.quarantine_by_reason,
            counters=body.counters,
            open_studies=body.open_studies,
            backlog=body.backlog,
            edge_version=body.edge_version,
        )


@router.post(
    "/edge/status",
    status_code=204,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)
async def report_status(body: EdgeStatusIn, request: Request) -> None:
    """An enrolled edge reports its quarantine counts by reason and its counters."""
    principal = await run_in_threadpool(authenticate_request, request, _SITE)
    principal.require(Permission.INGEST)
    await run_in_threadpool(_store, request, principal, body)


@router.get("/edges", response_model=EdgesOut, responses={401: {"model": ErrorOut}})
def list_edges(principal: Reader, db: DbSession) -> EdgesOut:
    """The organisation's edges as they last reported, with quarantine totals by reason."""
    return edges_out(edge_overview(db, principal.org_id))
