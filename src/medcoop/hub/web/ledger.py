"""The ledger on the dashboard: the log's state, its entries, and patients' own pages.

- ``/ledger`` (signed in): the latest checkpoint and its cosignatures, each verified
  here against the log key and the configured witnesses, the witness list, and counts
  of consent decisions per site and accesses per purpose and organisation;
- ``/ledger/entries`` (signed in): the auditor's browser, newest first, filtered by kind,
  purpose and organisation or site;
- ``/ledger/verify`` (public): a patient pastes or uploads a receipt and the page's own
  script (``static/ledger.js``) checks it in the browser: the leaf hash and inclusion
  proof against the receipt's checkpoint (SHA-256 by WebCrypto), the log's signature
  and the witnesses' cosignatures (Ed25519 by WebCrypto where the browser has it, else
  by the server, and the page says which), and that the latest checkpoint extends it;
- ``/ledger/mine`` (public): given a receipt that verifies, who accessed data pooled
  under its pseudonym, and the decisions recorded for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from medcoop.hub.api.analytics_dose import Reader
from medcoop.hub.api.ledger import get_ledger
from medcoop.hub.services.ledger import SqlLedger
from medcoop.hub.services.ledger.browse import accesses_concerning, newest_entries, summarise
from medcoop.hub.web.routing import ENV, PageRoute, page
from medcoop.ledger.checkpoint import verify_checkpoint, verify_cosignatures
from medcoop.ledger.errors import LedgerError
from medcoop.ledger.note import parse_signatures, split_note
from medcoop.ledger.receipt import Receipt, verify_receipt

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Ledger = Annotated[SqlLedger, Depends(get_ledger)]
_MAX_RECEIPT_CHARS = 200_000


def _epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


ENV.filters["epoch"] = _epoch  # entries carry seconds since the epoch, UTC


def _state(ledger: SqlLedger) -> dict[str, Any]:
    note = ledger.checkpoint()
    witnesses = list(ledger.witnesses.values())
    try:
        checkpoint = verify_checkpoint(note, ledger.verifier())
        cosigned = verify_cosignatures(note, witnesses, quorum=0)
        problem = None
    except LedgerError as exc:
        checkpoint, cosigned, problem = None, {}, f"{type(exc).__name__}: {exc}"
    _text, block = split_note(note)
    names = [s.name for s in parse_signatures(block)]
    return {
        "note": note.decode(),
        "checkpoint": checkpoint,
        "problem": problem,
        "signers": names,
        "cosigned": cosigned,
        "witnesses": witnesses,
        "log_key": ledger.verifier().to_string(),
    }


@router.get("/ledger")
def ledger_home(request: Request, _principal: Reader, ledger: Ledger) -> Response:
    """The log's latest checkpoint, its witnesses, and what the newest entries hold."""
    return page(
        request, "ledger.html", title="Consent and access ledger",
        summary=summarise(ledger), **_state(ledger),
    )


@router.get("/ledger/entries")
def ledger_entries(
    request: Request,
    _principal: Reader,
    ledger: Ledger,
    kind: Annotated[str | None, Query(pattern="^(consent|access)?$")] = None,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
    organisation: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The auditor's view: entries newest first, with filters."""
    scan = newest_entries(
        ledger, before=before, kind=kind or None, purpose=purpose or None,
        organisation=organisation or None,
    )
    older = scan.found[-1][0] if scan.found and not scan.complete else None
    return page(
        request, "ledger_entries.html", title="Ledger entries", scan=scan, older=older,
        filters={"kind": kind or "", "purpose": purpose or "", "organisation": organisation or ""},
    )


@router.get("/ledger/verify")
def ledger_verify(request: Request, ledger: Ledger) -> Response:
    """Public: verify a receipt in this browser."""
    return page(
        request, "ledger_verify.html", title="Verify a consent receipt",
        log_key=ledger.verifier().to_string(),
        witness_keys=[w.to_string() for w in ledger.witnesses.values()],
    )


@router.get("/ledger/mine")
def ledger_mine_form(request: Request) -> Response:
    """Public: the form of the patient's view."""
    return page(request, "ledger_mine.html", title="Who used my data", result=None, error=None)


@router.post("/ledger/mine")
def ledger_mine(
    request: Request,
    ledger: Ledger,
    receipt: Annotated[str, Form(max_length=_MAX_RECEIPT_CHARS)],
) -> Response:
    """Public: given a receipt that verifies, the accesses that concern its pseudonym.

    A stateless read of a public log (no cookie, nothing changed): no CSRF token needed.
    """
    try:
        parsed = Receipt.from_json(receipt)
        result = verify_receipt(parsed, ledger.verifier())
    except LedgerError as exc:
        return page(request, "ledger_mine.html", title="Who used my data", result=None,
                    error=str(exc), status_code=400)
    pseudonym = getattr(result.entry, "pseudonym", None)
    if pseudonym is None:
        return page(request, "ledger_mine.html", title="Who used my data", result=None,
                    error="this receipt is not a consent decision", status_code=400)
    accesses, decisions = accesses_concerning(ledger, pseudonym)
    return page(
        request, "ledger_mine.html", title="Who used my data", error=None,
        result={"pseudonym": pseudonym, "index": parsed.index, "accesses": accesses,
                "decisions": decisions},
    )
