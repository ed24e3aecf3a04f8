"""Consent over HTTP at the edge: the hospital's systems post decisions, patients get receipts.

``POST /consent`` takes a decision from the patient portal or the registration system, as
a FHIR R4 ``Consent`` resource or as plain JSON (``patient_id``, ``issuer``, ``pooling``
``permit``/``deny``, optional ``research``, ``purpose``, ``start``, ``end``,
``recorded_by``, ``document_sha256``). The edge keeps it as the patient's latest decision
(pseudonym only: a denial withholds their next studies at once), submits the entry to the
hub's ledger and keeps the receipt under ``<data_dir>/receipts/``. ``GET
/consent/receipts/{index}`` is the printable receipt: what was decided, where it sits in
the log, and a QR code of the whole receipt that anyone can verify later with ``medcoop
ledger receipt-check`` or the hub's verification page.

Both need the edge's bearer token (``[stow] token``, as STOW-RS does). No cookie is ever
used, so there is no form to forge across sites (the CSRF risk of cookie sessions does
not arise). A hub that cannot be reached gets a 502: the decision is already in force at
the edge, and posting it again is harmless.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import segno
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from medcoop.edge.config import StowSettings
from medcoop.edge.consent import (
    FhirConsentError,
    PatientDecision,
    from_fhir_consent,
    site_of,
    submit_to_hub,
)
from medcoop.edge.pipeline import Pipeline
from medcoop.ledger.checkpoint import parse_checkpoint
from medcoop.ledger.entries import ConsentEntry, Decision, parse_entry
from medcoop.ledger.note import parse_signatures, split_note
from medcoop.ledger.receipt import Receipt

__all__ = ["DecisionIn", "consent_routes", "render_receipt_page"]

_MAX_BODY_BYTES = 256 * 1024  # a Consent resource with an attached document hash


class DecisionIn(BaseModel):
    """A decision as the hospital's system sends it (when it is not a FHIR Consent)."""

    model_config = ConfigDict(extra="forbid")

    patient_id: str = Field(min_length=1, max_length=200)
    issuer: str = Field(default="", max_length=200)
    pooling: Decision
    research: Decision | None = None
    purpose: str = Field(default="pooling", min_length=1, max_length=200)
    start: date | None = None
    end: date | None = None
    recorded_by: str = Field(default="patient-portal", min_length=1, max_length=200)
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    def decision(self) -> PatientDecision:
        return PatientDecision(
            patient_id=self.patient_id,
            issuer=self.issuer,
            pooling=self.pooling,
            research=self.research or self.pooling,
            purpose=self.purpose,
            start=self.start or datetime.now(UTC).date(),
            end=self.end,
            document_sha256=self.document_sha256,
            recorded_by=self.recorded_by,
        )


def _receipts_dir(pipeline: Pipeline) -> Path:
    return pipeline.settings.storage.data_dir / "receipts"


