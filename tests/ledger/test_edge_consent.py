"""Consent at the edge: a FHIR Consent becomes the latest decision and a receipt from the hub."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from medcoop.deid.pseudonym import SiteKey
from medcoop.edge.consent import (
    ConsentList,
    FhirConsentError,
    from_fhir_consent,
    site_of,
    submit_to_hub,
)
from medcoop.edge.store import EdgeStore
from medcoop.ledger.entries import Decision, parse_entry
from medcoop.ledger.receipt import verify_receipt
from tests.ledger.conftest import LedgerHub


def fhir_consent(kind: str, patient: str = "MRN-0042") -> dict[str, object]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"code": "research"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"identifier": {"system": "urn:oid:1.2.3.4", "value": patient}},
        "dateTime": "2026-11-30T10:00:00Z",
        "provision": {
            "type": kind,
            "period": {"start": "2026-12-01"},
            "actor": [{"reference": {"display": "registrar-7"}}],
            "purpose": [{"code": "HRESCH"}],
        },
    }


def _site_token(hub: LedgerHub) -> str:
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts

    with hub.app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        provisioned = accounts.provision_site(session, "Test Health", "Site", country="GB")
        session.commit()
    body = {"code": provisioned.enrollment_code, "edge_name": "edge"}
    response = httpx.post(hub.url + "/api/v1/enroll", json=body)
    response.raise_for_status()
    return str(response.json()["site_token"])


def test_a_fhir_denial_is_kept_locally_and_logged_with_a_receipt(tmp_path: Path) -> None:
    consents = ConsentList(EdgeStore(tmp_path / "edge.db"), SiteKey(b"s" * 32))
    with LedgerHub(tmp_path / "hub", (), tmp_path / "log.key") as hub:
        token = _site_token(hub)
        site = site_of(hub_url=hub.url, site_token=token)
        raw = json.dumps(fhir_consent("deny")).encode()
        entry = consents.record(from_fhir_consent(json.loads(raw), raw=raw), site=site)
        assert consents.is_opted_out(entry.pseudonym)
        assert "MRN-0042" not in entry.model_dump_json()
        (receipt,) = submit_to_hub([entry], hub_url=hub.url, site_token=token)
        result = verify_receipt(receipt, hub.ledger.verifier())
        assert result.entry == entry and result.entry.pooling is Decision.DENY
        permit = consents.record(from_fhir_consent(fhir_consent("permit")), site=site)
        assert not consents.is_opted_out(permit.pseudonym)
        (second,) = submit_to_hub([permit], hub_url=hub.url, site_token=token)
        assert second.index == receipt.index + 1
        assert parse_entry(hub.ledger.entry(second.index)) == permit
        foreign = permit.model_copy(update={"site": "another-site"})
        with pytest.raises(httpx.HTTPStatusError):
            submit_to_hub([foreign], hub_url=hub.url, site_token=token)


@pytest.mark.parametrize(
    "change",
    [
        {"resourceType": "Patient"},
        {"status": "draft"},
        {"provision": {"type": "maybe"}},
        {"patient": {}},
        {"dateTime": "not a date", "provision": {"type": "deny"}},
    ],
)
def test_unusable_fhir_consents_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(FhirConsentError):
        from_fhir_consent({**fhir_consent("deny"), **change})


def test_medcoop_edge_consent_deny_then_permit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from medcoop.cli import app as cli

    monkeypatch.chdir(tmp_path)
    with LedgerHub(tmp_path / "hub", (), tmp_path / "log.key") as hub:
        config = tmp_path / "edge.toml"
        config.write_text(
            f'name = "consenting"\n[stow]\nenabled = false\n[hub]\nurl = "{hub.url}"\n'
            f'site_token = "{_site_token(hub)}"\n[storage]\ndata_dir = "state"\n'
            f'min_free_bytes = 0\n[deid]\nkey_file = "site.key"\n'
        )
        runner = CliRunner()
        deny = runner.invoke(cli, ["edge", "consent", "deny", "MRN-7", "-c", str(config)])
        assert deny.exit_code == 0, deny.output
        receipt = tmp_path / "consent-receipt-0.json"
        assert "MRN-7" not in receipt.read_text()
        check = runner.invoke(cli, ["ledger", "receipt-check", str(receipt), "--log-key",
                                    hub.ledger.verifier().to_string()])
        assert check.exit_code == 0 and "valid" in check.output, check.output
        fhir = tmp_path / "consent.json"
        fhir.write_text(json.dumps(fhir_consent("permit", patient="MRN-7")))
        permit = runner.invoke(cli, ["edge", "consent", "permit", "--fhir", str(fhir),
                                     "-c", str(config)])
        assert permit.exit_code == 0 and "index 1" in permit.output, permit.output
        assert [parse_entry(hub.ledger.entry(i)).pooling for i in (0, 1)] == [
            Decision.DENY, Decision.PERMIT]
