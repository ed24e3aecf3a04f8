"""The ledger over HTTP: C2SP tlog-tiles under ``/log/`` and JSON under ``/api/v1/ledger``.

Reads are public (anyone may mirror and verify the log). Full tiles, and partial tiles of
a given width, never change, so they are served ``immutable`` with a year's lifetime; the
checkpoint changes with every batch and is served ``no-cache``. Appends come from enrolled
edges (consent entries for their own site); the hub itself appends access entries.
"""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from medcoop.hub.api.deps import authenticate_request, open_session
from medcoop.hub.api.schemas import ErrorOut
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import TokenKind
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.services.accounts import Principal
from medcoop.hub.services.ingest.removal import Withdrawal, apply_consent
from medcoop.hub.services.ledger import SqlLedger, load_or_create_log_key
from medcoop.hub.services.ledger.store import TileNotFoundError
from medcoop.hub.settings import HubSettings
from medcoop.ledger.entries import (
    AccessEntry,
    Aggregate,
    ConsentEntry,
    canonical_json,
    parse_entry,
)
from medcoop.ledger.errors import CosignatureError, EntryError, LedgerError, TileError
from medcoop.ledger.note import Verifier
from medcoop.ledger.receipt import Receipt, verify_receipt
from medcoop.ledger.tiles import parse_tile_path

__all__ = ["get_ledger", "ledger_for", "router"]

router = APIRouter(tags=["ledger"])
_IMMUTABLE = "public, max-age=31536000, immutable"
_SITE = frozenset({TokenKind.SITE})
_MAX_APPEND = 5000


def get_ledger(request: Request) -> SqlLedger:
    """Dependency: the app's ledger."""
    return ledger_for(request.app)


def ledger_for(app: FastAPI) -> SqlLedger:
    """Return ``app``'s ledger, opening it (and creating the log key) on first use."""
    ledger = getattr(app.state, "ledger", None)
    if ledger is None:
        settings: HubSettings = app.state.settings
        signer = load_or_create_log_key(settings.resolved_ledger_key_path, settings.ledger_origin)
        ledger = SqlLedger(
            app.state.engine,
            signer,
            witnesses=[Verifier.from_string(w) for w in settings.ledger_witnesses],
            batch_max=settings.ledger_batch_max,
        )
        app.state.ledger = ledger
    return ledger


