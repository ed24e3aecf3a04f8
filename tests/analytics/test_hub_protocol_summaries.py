"""Protocol summaries and the studies' exam type and protocol columns kept by ingest:
equal to recomputing from the rows through merged reports, re-sends and a rebuild; the
protocols page's summaries agree with the exact ones."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from medcoop.analytics.protocols import protocol_of, protocol_values, summarise_protocols
from medcoop.analytics.query import study_row
from medcoop.analytics.sketches import DoseSketch
from medcoop.hub.db.analytics_models import ProtocolCell
from medcoop.hub.db.models import Device, Study
from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
from medcoop.hub.services.analytics import load_records, own_protocols, summaries
from medcoop.sim import Fleet
from tests.hub.conftest import make_tenant

from .factories import ingest_via_api
from .test_hub_summaries import _fleet_records

Cells = dict[tuple[str, str, str, str, int], DoseSketch]


def _cells(app: FastAPI) -> Cells:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        keys = dict(session.execute(select(Device.id, Device.device_key)).all())
        found = {}
        for row in session.execute(select(ProtocolCell)).scalars():
            sketch = DoseSketch.from_bytes(row.sketch)
            assert row.n == sketch.count
            if sketch.count:
                key = (str(row.site_id), keys[row.device_id], row.protocol, row.quantity, row.month)
                found[key] = sketch
        return found


def _from_rows(app: FastAPI) -> Cells:
    values: dict[tuple[str, str, str, str, int], list[float]] = defaultdict(list)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for site, loaded in load_records(session):
            name = protocol_of(loaded)
            if not name:
                continue
            month = 0  # protocol summaries are kept over all time
            for quantity, value in protocol_values(loaded):
                key = (str(site), loaded.device.device_key, name, quantity, month)
                values[key].append(value)
    found = {}
    for key, got in values.items():
        found[key] = DoseSketch()
        found[key].add_many(got)
    return found


def _labels(app: FastAPI) -> dict[str, tuple[str | None, str | None]]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        rows = session.execute(select(Study.study_uid, Study.exam_type, Study.protocol))
        return {uid: (exam, protocol) for uid, exam, protocol in rows}


def _row_labels(app: FastAPI) -> dict[str, tuple[str | None, str | None]]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        rows = [study_row(r, site_id=str(s)) for s, r in load_records(session)]
    return {r["study_uid"]: (r["exam_type"], r["protocol"]) for r in rows}


def _assert_same(stored: Cells, expected: Cells) -> None:
    assert set(stored) == set(expected)
    for key, sketch in expected.items():
        assert stored[key].same_counts(sketch), key


def test_protocol_summaries_equal_the_rows_a_rebuild_and_the_exact_summary(
    app: FastAPI, client: TestClient
) -> None:
    fleet = Fleet(seed=5, sites=("Proto Alpha", "Proto Beta"), split_reports=0.5)
    by_site = _fleet_records(fleet, 240)
    tenants = {name: make_tenant(app, name) for name in by_site}
    for name, studies in by_site.items():
        firsts = [parts[0] for parts in studies]
        laters = [p for parts in studies for p in parts[1:]]
        # later reports: half merged within the first batch, half in a later one
        ingest_via_api(client, tenants[name], firsts + laters[::2])
        ingest_via_api(client, tenants[name], laters[1::2])
    stored = _cells(app)
    assert {key[3] for key in stored} >= {"studies", "acquisitions", "kvp", "ctdivol_mgy"}
    _assert_same(stored, _from_rows(app))
    # the studies' exam type and protocol columns (the table's SQL filters) are the rows'
    labels = _labels(app)
    assert labels == _row_labels(app) and {p for _, p in labels.values()} - {None}
    # re-sending everything changes nothing; a rebuild finds what ingest kept, and gives
    # studies stored before the columns existed their labels
    for name, studies in by_site.items():
        ingest_via_api(client, tenants[name], [p for parts in studies for p in parts])
    _assert_same(_cells(app), stored)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        session.execute(update(Study).values(exam_type=None, protocol=None))
        session.commit()
        summaries.rebuild(session)
    _assert_same(_cells(app), stored)
    assert _labels(app) == labels
    # what the protocols page shows, from the cells, against the exact summary of the rows
    tenant = tenants["Proto Alpha"]
    with app.state.session_factory() as session:
        scope_session(session, tenant.org_id)
        kept = own_protocols(session)
        loaded = [r for _, r in load_records(session)]
    exact = summarise_protocols(loaded)
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for study in loaded:
        for quantity, value in protocol_values(study):
            values[(protocol_of(study) or "", quantity)].append(value)
    assert kept.keys() == exact.keys() and len(kept) >= 3
    for name, summary in exact.items():
        got = kept[name]
        assert (got.n_studies, got.n_acquisitions) == (summary.n_studies, summary.n_acquisitions)
        assert (got.modality, got.body_region) == (summary.modality, summary.body_region)
        assert got.quantities.keys() == summary.quantities.keys()
        for quantity, distribution in summary.quantities.items():
            found = got.quantities[quantity]
            assert found.n == distribution.n
            # the sketch's rank rule is DDSketch's (the lower value), within its 1 %
            for q, value in ((0.25, found.p25), (0.5, found.median), (0.75, found.p75)):
                lower = float(np.quantile(values[(name, quantity)], q, method="lower"))
                assert value == pytest.approx(lower, rel=0.0101), (name, quantity, q)