def read_decision(body: bytes) -> PatientDecision:
    """Parse a posted body (FHIR Consent or :class:`DecisionIn`); raise ``ValueError``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the body is a JSON object")
    if "resourceType" in data:
        return from_fhir_consent(data, raw=body)  # FhirConsentError is a ValueError
    try:
        return DecisionIn.model_validate(data).decision()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from exc


def record_and_submit(pipeline: Pipeline, decision: PatientDecision) -> tuple[ConsentEntry,
                                                                             Receipt]:
    """Keep ``decision`` locally, log it at the hub, keep its receipt; return both.

    Raises ``httpx.HTTPError`` when the hub did not take it (the decision stays in force).
    """
    hub = pipeline.settings.hub
    # in force at this edge first, whatever the hub says (record() below repeats it)
    if decision.pooling is Decision.DENY:
        pipeline.consent.opt_out(decision.patient_id, decision.issuer)
    else:
        pipeline.consent.opt_in(decision.patient_id, decision.issuer)
    if not (hub.url and hub.site_token):
        raise httpx.HTTPError("the edge is not enrolled with a hub")
    site = site_of(hub_url=hub.url, site_token=hub.site_token)
    entry = pipeline.consent.record(decision, site=site)
    (receipt,) = submit_to_hub([entry], hub_url=hub.url, site_token=hub.site_token)
    folder = _receipts_dir(pipeline)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / f"{receipt.index}.json").write_text(receipt.to_json())
    return entry, receipt


def compact_json(receipt: Receipt) -> str:
    """The receipt as the QR code carries it: the same JSON, without whitespace."""
    return json.dumps(json.loads(receipt.to_json()), separators=(",", ":"))


def qr_svg(text: str) -> str:
    """Return an inline SVG QR code of ``text`` (byte mode, low error correction: the
    most data one code holds)."""
    code = segno.make(text, error="l", micro=False, boost_error=False)
    return str(code.svg_inline(scale=3, border=4, title="receipt QR code"))


_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:24px;color:#111;max-width:46rem}"
    "h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}"
    "dt{font-weight:600}pre{white-space:pre-wrap;word-break:break-all;font-size:9px}"
    ".qr svg{width:100%;max-width:420px;height:auto}"
    "@media print{.noprint{display:none}body{margin:0}}"
)


def render_receipt_page(receipt: Receipt, *, hub_url: str | None = None) -> str:
    """Return the printable HTML page of ``receipt`` (no identifying value is on it)."""
    e = html.escape
    entry = parse_entry(receipt.entry)
    text_part, signatures = split_note(receipt.checkpoint)
    checkpoint = parse_checkpoint(text_part)
    witnesses = sorted({s.name for s in parse_signatures(signatures)} - {checkpoint.origin})
    rows: list[tuple[str, str]] = []
    if isinstance(entry, ConsentEntry):
        rows += [
            ("Pooling of your data", entry.pooling.value),
            ("Research use", entry.research.value),
            ("Purpose", entry.purpose),
            ("From", entry.period.start.isoformat()),
            ("Until", entry.period.end.isoformat() if entry.period.end else "until you change it"),
            ("Recorded by", entry.recorded_by),
            ("Recorded at (UTC)", datetime.fromtimestamp(entry.recorded_at, UTC)
             .strftime("%Y-%m-%d %H:%M")),
            ("Your pseudonym", entry.pseudonym),
        ]
    rows += [
        ("Log", checkpoint.origin),
        ("Entry number", str(receipt.index)),
        ("Log size when signed", str(checkpoint.size)),
        ("Independent witnesses", ", ".join(witnesses) or "none yet"),
    ]
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    verify = (
        f"<p>Check it at any time at <strong>{e(hub_url.rstrip('/'))}/ledger/verify</strong> "
        "(the page checks it in your browser), or with <code>medcoop ledger receipt-check"
        "</code>.</p>"
        if hub_url
        else "<p>Check it at any time with <code>medcoop ledger receipt-check</code>.</p>"
    )
    text = compact_json(receipt)
    try:
        code = f"<div class='qr'>{qr_svg(text)}</div>"
    except segno.DataOverflowError:
        code = "<p>The receipt is too large for one QR code: keep the text below.</p>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Your consent receipt #{receipt.index}</title><style>{_STYLE}</style></head>"
        "<body><main><h1>Your consent receipt</h1>"
        "<p>This receipt proves that your decision is recorded in the medcoop consent "
        "ledger, a public log that no one can rewrite without it being noticed. It holds no "
        "name, ID or date of birth. Keep it: with it you, or anyone you ask, can check that "
        "the decision is still in the log and see who used data pooled under your "
        f"pseudonym.</p><dl>{facts}</dl>{verify}{code}"
        "<button class='noprint' type='button' onclick='window.print()'>Print</button>"
        f"<h2>The receipt</h2><pre id='receipt'>{e(text)}</pre></main></body></html>"
    )


def consent_routes(pipeline: Pipeline, settings: StowSettings) -> list[Route]:
    """The edge's consent routes (bearer token as for STOW-RS)."""
    from medcoop.edge.stow import bearer_authorised

    def refused() -> Response:
        return JSONResponse(
            {"detail": "a valid bearer token is required ([stow] token)"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="medcoop-edge"'},
        )

    async def post(request: Request) -> Response:
        if not bearer_authorised(request, settings):
            return refused()
        body = await request.body()
        if len(body) > _MAX_BODY_BYTES:
            return JSONResponse({"detail": "the body is too large"}, status_code=413)
        try:
            decision = read_decision(body)
        except (ValueError, FhirConsentError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        try:
            entry, receipt = await run_in_threadpool(record_and_submit, pipeline, decision)
        except httpx.HTTPError as exc:
            detail = (
                "the decision is in force at this edge, but the hub's ledger did not take "
                f"it ({type(exc).__name__}): post it again later"
            )
            return JSONResponse({"detail": detail, "recorded": True}, status_code=502)
        answer: dict[str, Any] = {
            "recorded": True,
            "pseudonym": entry.pseudonym,
            "pooling": entry.pooling.value,
            "index": receipt.index,
            "receipt": json.loads(receipt.to_json()),
            "receipt_page": f"/consent/receipts/{receipt.index}",
        }
        return JSONResponse(answer, status_code=201)

    async def page(request: Request) -> Response:
        if not bearer_authorised(request, settings):
            return refused()
        index = request.path_params["index"]
        path = _receipts_dir(pipeline) / f"{index}.json"
        if not path.is_file():
            return JSONResponse({"detail": f"no receipt {index} at this edge"}, status_code=404)
        receipt = Receipt.from_json(path.read_text())
        if request.query_params.get("format") == "json":
            return Response(receipt.to_json(), media_type="application/json")
        hub_url = pipeline.settings.hub.url
        return HTMLResponse(render_receipt_page(receipt, hub_url=hub_url))

    return [
        Route("/consent", post, methods=["POST"]),
        Route("/consent/receipts/{index:int}", page, methods=["GET"]),
    ]