Ledger = Annotated[SqlLedger, Depends(get_ledger)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


_TEXT = {200: {"content": {"text/plain": {}}}}  # type: ignore[var-annotated]
_BYTES = {200: {"content": {"application/octet-stream": {}}}, **_errors(400, 404)}
_JSON_404 = _errors(404, 422)


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _not_found(exc: Exception) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


# --- C2SP tlog-tiles ------------------------------------------------------------------------


@router.get(
    "/log/checkpoint",
    summary="The latest signed checkpoint, with cosignatures",
    response_class=Response,
    responses=_TEXT,  # type: ignore[arg-type]
)
def get_checkpoint(ledger: Ledger) -> Response:
    return Response(
        ledger.checkpoint(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get(
    "/log/key",
    summary="The log's verifier key (C2SP signed-note vkey)",
    response_class=Response,
    responses=_TEXT,  # type: ignore[arg-type]
)
def get_key(ledger: Ledger) -> Response:
    return Response(
        ledger.verifier().to_string() + "\n",
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get(
    "/log/tile/{path:path}",
    summary="A tile or entry bundle (C2SP tlog-tiles)",
    response_class=Response,
    responses=_BYTES,
)
def get_tile(path: str, ledger: Ledger) -> Response:
    try:
        key, width = parse_tile_path("tile/" + path)
        data = ledger.tile(key, width)
    except TileError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except (TileNotFoundError, KeyError) as exc:
        raise _not_found(exc) from exc
    return Response(
        data, media_type="application/octet-stream", headers={"Cache-Control": _IMMUTABLE}
    )


# --- JSON conveniences ----------------------------------------------------------------------


@router.get("/api/v1/ledger/entries/{index}", summary="One entry by index", responses=_JSON_404)
def get_entry(index: int, ledger: Ledger) -> dict[str, Any]:
    try:
        raw = ledger.entry(index)
    except TileNotFoundError as exc:
        raise _not_found(exc) from exc
    return {"index": index, "entry": raw.decode()}


@router.get(
    "/api/v1/ledger/proofs/inclusion", summary="Inclusion proof of an entry", responses=_JSON_404
)
def get_inclusion(
    ledger: Ledger,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    tree_size = ledger.size() if size is None else size
    try:
        proof = ledger.inclusion_proof(index, tree_size)
    except (TileNotFoundError, ValueError) as exc:
        raise _not_found(exc) from exc
    return {"index": index, "size": tree_size, "proof": _b64(proof)}


@router.get(
    "/api/v1/ledger/proofs/consistency",
    summary="Consistency proof between sizes",
    responses=_JSON_404,
)
def get_consistency(
    ledger: Ledger,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    new_size = ledger.size() if new is None else new
    try:
        proof = ledger.consistency_proof(old, new_size)
    except (TileNotFoundError, ValueError) as exc:
        raise _not_found(exc) from exc
    return {"old": old, "new": new_size, "proof": _b64(proof)}


@router.get(
    "/api/v1/ledger/receipts/{index}",
    summary="A receipt for an entry",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, **_JSON_404},
)
def get_receipt(index: int, ledger: Ledger) -> Response:
    try:
        return Response(build_receipt(ledger, index).to_json(), media_type="application/json")
    except (TileNotFoundError, ValueError) as exc:
        raise _not_found(exc) from exc


def build_receipt(ledger: SqlLedger, index: int) -> Receipt:
    """Return the receipt of entry ``index`` against the latest checkpoint."""
    note = ledger.checkpoint()
    size = int(note.split(b"\n", 2)[1])
    return Receipt(
        entry=ledger.entry(index),
        index=index,
        checkpoint=note,
        inclusion_proof=tuple(ledger.inclusion_proof(index, size)),
        log_key=ledger.verifier().to_string(),
    )


class ReceiptIn(BaseModel):
    receipt: str = Field(min_length=1, max_length=200_000)


@router.post(
    "/api/v1/ledger/receipts/verify",
    summary="Check a receipt against this log's key (for browsers without Ed25519)",
    responses=_errors(422),
)
def post_receipt_check(ledger: Ledger, body: Annotated[ReceiptIn, Body()]) -> dict[str, Any]:
    # The verification page checks hashes and proofs itself; this is the fallback for the
    # signature step, and says plainly that the hub did it.
    try:
        result = verify_receipt(
            Receipt.from_json(body.receipt), ledger.verifier(),
            witnesses=list(ledger.witnesses.values()),
        )
    except LedgerError as exc:
        return {"valid": False, "detail": str(exc), "checked_by": "hub"}
    return {
        "valid": True,
        "index": Receipt.from_json(body.receipt).index,
        "size": result.checkpoint.size,
        "witnesses": sorted(result.witnesses),
        "checked_by": "hub",
    }


class AppendIn(BaseModel):
    entries: list[str] = Field(min_length=1, max_length=_MAX_APPEND)


@router.post(
    "/api/v1/ledger/entries",
    summary="Append consent entries (enrolled edges)",
    responses=_errors(401, 403, 422),
)
def post_entries(
    request: Request, ledger: Ledger, body: Annotated[AppendIn, Body()]
) -> dict[str, Any]:
    principal = authenticate_request(request, _SITE)
    raw = [e.encode() for e in body.entries]
    decisions: list[ConsentEntry] = []
    try:
        for position, entry in enumerate(raw):
            parsed = parse_entry(entry)
            if not isinstance(parsed, ConsentEntry) or parsed.site != str(principal.site_id):
                raise HTTPException(
                    status_code=403,
                    detail=f"entry {position}: an edge appends consent entries for its own site",
                )
            decisions.append(parsed)
        assert principal.site_id is not None
        # applied first (one transaction): should the append fail, the edge sends again,
        # and applying a decision twice changes nothing
        with open_session(request) as session:
            scope_session(session, principal.org_id)
            begin_write(session)
            withdrawals = apply_consent(session, principal.site_id, decisions)
            session.commit()
        # logged when something was removed (a denial before any study removes nothing)
        removals = [removal_entry(principal, w) for w in withdrawals if w.studies_removed]
        indices = ledger.append(raw + removals, validated=True)  # parsed above
    except EntryError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {
        "indices": indices[: len(raw)],
        "removals": indices[len(raw) :],
        "checkpoint": ledger.checkpoint().decode(),
    }


def removal_entry(principal: Principal, withdrawal: Withdrawal) -> bytes:
    """The log's record that the hub removed a patient's pooled studies on their denial."""
    return canonical_json(
        AccessEntry(
            who="hub",
            organisation=str(principal.org_id),
            purpose="pooling-denied:removal",
            scope="delete studies,irradiation_events,usage_facts,record_receipts; "
            "dose summaries corrected",
            pseudonyms=(withdrawal.pseudonym,),
            aggregate=Aggregate(records=withdrawal.studies_removed, sites=1),
            accessed_at=int(time.time()),
        )
    )


@router.get(
    "/api/v1/ledger/site",
    summary="The site an edge's consent entries must name",
    responses=_errors(401),
)
def get_site(request: Request) -> dict[str, str]:
    principal = authenticate_request(request, _SITE)
    return {"site": str(principal.site_id)}


class CosignatureIn(BaseModel):
    size: int = Field(ge=0)
    line: str = Field(min_length=1, max_length=1000)


@router.post(
    "/api/v1/ledger/cosignatures",
    summary="A witness hands in its cosignature",
    responses=_errors(422),
)
def post_cosignature(ledger: Ledger, body: Annotated[CosignatureIn, Body()]) -> dict[str, str]:
    # No token: a cosignature authenticates itself against the configured witness keys.
    try:
        witness = ledger.add_cosignature(body.size, body.line)
    except (CosignatureError, LedgerError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"witness": witness}
