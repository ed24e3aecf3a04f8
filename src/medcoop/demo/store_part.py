"""The demo's store chapter: a partner vendor publishes an app; a hospital finds it by
facet, requests a trial, and the vendor approves it.

Everything after the operator's provisioning goes over the hub's HTTP API, as the vendor's
and the hospital's own tools would: the vendor registers, the platform approves it, the
vendor publishes its manifest; the hospital searches with facets, opens the listing and
asks for a trial; the vendor approves it, and the hospital's entitlement shows its cap
and end date. :func:`check` verifies each step for ``medcoop demo --check``.
(Installing the app on the hospital's edge follows in the TUF chapter.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

__all__ = ["VENDOR", "StoreDemo", "check", "demo_manifest", "run_store_part"]

VENDOR = "Acme Imaging AI"
VENDOR_SLUG = "acme-imaging"
APP_ID = f"{VENDOR_SLUG}.chest-triage"
#: The facets the hospital filters by.
FACETS = {"modality": "DX", "body_part": "CHEST", "has_trial": "yes"}


def demo_manifest() -> dict[str, Any]:
    """The partner's app manifest: a chest X-ray triage app for the edge, trial on approval."""
    return {
        "manifest_version": "1.0",
        "id": APP_ID,
        "version": "1.0.0",
        "vendor": VENDOR_SLUG,
        "title": "Chest X-ray triage",
        "summary": "Flags chest radiographs with a suspected pneumothorax for early reading",
        "description": "Scores adult PA/AP chest radiographs and writes a TID 1500 report.",
        "category": "ai_diagnostics",
        "intended_use": "Worklist prioritisation of adult chest radiographs; not a diagnosis.",
        "regulatory": {
            "eu_mdr": {"mdr_class": "IIa", "notified_body": "0123", "certificate": "CE 70001"}
        },
        "clinical_scope": {
            "modalities": ["DX", "CR"],
            "body_parts": ["CHEST"],
            "findings": ["pneumothorax"],
        },
        "inputs": [
            {
                "kind": "dicom",
                "name": "chest",
                "selectors": [
                    {"attribute": "Modality", "in": ["DX", "CR"]},
                    {"attribute": "BodyPartExamined", "equals": "CHEST"},
                ],
            }
        ],
        "outputs": [
            {"name": "findings", "kind": "findings_json"},
            {"name": "report", "kind": "dicom_sr"},
        ],
        "parameters": [
            {"name": "threshold", "type": "number", "default": 0.5, "minimum": 0, "maximum": 1}
        ],
        "resources": {"cpu_cores": 1, "memory_mb": 512, "timeout_s": 60},
        "deployment": ["edge"],
        "data_scopes": ["edge:images", "edge:pacs-write"],
        "offers": {
            "trial": {"days": 30, "study_cap": 200, "approval": "vendor"},
            "per_study": {"amount": "1.20", "currency": "EUR"},
            "quote_on_request": True,
        },
        "licence": {"spdx": "LicenseRef-Acme-EULA"},
        "provenance": {"source": "https://git.example.org/acme/chest-triage", "build": "demo"},
        "entry_point": "acme_chest_triage.app:run",
        "changelog": "First release.",
    }


@dataclass(slots=True)
class StoreDemo:
    """What the store chapter did, for the check."""

    vendor_status: str = ""
    published_version: str = ""
    found_by_facet: bool = False
    facet_count: int = 0
    trial_state_requested: str = ""
    trial_state_after: str = ""
    entitlement: dict[str, Any] = field(default_factory=dict)
    audit: list[str] = field(default_factory=list)
    #: Tokens for the next chapters (install on the edge): the vendor's and the buyer's.
    vendor_token: str = ""
    buyer_token: str = ""


def _accounts(db_url: str, hospital_org: str) -> tuple[str, str, str, uuid.UUID]:
    """The operator creates the vendor's organisation and publisher, a platform
    administrator and the hospital's radiology manager; returns their tokens."""
    from sqlalchemy import select

    from medcoop.hub.db.engine import begin_write, make_engine, make_session_factory
    from medcoop.hub.db.models import Organisation, OrgKind, Role, TokenKind
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts
    from medcoop.hub.settings import HubSettings

    engine = make_engine(HubSettings(database_url=db_url))
    try:
        with make_session_factory(engine)() as session:
            scope_session(session, ALL_TENANTS)
            begin_write(session)  # a writer from the start: the running hub shares the file
            vendor = accounts.create_organisation(session, VENDOR, country="DE")
            vendor.kind = OrgKind.VENDOR.value
            platform = accounts.create_organisation(session, "medcoop platform", country="GB")
            platform.kind = OrgKind.PLATFORM.value
            hospital = session.scalar(select(Organisation).where(Organisation.name == hospital_org))
            assert hospital is not None
            tokens = []
            for org, email, role in (
                (vendor.id, "publisher@acme-imaging.example", Role.VENDOR_PUBLISHER),
                (platform.id, "operator@medcoop.example", Role.PLATFORM_ADMIN),
                (hospital.id, "manager@northshore.example", Role.RADIOLOGY_MANAGER),
            ):
                user = accounts.create_user(session, email, display_name=role.value)
                accounts.add_membership(session, org, user.id, role)
                _token, secret = accounts.issue_token(
                    session, TokenKind.PERSONAL, org, user_id=user.id, name="demo", ttl_s=86400
                )
                tokens.append(secret)
            vendor_id = vendor.id
            session.commit()
    finally:
        engine.dispose()
    return tokens[0], tokens[1], tokens[2], vendor_id


