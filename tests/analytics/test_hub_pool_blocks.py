"""Pooled dose blocks: benchmark answers from blocks equal the answers from the cells, on
both back ends, through compaction, late updates to old months, emptied cells and rebuilds."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from medcoop.analytics.benchmarks import PeerBenchmark
from medcoop.analytics.sketches import DoseSketch
from medcoop.hub.db.analytics_models import DoseBlock, DoseSummary
from medcoop.hub.db.models import Device, Role, Site
from medcoop.hub.db.tenancy import ALL_TENANTS, TenantScopeError, scope_session
from medcoop.hub.services.analytics import peer_benchmark, summaries
from medcoop.hub.services.analytics.summaries import pooled
from medcoop.records import DoseTotals
from tests.hub.conftest import Tenant, auth, make_tenant

from .factories import ct_event, ingest_via_api, record

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
MONTHS = (202601, 202602, 202603)
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def _study(site: int, n: int, *, month: int, device: int, dlp: float, exam: str = "CT Head"):
    return record(
        f"5.{site}.{n}",
        patient=f"p{site}-{n}",
        device_key=f"device-{site}-{device}",
        description=exam,
        study_at=T0 + timedelta(days=31 * month, hours=n),
        events=(ct_event(f"5.{site}.{n}.1", dlp / 20, dlp, ctdi_phantom="head16"),),
        totals=DoseTotals(total_dlp_mgycm=dlp),
    )


@pytest.fixture
def pool(app: FastAPI, client: TestClient) -> list[Tenant]:
    """Seven sites, two CT devices each (classes CT-a and CT-b), studies over three months."""
    tenants = [make_tenant(app, f"Pool{i}") for i in range(7)]
    for i, tenant in enumerate(tenants):
        studies = [
            _study(i, n, month=n % 3, device=n % 2, dlp=300 + 40 * i + 7 * n) for n in range(18)
        ]
        if i == 2:  # the only study of its cell (moved away later)
            studies.append(_study(2, 99, month=0, device=7, dlp=520))
        ingest_via_api(client, tenant, studies)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for device in session.scalars(select(Device)):
            device.device_class = "CT-a" if device.device_key.endswith("-0") else "CT-b"
        for site in session.scalars(select(Site)):
            site.country = "FR" if site.name.startswith(("Pool0", "Pool1", "Pool2")) else "GB"
        session.commit()
    return tenants


QUERIES: list[dict] = [
    {},
    {"from_at": datetime(2026, 1, 1, tzinfo=UTC), "to_at": datetime(2026, 3, 1, tzinfo=UTC)},
    {"from_at": datetime(2026, 2, 5, tzinfo=UTC)},
    {"filters": {"device_class": "CT-a"}},
    {"filters": {"device_class": "CT-b"}, "from_at": datetime(2026, 2, 1, tzinfo=UTC)},
    {"filters": {"country": "GB"}},
]


def _answers(app: FastAPI, tenants: list[Tenant], *, use_blocks: bool) -> list[PeerBenchmark]:
    found = []
    for tenant in tenants[:3]:
        for query in QUERIES:
            with app.state.session_factory() as mine, app.state.session_factory() as other:
                scope_session(mine, tenant.org_id)
                found.append(
                    peer_benchmark(
                        mine,
                        other,
                        tenant.site_id,
                        exam_type="ct_head",
                        metric="dlp",
                        use_blocks=use_blocks,
                        **query,
                    )
                )
    return found


def _pooled(app: FastAPI, **options) -> summaries.PooledSketches:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return summaries.read_pooled(session, "ct_head", "dlp", None, **options)


def _compact(app: FastAPI, months=MONTHS, *, margin: timedelta = timedelta(0)) -> int:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return summaries.compact(session, "ct_head", "dlp", months, margin=margin)


def _from_cells(app: FastAPI, devices: set[uuid.UUID] | None = None) -> dict[str, DoseSketch]:
    """Per-site sketches merged one by one from the cells (independent of the blocks)."""
    merged: dict[str, DoseSketch] = defaultdict(DoseSketch)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for cell in session.scalars(
            select(DoseSummary).where(
                DoseSummary.exam_type == "ct_head", DoseSummary.metric == "dlp"
            )
        ):
            if devices is None or cell.device_id in devices:
                merged[str(cell.site_id)].merge(DoseSketch.from_bytes(cell.sketch))
    return merged


def _assert_pooled_equals_cells(app: FastAPI) -> None:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        class_a = set(session.scalars(select(Device.id).where(Device.device_class == "CT-a")))
    pooled = _pooled(app, device_ids=[d.bytes for d in class_a])
    for matrix, expected in (
        (pooled.per_site, _from_cells(app)),
        (pooled.in_class, _from_cells(app, class_a)),
    ):
        assert matrix is not None
        for site, sketch in expected.items():
            got = matrix.row(site)
            assert got.same_counts(sketch) and got.count == sketch.count, site
        assert {s for s, n in zip(matrix.ids, matrix.totals(), strict=True) if n} == {
            s for s, sketch in expected.items() if sketch.count
        }


def test_blocks_answer_like_the_cells_through_late_updates(
    app: FastAPI, client: TestClient, pool: list[Tenant]
) -> None:
    expected = _answers(app, pool, use_blocks=False)
    assert any(a.peers is not None for a in expected)
    assert any(a.narrowed_by.get("device_class") for a in expected)
    assert _compact(app) == 3
    read = _pooled(app)
    assert (read.blocks_read, read.cells_read, read.stale) == (3, 0, ())
    assert _answers(app, pool, use_blocks=True) == expected
    _assert_pooled_equals_cells(app)

    # late reports to the oldest month: a corrected dose, and a study moved to another
    # device and exam type, which leaves its old cell empty
    first, second = pool[1], pool[2]
    ingest_via_api(
        client,
        first,
        [
            record(
                "5.1.0",
                patient="p1-0",
                device_key="device-1-0",
                description="CT Head",
                study_at=T0,
                events=(
                    ct_event("5.1.0.1", 17.0, 340.0, ctdi_phantom="head16"),
                    ct_event("5.1.0.2", 30.0, 600.0, ctdi_phantom="head16"),
                ),
                totals=DoseTotals(total_dlp_mgycm=940.0),
            )
        ],
    )
    moved = _study(2, 99, month=0, device=9, dlp=380, exam="CT Chest")
    ingest_via_api(client, second, [moved])
    # and a new device's first January study: a cell the block never had
    ingest_via_api(client, pool[3], [_study(3, 98, month=0, device=5, dlp=410)])
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        emptied = session.scalars(select(DoseSummary).where(DoseSummary.n_studies == 0)).all()
    assert {(c.exam_type, c.metric, c.month) for c in emptied} == {
        ("ct_head", "dlp", 202601),
        ("ct_head", "ctdivol", 202601),
    }

    changed = _answers(app, pool, use_blocks=False)
    assert changed != expected
    read = _pooled(app)
    # only the three changed January cells (one of them now empty, one new)
    assert read.blocks_read == 3 and read.cells_read == 3
    assert _answers(app, pool, use_blocks=True) == changed
    _assert_pooled_equals_cells(app)
    # compacted again: the blocks alone answer
    _compact(app, [202601])
    assert _pooled(app).cells_read == 0
    assert _answers(app, pool, use_blocks=True) == changed
    _assert_pooled_equals_cells(app)

    # a rebuild of a site from its rows restamps its cells: still the same answers
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        summaries.rebuild(session, site_ids=[second.site_id])
    assert _pooled(app).cells_read > 0
    assert _answers(app, pool, use_blocks=True) == changed


def test_queries_compact_quiet_months_and_leave_busy_ones_to_the_cells(
    app: FastAPI, client: TestClient, pool: list[Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pooled, "_STALE_SITES_MIN", 2)  # seven sites: a real pool's share
    # just written: with the margin, every cell is newer than any block built now
    assert _compact(app, margin=summaries.BLOCK_MARGIN) == 3
    read = _pooled(app)
    assert read.blocks_read == 3 and read.cells_read == len(_all_cells(app))
    # a query compacts the months that are stale but quiet (seen from later on)
    later = datetime.now(UTC) + 2 * summaries.BLOCK_MARGIN
    assert _pooled(app, now=later).stale == MONTHS
    assert _pooled(app).stale == ()  # busy: a new block would be as stale at once
    # the endpoint's own compaction (nothing stale: blocks are kept as they are)
    tenant = pool[0]
    params = {"site_id": str(tenant.site_id), "exam_type": "ct_head", "metric": "dlp"}
    headers = auth(tenant.tokens[Role.MEDICAL_PHYSICIST])
    body = client.get("/api/v1/analytics/benchmark", params=params, headers=headers).json()
    assert body["peers"]["n_sites"] == 6
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        assert len(session.scalars(select(DoseBlock)).all()) == 3


def test_a_query_without_blocks_builds_them_for_the_next(
    app: FastAPI, client: TestClient, pool: list[Tenant]
) -> None:
    tenant = pool[0]
    params = {"site_id": str(tenant.site_id), "exam_type": "ct_head", "metric": "dlp"}
    headers = auth(tenant.tokens[Role.MEDICAL_PHYSICIST])
    client.get("/api/v1/analytics/benchmark", params=params, headers=headers)
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        # just written: a block now would hold nothing the cells do not answer
        assert session.scalars(select(DoseBlock)).all() == []
        session.execute(
            update(DoseSummary).values(updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
        session.commit()
    first = client.get("/api/v1/analytics/benchmark", params=params, headers=headers).json()
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        blocks = session.scalars(select(DoseBlock)).all()
    # written an hour ago: compacted by that query (at most 3 months a query)
    assert sorted(b.month for b in blocks) == list(MONTHS)
    assert all(b.n_sites == 7 and b.n_cells in (14, 15) for b in blocks)
    again = client.get("/api/v1/analytics/benchmark", params=params, headers=headers).json()
    assert again == first


def _all_cells(app: FastAPI) -> list[DoseSummary]:
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        return list(
            session.scalars(
                select(DoseSummary).where(
                    DoseSummary.exam_type == "ct_head", DoseSummary.metric == "dlp"
                )
            )
        )


def test_a_month_emptied_then_filled_again(
    app: FastAPI, client: TestClient, pool: list[Tenant]
) -> None:
    lone = _study(4, 97, month=5, device=0, dlp=450)  # the only study of June
    ingest_via_api(client, pool[4], [lone])
    assert _compact(app, [202606]) == 1
    # corrected to May: June keeps only an empty cell, and its block then nothing
    corrected = record(
        "5.4.97",
        patient="p4-97",
        device_key="device-4-0",
        description="CT Head",
        study_at=T0 + timedelta(days=120),
        events=(*lone.events, ct_event("5.4.97.2", 10.0, 200.0, ctdi_phantom="head16")),
        totals=DoseTotals(total_dlp_mgycm=650.0),
    )  # a cumulative report (more events) with the right date
    ingest_via_api(client, pool[4], [corrected])
    assert _compact(app, [202606]) == 1
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        june = session.get(DoseBlock, ("ct_head", "dlp", 202606))
        assert june is not None and (june.n_sites, june.n_cells) == (0, 0)
    ingest_via_api(client, pool[5], [_study(5, 97, month=5, device=1, dlp=470)])
    expected = _answers(app, pool, use_blocks=False)
    assert _answers(app, pool, use_blocks=True) == expected
    _assert_pooled_equals_cells(app)


def test_only_a_pool_session_reads_the_pool(app: FastAPI, pool: list[Tenant]) -> None:
    with app.state.session_factory() as session:
        scope_session(session, pool[0].org_id)
        with pytest.raises(TenantScopeError):
            summaries.read_pooled(session, "ct_head", "dlp", None)
        with pytest.raises(TenantScopeError):
            summaries.compact(session, "ct_head", "dlp", MONTHS)


def test_an_exam_type_nobody_does_is_suppressed(app: FastAPI, pool: list[Tenant]) -> None:
    with app.state.session_factory() as mine, app.state.session_factory() as other:
        scope_session(mine, pool[0].org_id)
        for use_blocks in (True, False):
            answer = peer_benchmark(
                mine,
                other,
                pool[0].site_id,
                exam_type="ct_chest",
                metric="dlp",
                use_blocks=use_blocks,
            )
            assert answer.peers is None and answer.own_n_studies == 0
