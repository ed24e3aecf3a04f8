"""``POST /api/v1/enroll``: an edge exchanges its one-time code for a site token."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medcoop.hub.api.deps import Settings, get_limiter, open_session
from medcoop.hub.api.schemas import EnrollIn, EnrollOut, ErrorOut
from medcoop.hub.db.engine import begin_write
from medcoop.hub.errors import RateLimitedError
from medcoop.hub.services.accounts import enroll_edge
from medcoop.hub.services.store_tuf import trusted_root_document

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["enrollment"])


@router.post(
    "/enroll",
    response_model=EnrollOut,
    responses={
        401: {"model": ErrorOut, "description": "Unknown code"},
        410: {"model": ErrorOut, "description": "Code already used or expired"},
        429: {"model": ErrorOut, "description": "Too many attempts"},
    },
)
def enroll(body: EnrollIn, request: Request, settings: Settings) -> EnrollOut:
    """Exchange a one-time enrollment code for the site's token (no other authentication)."""
    client = request.client.host if request.client else "unknown"
    wait_s = get_limiter(request).acquire(
        f"enroll:{client}", rate_per_s=settings.login_rate_per_min / 60, burst=settings.login_burst
    )
    if wait_s:
        raise RateLimitedError(wait_s)
    with open_session(request) as session:
        begin_write(session)
        result = enroll_edge(
            session, body.code, body.edge_name, token_ttl_s=settings.site_token_ttl_s
        )
        session.commit()
    return EnrollOut(
        site_id=str(result.site_id),
        site_token=result.site_token,
        organisation=result.organisation,
        site=result.site,
        tuf_root=trusted_root_document(settings),
    )
