"""Every read of pooled data becomes a ledger access entry, provable by inclusion."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medcoop.hub.api.ledger import ledger_for
from medcoop.hub.app import create_app
from medcoop.hub.db.access import Actor, Purpose
from medcoop.hub.db.models import Role, Study
from medcoop.hub.db.tenancy import concerns, pooled, scope_session
from medcoop.hub.services.ledger.access_log import PSEUDONYMS_PER_ENTRY
from medcoop.hub.settings import HubSettings
from medcoop.ledger.entries import AccessEntry, parse_entry
from medcoop.ledger.note import Verifier
from medcoop.ledger.receipt import Receipt, verify_receipt
from tests.hub.conftest import auth, make_tenant


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> HubSettings:
    return HubSettings(
        database_url=db_url,
        ledger_origin="medcoop.test/ledger",
        ledger_key_path=str(tmp_path / "ledger.key"),
        notifier_enabled=False,
        ledger_access_flush_s=30,  # the tests flush by hand
    )


def access_entries(app: FastAPI) -> list[tuple[int, AccessEntry]]:
    app.state.access_log.flush()
    ledger = ledger_for(app)
    found = []
    for index in range(ledger.size()):
        entry = parse_entry(ledger.entry(index))
        if isinstance(entry, AccessEntry):
            found.append((index, entry))
    return found


def test_each_pooled_endpoint_writes_an_entry_a_receipt_proves(
    app: FastAPI, client: TestClient
) -> None:
    alpha = make_tenant(app, "Alpha")
    headers = auth(alpha.tokens[Role.VIEWER])
    assert access_entries(app) == []  # provisioning reads nobody's data
    benchmark = client.get(
        "/api/v1/analytics/benchmark",
        params={"site_id": str(alpha.site_id), "exam_type": "ct_head"},
        headers=headers,
    )
    assert benchmark.status_code == 200, benchmark.text
    assert client.get("/api/v1/analytics/protocols", headers=headers).status_code == 200
    entries = access_entries(app)
    by_purpose = {e.purpose: (i, e) for i, e in entries}
    assert set(by_purpose) == {Purpose.PEER_BENCHMARK.value, Purpose.PROTOCOL_LIBRARY.value}
    assert len(entries) == 2  # one entry per read, however many statements it ran
    index, bench = by_purpose[Purpose.PEER_BENCHMARK.value]
    assert bench.organisation == str(alpha.org_id)
    assert bench.who.startswith("user:")
    assert "analytics_dose_summaries" in bench.scope
    assert bench.aggregate is not None and bench.aggregate.records == 0
    assert bench.pseudonyms == ()

    key = Verifier.from_string(client.get("/log/key").text)
    receipt = Receipt.from_json(client.get(f"/api/v1/ledger/receipts/{index}").content)
    assert verify_receipt(receipt, key).entry == bench


def test_administration_reads_of_patients_are_logged_and_pseudonyms_split(
    app: FastAPI,
) -> None:
    make_tenant(app, "Alpha")
    with app.state.session_factory() as session:
        pooled(session, Purpose.ADMINISTER)
        assert session.scalar(select(func.count()).select_from(Study)) == 0
    entries = access_entries(app)
    assert [(e.who, e.purpose, e.scope) for _, e in entries] == [
        ("platform", "administer", "select studies")
    ]
    many = [f"{n:064x}" for n in range(PSEUDONYMS_PER_ENTRY + 3)]
    app_run = Actor("app:7f", "org-test")
    with app.state.session_factory() as session:
        pooled(session, Purpose.PEER_BENCHMARK, actor=app_run)
        concerns(session, pseudonyms=many)
        concerns(session, pseudonyms=many[:2])  # named twice, logged once
    entries = access_entries(app)[1:]
    assert [len(e.pseudonyms) for _, e in entries] == [PSEUDONYMS_PER_ENTRY, 3]
    assert [p for _, e in entries for p in e.pseudonyms] == many
    assert {e.who for _, e in entries} == {"app:7f"}


def test_a_hub_logs_only_its_own_database(app: FastAPI, tmp_path: Path) -> None:
    other = create_app(HubSettings(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        ledger_key_path=str(tmp_path / "other.key"),
        notifier_enabled=False,
        ledger_access_flush_s=30,
    ))
    try:
        with other.state.session_factory() as session:
            pooled(session, Purpose.ADMINISTER)
            session.scalar(select(func.count()).select_from(Study))
        assert access_entries(app) == []
        assert len(access_entries(other)) == 1
    finally:
        other.state.access_log.close()
        other.state.engine.dispose()


def test_a_tenants_own_reads_are_not_access_entries(app: FastAPI) -> None:
    alpha = make_tenant(app, "Alpha")
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        session.scalar(select(func.count()).select_from(Study))
    assert access_entries(app) == []
