"""The ledger's HTTP API on both back ends: tiles, checkpoint, appends by edges, cosignatures."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medcoop.hub.settings import HubSettings
from medcoop.ledger.checkpoint import verify_checkpoint
from medcoop.ledger.entries import canonical_json
from medcoop.ledger.merkle import leaf_hash, verify_inclusion
from medcoop.ledger.note import ALG_COSIGNATURE, Verifier, generate_signer
from medcoop.ledger.receipt import Receipt, verify_receipt
from medcoop.ledger.tiles import MemoryTiles, TileKey, tile_path
from tests.hub.conftest import auth, make_tenant
from tests.ledger.factories import consent

WITNESS = generate_signer("hospital.test/witness", alg=ALG_COSIGNATURE)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> HubSettings:
    return HubSettings(
        database_url=db_url,
        ledger_origin="medcoop.test/ledger",
        ledger_key_path=str(tmp_path / "ledger.key"),
        ledger_witnesses=(WITNESS.verifier.to_string(),),
        notifier_enabled=False,
    )


def test_edges_append_and_anyone_reads(app: object, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")  # type: ignore[arg-type]
    site = str(tenant.site_id)
    entries = [canonical_json(consent(i, site=site)).decode() for i in range(300)]
    body = {"entries": entries}
    assert client.post("/api/v1/ledger/entries", json=body).status_code == 401
    response = client.post("/api/v1/ledger/entries", json=body, headers=auth(tenant.site_token))
    assert response.status_code == 200, response.text
    assert response.json()["indices"] == list(range(300))
    other = {"entries": [canonical_json(consent(1, site="someone-else")).decode()]}
    denied = client.post("/api/v1/ledger/entries", json=other, headers=auth(tenant.site_token))
    assert denied.status_code == 403
    bad = client.post("/api/v1/ledger/entries", json={"entries": ["{}"]},
                      headers=auth(tenant.site_token))
    assert bad.status_code in (403, 422)

    key = Verifier.from_string(client.get("/log/key").text)
    checkpoint = client.get("/log/checkpoint")
    assert checkpoint.headers["cache-control"] == "no-cache"
    assert verify_checkpoint(checkpoint.content, key).size == 300
    memory = MemoryTiles()
    memory.append([e.encode() for e in entries])
    full = client.get("/log/" + tile_path(0, 0))
    assert full.headers["cache-control"].endswith("immutable")
    assert full.content == memory.tiles[TileKey(0, 0)]
    partial = client.get("/log/" + tile_path(0, 1, 44))
    assert partial.content == memory.tiles[TileKey(0, 1)]
    assert client.get("/log/" + tile_path(0, 1, 45)).status_code == 404
    assert client.get("/log/" + tile_path(0, 1)).status_code == 404  # not full yet
    assert client.get("/log/tile/0/x000/001").status_code == 400
    assert client.get("/log/tile/entries/001.p/44").status_code == 200

    proof = client.get("/api/v1/ledger/proofs/inclusion", params={"index": 299}).json()
    root = verify_checkpoint(checkpoint.content, key).root_hash
    leaf = leaf_hash(client.get("/api/v1/ledger/entries/299").json()["entry"].encode())
    verify_inclusion(299, 300, leaf, [base64.b64decode(p) for p in proof["proof"]], root)
    receipt = Receipt.from_json(client.get("/api/v1/ledger/receipts/12").content)
    assert verify_receipt(receipt, key).entry == consent(12, site=site)
    assert client.get("/api/v1/ledger/entries/300").status_code == 404


def test_the_hub_collects_cosignatures_from_its_witnesses(app: object, client: TestClient) -> None:
    tenant = make_tenant(app, "Beta")  # type: ignore[arg-type]
    entries = [canonical_json(consent(1, site=str(tenant.site_id))).decode()]
    client.post("/api/v1/ledger/entries", json={"entries": entries},
                headers=auth(tenant.site_token))
    key = Verifier.from_string(client.get("/log/key").text)
    checkpoint = verify_checkpoint(client.get("/log/checkpoint").content, key)
    line = WITNESS.signature_line(checkpoint.body(), timestamp=1_780_000_000)
    stranger = generate_signer("stranger.test/w", alg=ALG_COSIGNATURE)
    bad = stranger.signature_line(checkpoint.body(), timestamp=1)
    post = "/api/v1/ledger/cosignatures"
    assert client.post(post, json={"size": 1, "line": bad}).status_code == 422
    assert client.post(post, json={"size": 0, "line": line}).status_code == 422  # wrong body
    assert client.post(post, json={"size": 1, "line": line}).json() == {"witness": WITNESS.name}
    served = client.get("/log/checkpoint").content
    assert line.encode() in served and verify_checkpoint(served, key) == checkpoint


def test_schemathesis_finds_no_server_errors_in_the_ledger(app: object) -> None:
    import schemathesis

    from tests.hub.test_openapi import _fuzz

    tenant = make_tenant(app, "Fuzz")  # type: ignore[arg-type]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(("/api/v1/ledger", "/log/")):
            continue
        operations += 1
        try:
            _fuzz(operation, auth(tenant.site_token))
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert operations >= 8
    assert not failures, "\n\n".join(failures)
