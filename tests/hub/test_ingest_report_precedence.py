"""A study's dose at the hub does not depend on whether its header-only record or its
report's record came first (issue 9): a report's events replace the header-derived
events of the same kind, and a late header-only record does not add them back."""

from __future__ import annotations

import random

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from medcoop.hub.db.models import IrradiationEventRow, Study
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.records import DoseTotals, SourceKind
from tests.hub.conftest import auth, make_tenant
from tests.hub.factories import batch_json, ct_event, record


def _held(app: FastAPI, study_uid: str) -> tuple[float | None, int | None, dict[str, str]]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        study = session.scalars(select(Study).where(Study.study_uid == study_uid)).one()
        rows = session.execute(
            select(IrradiationEventRow.event_uid, IrradiationEventRow.source).where(
                IrradiationEventRow.study_id == study.id
            )
        ).all()
        return study.total_dlp_mgycm, study.number_of_events, dict(rows)


@pytest.mark.parametrize("order", ["header_first", "report_first"])
def test_report_events_replace_header_events_in_either_order(
    app: FastAPI, client: TestClient, order: str
) -> None:
    tenant = make_tenant(app, "Alpha")
    rng = random.Random(9)
    spiral = ct_event(rng)
    header = spiral.model_copy(
        update={"event_uid": f"2.25.{rng.getrandbits(100)}", "source": SourceKind.IMAGE_HEADER,
                "dlp_mgycm": None}
    )  # fmt: skip
    header_only = record(
        rng, events=(header,), totals=DoseTotals(number_of_events=1), sources=("image_header",)
    )
    report_events = (ct_event(rng), spiral)
    report = record(
        rng,
        study_uid=header_only.study_uid,
        events=report_events,
        pseudonym=header_only.patient.pseudonym,
        sources=("image_header", "rdsr"),
    )
    records = [header_only, report] if order == "header_first" else [report, header_only]
    for rec in records:
        response = client.post(
            "/api/v1/ingest", content=batch_json([rec]), headers=auth(tenant.site_token)
        )
        assert response.status_code == 200, response.text
    total, count, events = _held(app, report.study_uid)
    assert events == {e.event_uid: "rdsr" for e in report_events}
    assert count == 2
    assert total == pytest.approx(report.totals.total_dlp_mgycm)
