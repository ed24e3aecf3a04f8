"""The ledger's dashboard pages, and receipt verification in a real browser (Chromium)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.api.ledger import ledger_for
from medcoop.hub.db.access import Actor, Purpose
from medcoop.hub.db.models import Role
from medcoop.hub.db.tenancy import concerns, pooled
from medcoop.hub.settings import HubSettings
from medcoop.ledger.checkpoint import verify_checkpoint
from medcoop.ledger.entries import canonical_json
from medcoop.ledger.note import ALG_COSIGNATURE, generate_signer
from tests.hub.conftest import auth, make_tenant
from tests.ledger.conftest import LedgerHub
from tests.ledger.factories import consent

WITNESS = generate_signer("hospital.test/witness", alg=ALG_COSIGNATURE)
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def db_url(tmp_path: Path) -> str:  # pages read the same store on both back ends: SQLite
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> HubSettings:
    return HubSettings(
        database_url=db_url,
        ledger_origin="medcoop.test/ledger",
        ledger_key_path=str(tmp_path / "ledger.key"),
        ledger_witnesses=(WITNESS.verifier.to_string(),),
        notifier_enabled=False,
        ledger_access_flush_s=30,
    )


def _cosign(ledger: Any, base: Any) -> None:
    checkpoint = verify_checkpoint(ledger.checkpoint(), ledger.verifier())
    line = WITNESS.signature_line(checkpoint.body(), timestamp=1_780_000_000)
    answer = base.post("/api/v1/ledger/cosignatures", json={"size": checkpoint.size, "line": line})
    assert answer.status_code == 200, answer.text


def test_pages_show_the_log_its_witnesses_and_a_patients_accesses(
    app: FastAPI, client: TestClient
) -> None:
    alpha = make_tenant(app, "Alpha")
    ledger = ledger_for(app)
    site = str(alpha.site_id)
    (index,) = ledger.append([canonical_json(consent(7, site=site))])
    with app.state.session_factory() as session:
        pooled(session, Purpose.PEER_BENCHMARK, actor=Actor("app:dose-qa", site))
        concerns(session, pseudonyms=[f"{7:032x}"])
    app.state.access_log.flush()
    _cosign(ledger, client)

    assert client.get("/ledger", follow_redirects=False).status_code == 303  # sign in first
    viewer = auth(alpha.tokens[Role.VIEWER])
    home = client.get("/ledger", headers=viewer)
    assert home.status_code == 200
    assert "Verified here: signed by the log's key and co-signed by 1 witness" in home.text
    assert "hospital.test/witness" in home.text and site in home.text
    entries = client.get("/ledger/entries", params={"kind": "access"}, headers=viewer)
    assert entries.status_code == 200 and "app:dose-qa" in entries.text
    assert "pooling deny" not in entries.text  # the filter kept consent entries out

    receipt = client.get(f"/api/v1/ledger/receipts/{index}").text
    mine = client.post("/ledger/mine", data={"receipt": receipt})
    assert mine.status_code == 200, mine.text
    assert "app:dose-qa" in mine.text and "peer-benchmark" in mine.text
    forged = receipt.replace('\\"pooling\\":\\"deny\\"', '\\"pooling\\":\\"permit\\"')
    assert forged != receipt
    assert client.post("/ledger/mine", data={"receipt": forged}).status_code == 400
    check = client.post("/api/v1/ledger/receipts/verify", json={"receipt": forged}).json()
    assert check["valid"] is False
    assert client.post("/api/v1/ledger/receipts/verify",
                       json={"receipt": receipt}).json()["witnesses"] == [WITNESS.name]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LedgerHub]:
    with LedgerHub(tmp_path / "hub", (WITNESS.verifier.to_string(),), tmp_path / "k") as hub:
        yield hub


def test_a_receipt_verifies_in_the_browser_and_a_tampered_one_fails(live: LedgerHub) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    ledger = live.ledger
    ledger.append([canonical_json(consent(n)) for n in range(5)])
    with httpx.Client(base_url=live.url) as base:
        _cosign(ledger, base)
        receipt = base.get("/api/v1/ledger/receipts/2").text
    ledger.append([canonical_json(consent(n)) for n in range(5, 8)])  # the log grows on
    data = json.loads(receipt)
    tampered = {
        "entry": json.dumps({**data, "entry": data["entry"].replace("deny", "permit")}),
        "proof": json.dumps({**data, "inclusion_proof": data["inclusion_proof"][::-1]}),
        "checkpoint": json.dumps(
            {**data, "checkpoint": data["checkpoint"].replace("\n5\n", "\n6\n")}
        ),
    }
    problems: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def check(text: str) -> tuple[str, str, str]:
            page.goto(live.url + "/ledger/verify")
            page.fill("#receipt-text", text)
            page.click("#verify")
            page.wait_for_selector("#result[data-outcome]")
            return (page.get_attribute("#result", "data-outcome") or "",
                    page.inner_text("#result"), page.inner_text("#steps"))

        outcome, said, steps = check(receipt)
        assert outcome == "verified", (said, steps)
        assert "pooling deny" in said
        assert "Ed25519 here" in steps  # Chromium has Ed25519 in WebCrypto: no server step
        assert f"co-signed by witness {WITNESS.name}" in steps
        assert "still in today's log of 8 entries" in steps
        for what, text in tampered.items():
            outcome, said, _ = check(text)
            assert outcome == "failed", what
        browser.close()
    assert problems == []
