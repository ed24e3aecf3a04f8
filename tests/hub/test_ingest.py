"""POST /api/v1/ingest: idempotent, atomic, validated, normalised into tables."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from medcoop.hub.app import create_app
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.models import (
    Device,
    IrradiationEventRow,
    Patient,
    RecordReceipt,
    Role,
    Study,
    Token,
    UsageFact,
)
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.settings import HubSettings
from medcoop.records import SCHEMA_VERSION, UsageFacts
from tests.hub.conftest import auth, make_tenant
from tests.hub.factories import batch_json, ct_event, record

TABLES = (Study, IrradiationEventRow, UsageFact, Device, Patient, RecordReceipt)


def _counts(app: FastAPI) -> dict[str, int]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in TABLES
        }


def _study(app: FastAPI, study_uid: str) -> Study:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return session.scalars(select(Study).where(Study.study_uid == study_uid)).one()


def _event_uids(app: FastAPI, study_id: object) -> dict[str, float | None]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        rows = session.execute(
            select(IrradiationEventRow.event_uid, IrradiationEventRow.dlp_mgycm).where(
                IrradiationEventRow.study_id == study_id
            )
        )
        return dict(rows.all())


def test_batch_lands_in_tables_and_replay_changes_nothing(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(1)
    records = [record(rng, device_key=f"device-key-{i % 3:04d}") for i in range(20)]
    body = batch_json(records)
    first = client.post("/api/v1/ingest", content=body, headers=auth(tenant.site_token))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["schema_version"] == SCHEMA_VERSION
    assert answer["received"] == 20
    assert answer["new"] == [r.record_key for r in records]
    assert answer["duplicate"] == []
    counts = _counts(app)
    assert counts["studies"] == 20
    assert counts["irradiation_events"] == sum(len(r.events) for r in records)
    assert counts["devices"] == 3
    assert counts["patients"] == 20
    assert counts["usage_facts"] == 20
    again = client.post("/api/v1/ingest", content=body, headers=auth(tenant.site_token))
    assert again.status_code == 200
    assert again.json()["new"] == []
    assert again.json()["duplicate"] == [r.record_key for r in records]
    assert _counts(app) == counts


def test_values_are_stored_with_their_units(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    sent = record(random.Random(2))
    response = client.post(
        "/api/v1/ingest", content=batch_json([sent]), headers=auth(tenant.site_token)
    )
    assert response.status_code == 200
    study = _study(app, sent.study_uid)
    assert study.total_dlp_mgycm == pytest.approx(sent.totals.total_dlp_mgycm)
    assert study.study_at == sent.study_at
    assert study.age_years == sent.patient.age_years
    assert study.sex == sent.patient.sex.value
    stored = _event_uids(app, study.id)
    assert stored == {e.event_uid: pytest.approx(e.dlp_mgycm) for e in sent.events}


def test_later_record_with_superset_replaces_events_and_totals(
    app: FastAPI, client: TestClient
) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(3)
    first_events = (ct_event(rng), ct_event(rng))
    first = record(rng, events=first_events)
    # A cumulative RDSR later: the same two events (one corrected) plus a third.
    corrected = first_events[0].model_copy(update={"dlp_mgycm": 999.0})
    later_events = (corrected, first_events[1], ct_event(rng))
    later = record(
        rng, study_uid=first.study_uid, events=later_events, pseudonym=first.patient.pseudonym
    )
    for rec in (first, later):
        response = client.post(
            "/api/v1/ingest", content=batch_json([rec]), headers=auth(tenant.site_token)
        )
        assert response.status_code == 200
        assert response.json()["new"] == [rec.record_key]
    study = _study(app, first.study_uid)
    assert study.record_key == later.record_key
    assert study.total_dlp_mgycm == pytest.approx(later.totals.total_dlp_mgycm)
    assert study.number_of_events == 3
    events = _event_uids(app, study.id)
    assert set(events) == {e.event_uid for e in later_events}
    assert events[corrected.event_uid] == 999.0
    assert _counts(app)["studies"] == 1


def test_disjoint_record_adds_events_and_grows_totals(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(4)
    first = record(rng, events=(ct_event(rng), ct_event(rng)))
    extra = record(
        rng,
        study_uid=first.study_uid,
        events=(ct_event(rng),),
        usage=UsageFacts(mpps_status="COMPLETED", image_count=50),
    )
    # Both in one batch: the second updates the study the first creates.
    response = client.post(
        "/api/v1/ingest", content=batch_json([first, extra]), headers=auth(tenant.site_token)
    )
    assert response.status_code == 200
    study = _study(app, first.study_uid)
    expected = first.totals.total_dlp_mgycm + extra.events[0].dlp_mgycm
    assert study.total_dlp_mgycm == pytest.approx(expected)
    assert study.number_of_events == 3
    assert len(_event_uids(app, study.id)) == 3
    # An older, partial record arriving late changes no totals and loses no event.
    stale = record(rng, study_uid=first.study_uid, events=first.events[:1])
    response = client.post(
        "/api/v1/ingest", content=batch_json([stale]), headers=auth(tenant.site_token)
    )
    assert response.json()["new"] == [stale.record_key]
    after = _study(app, first.study_uid)
    assert after.total_dlp_mgycm == pytest.approx(expected)
    assert len(_event_uids(app, study.id)) == 3
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        usage = session.scalars(select(UsageFact)).one()
    assert usage.mpps_status == "COMPLETED"
    assert usage.image_count == 350


def _post(client: TestClient, body: bytes | str, token: str) -> object:
    return client.post(
        "/api/v1/ingest",
        content=body,
        headers={**auth(token), "Content-Type": "application/json"},
    )


def test_bad_record_is_named_and_nothing_is_written(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(5)
    payload = json.loads(batch_json([record(rng) for _ in range(5)]))
    payload["records"][3]["events"][0]["ctdivol_mgy"] = -1
    before = _counts(app)
    response = _post(client, json.dumps(payload), tenant.site_token)
    assert response.status_code == 422
    assert response.json()["record_index"] == 3
    assert "ctdivol_mgy" in json.dumps(response.json()["detail"])
    assert _counts(app) == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{not json", "json"),
        ('{"schema_version": "2.0", "sent_at": "2026-01-01T00:00:00Z", "records": []}', "2.0"),
        ('{"sent_at": "2026-01-01T00:00:00Z", "records": []}', "records"),
    ],
)
def test_malformed_batches_are_refused_clearly(
    app: FastAPI, client: TestClient, body: str, needle: str
) -> None:
    tenant = make_tenant(app, "Alpha")
    response = _post(client, body, tenant.site_token)
    assert response.status_code == 422
    assert needle in json.dumps(response.json()).lower()
    assert _counts(app)["record_receipts"] == 0


def test_oversized_bodies_and_batches_get_413(settings: HubSettings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 100_000, "max_records_per_batch": 3})
    app = create_app(small)
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(6)
    with TestClient(app) as client:
        too_many = _post(client, batch_json([record(rng) for _ in range(4)]), tenant.site_token)
        assert too_many.status_code == 413
        assert "limit is 3" in too_many.json()["detail"]
        huge = batch_json([record(rng) for _ in range(3)]) + b" " * 100_000
        assert _post(client, huge, tenant.site_token).status_code == 413
    assert _counts(app)["studies"] == 0
    app.state.engine.dispose()


def test_tokens_that_may_not_ingest_get_401(app: FastAPI, client: TestClient) -> None:
    tenant = make_tenant(app, "Alpha")
    body = batch_json([record(random.Random(7))])
    assert _post(client, body, "").status_code == 401
    assert client.post("/api/v1/ingest", content=body).status_code == 401
    assert _post(client, body, "mcs_unknown").status_code == 401
    assert _post(client, body, tenant.tokens[Role.ORG_ADMIN]).status_code == 401
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(
            update(Token)
            .where(Token.site_id == tenant.site_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    expired = _post(client, body, tenant.site_token)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(
            update(Token)
            .where(Token.site_id == tenant.site_id)
            .values(expires_at=None, revoked_at=utcnow())
        )
        session.commit()
    revoked = _post(client, body, tenant.site_token)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    assert _counts(app)["studies"] == 0


def test_rate_limit_answers_429_with_retry_after(settings: HubSettings) -> None:
    limited = settings.model_copy(update={"ingest_rate_per_s": 0.01, "ingest_burst": 2})
    app = create_app(limited)
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(8)
    with TestClient(app) as client:
        codes = [_post(client, batch_json([record(rng)]), tenant.site_token) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1
    assert _counts(app)["studies"] == 2
    app.state.engine.dispose()


def test_tenants_are_independent(app: FastAPI, client: TestClient) -> None:
    alpha = make_tenant(app, "Alpha")
    beta = make_tenant(app, "Beta")
    body = batch_json([record(random.Random(9))])
    assert _post(client, body, alpha.site_token).json()["duplicate"] == []
    # The same content from another organisation is new there, and stored separately.
    assert _post(client, body, beta.site_token).json()["duplicate"] == []
    assert _counts(app)["studies"] == 2
    listing = client.get("/api/v1/studies", headers=auth(alpha.tokens[Role.VIEWER])).json()
    assert listing["total"] == 1


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("totals", "number_of_events"), 2**40),
        (("totals", "total_dlp_mgycm"), "Infinity"),
        (("totals", "total_dlp_mgycm"), "1e999"),
        (("study_description",), '"CT\\u0000CHEST"'),
    ],
)
def test_values_the_database_cannot_hold_get_422(
    app: FastAPI, client: TestClient, path: tuple[str, ...], value: object
) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(10)
    body = batch_json([record(rng), record(rng)]).decode()
    payload = json.loads(body)
    target = payload["records"][1]
    for key in path[:-1]:
        target = target[key]
    marker = "__VALUE__"
    target[path[-1]] = marker
    raw = json.dumps(payload).replace(f'"{marker}"', str(value))
    response = _post(client, raw, tenant.site_token)
    assert response.status_code == 422, response.text
    assert response.json()["record_index"] == 1
    assert _counts(app)["studies"] == 0


def test_unstorable_value_scan_skips_hex_text_but_not_numbers() -> None:
    from medcoop.hub.services.ingest.batch import _may_hold_unstorable

    # hex pseudonyms and keys hold "e105"-like runs: no reason for the slow walk
    assert not _may_hold_unstorable(b'{"pseudonym": "a7e1057a9b05e123", "x": 1e99}')
    for body in (b'{"a": 1e999}', b'{"a":[1,2E+308]}', b'{"a": -1.5e400 }', b'{"a":NaN}'):
        assert _may_hold_unstorable(body), body
    assert _may_hold_unstorable(b'{"s": "CT\\u0000"}')
