"""The edge's consent endpoint: the hospital posts decisions, the patient gets a printable,
verifiable receipt."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from medcoop.edge.config import HubSettings
from medcoop.edge.node import open_pipeline
from medcoop.edge.stow import create_stow_app
from medcoop.ledger.entries import Decision
from medcoop.ledger.receipt import Receipt, verify_receipt
from tests.edge.conftest import STOW_TOKEN, make_settings
from tests.ledger.conftest import LedgerHub
from tests.ledger.test_edge_consent import _site_token, fhir_consent

BEARER = {"Authorization": f"Bearer {STOW_TOKEN}"}


def test_decisions_posted_by_the_hospital_are_kept_logged_and_printable(tmp_path: Path) -> None:
    with LedgerHub(tmp_path / "hub", (), tmp_path / "log.key") as hub:
        settings = make_settings(
            tmp_path / "edge", HubSettings(url=hub.url, site_token=_site_token(hub))
        )
        store, pipeline = open_pipeline(settings)
        try:
            client = TestClient(create_stow_app(pipeline, settings.stow))
            plain = {"patient_id": "MRN-0042", "issuer": "urn:oid:1.2.3.4", "pooling": "deny"}
            assert client.post("/consent", json=plain).status_code == 401
            assert client.get("/consent/receipts/0").status_code == 401
            bad = client.post("/consent", json={"patient_id": "x", "pooling": "maybe"},
                              headers=BEARER)
            assert bad.status_code == 422 and "pooling" in bad.json()["detail"]

            denied = client.post("/consent", json=plain, headers=BEARER)
            assert denied.status_code == 201, denied.text
            body = denied.json()
            assert "MRN-0042" not in denied.text
            assert pipeline.consent.is_opted_out(body["pseudonym"])
            receipt = Receipt.from_json(json.dumps(body["receipt"]))
            result = verify_receipt(receipt, hub.ledger.verifier())
            assert result.entry.pooling is Decision.DENY  # type: ignore[union-attr]

            # the same patient's FHIR permit from the portal: a new entry, in force at once
            fhir = client.post("/consent", content=json.dumps(fhir_consent("permit")),
                               headers=BEARER)
            assert fhir.status_code == 201, fhir.text
            assert fhir.json()["pseudonym"] == body["pseudonym"]
            assert fhir.json()["index"] == body["index"] + 1
            assert not pipeline.consent.is_opted_out(body["pseudonym"])

            page = client.get(body["receipt_page"], headers=BEARER)
            assert page.status_code == 200
            assert "<svg" in page.text and "MRN-0042" not in page.text
            assert "deny" in page.text and hub.url in page.text
            printed = re.search(r"<pre id='receipt'>(.*?)</pre>", page.text, re.S)
            assert printed is not None
            kept = Receipt.from_json(html.unescape(printed.group(1)))
            assert verify_receipt(kept, hub.ledger.verifier()).entry == result.entry
            assert client.get("/consent/receipts/999", headers=BEARER).status_code == 404
        finally:
            store.close()


def test_a_decision_the_hub_cannot_take_is_still_in_force(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, HubSettings(url="http://127.0.0.1:9", site_token="token", timeout_s=2)
    )
    store, pipeline = open_pipeline(settings)
    try:
        client = TestClient(create_stow_app(pipeline, settings.stow))
        answer = client.post("/consent", json={"patient_id": "MRN-7", "pooling": "deny"},
                             headers=BEARER)
        assert answer.status_code == 502 and answer.json()["recorded"] is True
        assert pipeline.consent.is_opted_out(pipeline.consent.pseudonym_of("MRN-7"))
    finally:
        store.close()