def _call(client: httpx.Client, method: str, path: str, token: str, **kwargs: Any) -> Any:
    response = client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    response.raise_for_status()
    return response.json()


def run_store_part(hub_url: str, db_url: str, hospital_org: str, console: Console) -> StoreDemo:
    """Run the store chapter against a running hub; return what happened."""
    console.rule("[bold]9. A partner's app in the store: found by facet, trial approved")
    out = StoreDemo()
    vendor_token, platform_token, buyer_token, vendor_id = _accounts(db_url, hospital_org)
    out.vendor_token, out.buyer_token = vendor_token, buyer_token
    with httpx.Client(base_url=hub_url, timeout=30) as client:
        _call(
            client,
            "POST",
            "/api/v1/store/vendor",
            vendor_token,
            json={"slug": VENDOR_SLUG, "display_name": VENDOR},
        )
        vendor = _call(client, "POST", f"/api/v1/store/vendors/{vendor_id}/approve", platform_token)
        out.vendor_status = vendor["status"]
        console.print(f"the platform approves the vendor {VENDOR}: {vendor['status']}")
        version = _call(
            client, "POST", "/api/v1/store/vendor/listings", vendor_token, json=demo_manifest()
        )
        out.published_version = version["version"]
        console.print(f"{VENDOR} publishes {APP_ID} {version['version']}")
        page = _call(client, "GET", "/api/v1/store/search", buyer_token, params=FACETS)
        keys = [item["listing_key"] for item in page["items"]]
        out.found_by_facet = APP_ID in keys
        out.facet_count = page["total"]
        wanted = ", ".join(f"{k}={v}" for k, v in FACETS.items())
        console.print(f"{hospital_org} filters the catalogue by {wanted}: {keys}")
        trial = _call(
            client,
            "POST",
            f"/api/v1/store/listings/{APP_ID}/trials",
            buyer_token,
            json={"note": "Trial on the St Elsewhere chest worklist"},
        )
        out.trial_state_requested = trial["state"]
        console.print(f"it requests a trial: {trial['state']}")
        approved = _call(
            client, "POST", f"/api/v1/store/vendor/trials/{trial['id']}/approve", vendor_token
        )
        out.trial_state_after = approved["state"]
        entitlements = _call(client, "GET", "/api/v1/store/entitlements", buyer_token)
        out.entitlement = next((e for e in entitlements if e["listing_key"] == APP_ID), {})
        events = _call(client, "GET", f"/api/v1/store/events/{trial['id']}", buyer_token)
        out.audit = [e["to_state"] for e in events]
        console.print(
            f"the vendor approves it: {approved['state']}; entitlement "
            f"{out.entitlement.get('kind')} for {out.entitlement.get('study_cap')} studies "
            f"until {str(out.entitlement.get('expires_at'))[:10]}"
        )
    return out


def check(found: StoreDemo | None) -> tuple[str, bool, str]:
    """``--check``: the vendor was approved and published, the hospital found the app by
    facet, its trial went from requested to approved, and a capped entitlement exists."""
    name = "store: vendor publishes, hospital finds by facet, trial approved"
    if found is None:
        return name, False, "the store chapter did not run"
    ok = (
        found.vendor_status == "approved"
        and found.published_version == "1.0.0"
        and found.found_by_facet
        and found.trial_state_requested == "requested"
        and found.trial_state_after == "approved"
        and found.entitlement.get("kind") == "trial"
        and found.entitlement.get("study_cap") == 200
        and found.audit == ["requested", "approved"]
    )
    detail = (
        f"vendor {found.vendor_status}, found by facet: {found.found_by_facet}, trial "
        f"{found.trial_state_requested} → {found.trial_state_after}, entitlement "
        f"{found.entitlement.get('kind')} cap {found.entitlement.get('study_cap')}"
    )
    return name, ok, detail
