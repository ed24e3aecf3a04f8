"""A patient's denial removes what was already pooled, exactly, and the removal is logged."""

from __future__ import annotations

import random

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medcoop.hub.db.access import Purpose
from medcoop.hub.db.models import IrradiationEventRow, Patient, Role, Study
from medcoop.hub.db.tenancy import pooled, scope_session
from medcoop.hub.services.analytics import summaries
from medcoop.ledger.entries import AccessEntry, Decision, canonical_json, parse_entry
from medcoop.records import StudyRecord
from tests.analytics.factories import ingest_via_api
from tests.analytics.test_hub_summaries import _assert_same, _cells, _from_rows, _rebuild
from tests.hub.conftest import Tenant, auth, make_tenant
from tests.hub.factories import record
from tests.ledger.factories import consent

DENIER = "d" * 64
STAYS = "5" * 64


def _post_consent(client: TestClient, tenant: Tenant, decision: Decision) -> dict:
    entry = consent(0, site=str(tenant.site_id), decision=decision)
    entry = entry.model_copy(update={"pseudonym": DENIER})
    answer = client.post(
        "/api/v1/ledger/entries",
        json={"entries": [canonical_json(entry).decode()]},
        headers=auth(tenant.site_token),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _pooled_studies(app: FastAPI) -> int:
    """Studies in the pooled dose summaries (blocks and cells), as a benchmark reads them."""
    with app.state.session_factory() as session:
        pooled(session, Purpose.PEER_BENCHMARK)
        found = summaries.read_pooled(session, "ct_chest", "dlp", None)
        return int(found.per_site.totals().sum())


def _studies(app: FastAPI, pseudonym: str) -> int:
    with app.state.session_factory() as session:
        pooled(session, Purpose.ADMINISTER)
        return session.scalar(
            select(func.count()).select_from(Study).join(Patient, Patient.id == Study.patient_id)
            .where(Patient.pseudonym == pseudonym)
        ) or 0


def test_a_denial_removes_pooled_studies_exactly_and_is_logged(
    app: FastAPI, client: TestClient
) -> None:
    rng = random.Random(12)
    alpha = make_tenant(app, "Alpha")
    theirs = [record(rng, pseudonym=DENIER) for _ in range(3)]
    others = [record(rng, pseudonym=STAYS) for _ in range(4)]
    ingest_via_api(client, alpha, theirs + others)
    # a benchmark compacts the pooled blocks: the removal must reach through them too
    benchmark = client.get(
        "/api/v1/analytics/benchmark",
        params={"site_id": str(alpha.site_id), "exam_type": "ct_chest"},
        headers=auth(alpha.tokens[Role.VIEWER]),
    )
    assert benchmark.status_code == 200, benchmark.text
    assert _pooled_studies(app) == 7

    answer = _post_consent(client, alpha, Decision.DENY)
    assert _studies(app, DENIER) == 0
    assert _studies(app, STAYS) == 4
    assert _pooled_studies(app) == 4
    with app.state.session_factory() as session:
        scope_session(session, alpha.org_id)
        held = {e.study_id for e in session.scalars(select(IrradiationEventRow))}
        assert held == set(session.scalars(select(Study.id)))
    stored = _cells(app)
    _assert_same(stored, _from_rows(app))  # exactly the rows left
    _rebuild(app)
    _assert_same(_cells(app), stored)  # and what a rebuild gives

    # the decision, then the removal, are in the log
    (index,), (removal,) = answer["indices"], answer["removals"]
    assert removal == index + 1
    entry = parse_entry(client.get(f"/api/v1/ledger/entries/{removal}").json()["entry"].encode())
    assert isinstance(entry, AccessEntry)
    assert entry.pseudonyms == (DENIER,)
    assert entry.aggregate is not None and entry.aggregate.records == 3

    # a record already on its way is acknowledged and withheld; sending again is harmless
    late: StudyRecord = record(rng, pseudonym=DENIER)
    result = ingest_via_api(client, alpha, [late])
    assert result["withheld"] == [late.record_key] and result["new"] == []
    again = _post_consent(client, alpha, Decision.DENY)
    assert _studies(app, DENIER) == 0 and again["removals"] == []  # nothing left to remove

    # a new permit pools the next studies (the removed ones stay removed)
    _post_consent(client, alpha, Decision.PERMIT)
    assert ingest_via_api(client, alpha, [late])["new"] == [late.record_key]
    assert _studies(app, DENIER) == 1


def test_a_denial_before_any_study_refuses_the_first(app: FastAPI, client: TestClient) -> None:
    rng = random.Random(13)
    alpha = make_tenant(app, "Alpha")
    answer = _post_consent(client, alpha, Decision.DENY)
    assert answer["removals"] == []
    first = record(rng, pseudonym=DENIER)
    assert ingest_via_api(client, alpha, [first])["withheld"] == [first.record_key]
    assert _studies(app, DENIER) == 0
