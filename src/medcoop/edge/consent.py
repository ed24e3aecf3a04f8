"""Consent at the edge: patients' decisions, kept as the latest decision per pseudonym.

A decision (``permit`` or ``deny`` pooling; research use separately) is recorded from the
hospital's systems, by hand, or from a FHIR R4 ``Consent`` resource. The edge computes the
patient's pseudonym with its site key, keeps the latest decision locally (a denial is a row
in ``consent``: the pipeline withholds that patient's next studies), and submits the entry
to the hub's ledger, which answers with a receipt for the patient.
No patient ID is stored: only ``SiteKey.patient_pseudonym(patient_id, issuer)``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from medcoop.deid.pseudonym import SiteKey
from medcoop.edge.store import EdgeStore, now_s
from medcoop.ledger.entries import ConsentEntry, Decision, Period, canonical_json
from medcoop.ledger.receipt import Receipt

__all__ = [
    "ConsentList",
    "FhirConsentError",
    "PatientDecision",
    "from_fhir_consent",
    "site_of",
    "submit_to_hub",
]

#: FHIR v3 ActReason codes that mean research use (the rest is treated as pooling for care
#: quality and benchmarking).
_RESEARCH_CODES = frozenset({"HRESCH", "CLINTRCH", "CLINTRCHNPC", "CLINTRCHPC", "BIORCH"})


class FhirConsentError(ValueError):
    """A FHIR Consent resource that cannot be recorded (its path and reason are given)."""


@dataclass(frozen=True)
class PatientDecision:
    """A decision about one patient, before it is pseudonymised."""

    patient_id: str
    issuer: str
    pooling: Decision
    research: Decision
    purpose: str
    start: date
    end: date | None = None
    document_sha256: str | None = None
    recorded_by: str = "edge"


def _get(resource: Mapping[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, Mapping) or part not in value:
            raise FhirConsentError(f"Consent.{path} is missing")
        value = value[part]
    return value


def from_fhir_consent(resource: Mapping[str, Any], *, raw: bytes | None = None) -> PatientDecision:
    """Read a FHIR R4 ``Consent`` (JSON) into a decision; raise :class:`FhirConsentError`.

    Uses status, patient identifier, dateTime, provision type and period, actor, purpose;
    the document hash is SHA-256 of ``raw`` (the bytes as received) when given.
    """
    if resource.get("resourceType") != "Consent":
        raise FhirConsentError("resourceType is not Consent")
    if resource.get("status") != "active":
        raise FhirConsentError(f"Consent.status is {resource.get('status')!r}, not 'active'")
    identifier = _get(resource, "patient.identifier")
    patient_id = str(_get(identifier, "value"))
    issuer = str(identifier.get("system", ""))
    provision = _get(resource, "provision")
    kind = str(_get(provision, "type"))
    if kind not in ("permit", "deny"):
        raise FhirConsentError(f"Consent.provision.type is {kind!r}")
    decision = Decision(kind)
    purposes = {str(p.get("code", "")) for p in provision.get("purpose", [])}
    research = decision if purposes & _RESEARCH_CODES or not purposes else Decision.DENY
    period = provision.get("period", {})
    when = str(period.get("start") or _get(resource, "dateTime"))[:10]
    end = period.get("end")
    actor = provision.get("actor", [{}])[0].get("reference", {}).get("display", "")
    try:
        return PatientDecision(
            patient_id=patient_id,
            issuer=issuer,
            pooling=decision,
            research=research,
            purpose=",".join(sorted(purposes)) or "pooling",
            start=date.fromisoformat(when),
            end=date.fromisoformat(str(end)[:10]) if end else None,
            document_sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None,
            recorded_by=str(actor or "fhir-import")[:200],
        )
    except ValueError as exc:
        raise FhirConsentError(f"Consent dates: {exc}") from exc


class ConsentList:
    """The latest pooling decision per patient pseudonym, stored in the edge's database."""

    def __init__(self, store: EdgeStore, key: SiteKey) -> None:
        self.store = store
        self.key = key

    def pseudonym_of(self, patient_id: str, issuer: str = "") -> str:
        """Return the pseudonym under which a patient's choice is kept."""
        return self.key.patient_pseudonym(patient_id, issuer)

    def record(self, decision: PatientDecision, *, site: str) -> ConsentEntry:
        """Keep ``decision`` as the patient's latest and return its ledger entry."""
        if decision.pooling is Decision.DENY:
            pseudonym = self.opt_out(decision.patient_id, decision.issuer)
        else:
            pseudonym = self.pseudonym_of(decision.patient_id, decision.issuer)
            self.opt_in(decision.patient_id, decision.issuer)
        return ConsentEntry(
            site=site,
            pseudonym=pseudonym,
            pooling=decision.pooling,
            research=decision.research,
            purpose=decision.purpose,
            period=Period(start=decision.start, end=decision.end),
            document_sha256=decision.document_sha256,
            recorded_by=decision.recorded_by,
            recorded_at=int(time.time()),
        )

    def opt_out(self, patient_id: str, issuer: str = "") -> str:
        """Record that a patient opted out of pooling; return the stored pseudonym."""
        pseudonym = self.pseudonym_of(patient_id, issuer)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO consent (pseudonym, opted_out_at) VALUES (?, ?)",
                (pseudonym, now_s()),
            )
        return pseudonym

    def opt_in(self, patient_id: str, issuer: str = "") -> bool:
        """Withdraw an opt-out; return whether there was one."""
        pseudonym = self.pseudonym_of(patient_id, issuer)
        with self.store.transaction() as conn:
            cursor = conn.execute("DELETE FROM consent WHERE pseudonym = ?", (pseudonym,))
        return cursor.rowcount > 0

    def is_opted_out(self, pseudonym: str) -> bool:
        """Return whether the patient with this pseudonym opted out of pooling."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT 1 FROM consent WHERE pseudonym = ?", (pseudonym,))
            return row.fetchone() is not None

    def count(self) -> int:
        """Return how many patients opted out."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM consent").fetchone()[0])


def submit_to_hub(
    entries: Sequence[ConsentEntry], *, hub_url: str, site_token: str, timeout_s: float = 30.0
) -> list[Receipt]:
    """Append consent entries to the hub's ledger; return a receipt for each.

    Raises ``httpx.HTTPError`` when the hub cannot be reached or refuses: the decision is
    already kept locally, so the caller retries the submission later.
    """
    headers = {"Authorization": f"Bearer {site_token}"}
    with httpx.Client(base_url=hub_url.rstrip("/"), headers=headers, timeout=timeout_s) as hub:
        body = {"entries": [canonical_json(e).decode() for e in entries]}
        response = hub.post("/api/v1/ledger/entries", json=body)
        response.raise_for_status()
        receipts = []
        for index in response.json()["indices"]:
            got = hub.get(f"/api/v1/ledger/receipts/{index}")
            got.raise_for_status()
            receipts.append(Receipt.from_json(got.content))
    return receipts


def site_of(*, hub_url: str, site_token: str, timeout_s: float = 30.0) -> str:
    """Return the site id the hub expects in this edge's consent entries."""
    response = httpx.get(
        hub_url.rstrip("/") + "/api/v1/ledger/site",
        headers={"Authorization": f"Bearer {site_token}"},
        timeout=timeout_s,
    )
    response.raise_for_status()
    return str(response.json()["site"])
