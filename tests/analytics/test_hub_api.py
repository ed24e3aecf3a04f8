"""The hub's analytics endpoints end to end: real app, real database, real ingest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medcoop.hub.db.models import Role
from medcoop.records import DoseTotals, UsageFacts
from tests.hub.conftest import Tenant, auth, make_tenant

from .factories import ct_event, ingest_via_api, record

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
PHYSICIST = Role.MEDICAL_PHYSICIST


def _head_study(tenant: str, i: int, dlp: float, *, description: str = "CT Head"):
    start = T0 + timedelta(minutes=30 * i)
    return record(
        f"{tenant}.{i}",
        patient=f"{tenant}-p{i}",
        device_key=f"device-{tenant}-ct1",
        description=description,
        study_at=start,
        events=(
            ct_event(
                f"{tenant}.{i}.1", dlp / 15, dlp, ctdi_phantom="head16", protocol="Routine head"
            ),
        ),
        totals=DoseTotals(total_dlp_mgycm=dlp),
        usage=UsageFacts(
            first_acquisition_at=start,
            last_acquisition_at=start + timedelta(minutes=10),
            performed_protocol="Routine head",
        ),
    )


@pytest.fixture
def pool(app: FastAPI, client: TestClient) -> list[Tenant]:
    """Six hospitals: A (high doses) and five peers, all with 12 CT head studies."""
    tenants = [make_tenant(app, f"Hosp{letter}") for letter in "ABCDEF"]
    medians = [900, 500, 600, 700, 800, 1000]
    for tenant, median, letter in zip(tenants, medians, "ABCDEF", strict=True):
        studies = [_head_study(letter, i, median + 10 * (i - 6)) for i in range(12)]
        if letter in "AB":  # only two sites do CT chest: never enough peers
            studies += [
                _head_study(f"{letter}c", i, 300, description="CT Chest") for i in range(12)
            ]
        ingest_via_api(client, tenant, studies)
    return tenants


def test_drl_comparison_flags_the_site_above_the_national_drl(
    client: TestClient, pool: list[Tenant]
) -> None:
    a = pool[0]
    answer = client.get(
        "/api/v1/analytics/drl",
        params={"site_id": str(a.site_id), "source_id": "UK-NDRL-2024"},
        headers=auth(a.tokens[PHYSICIST]),
    )
    assert answer.status_code == 200, answer.text
    rows = {(r["exam_type"], r["quantity"], r["scope"]): r for r in answer.json()}
    head_dlp = rows[("ct_head", "dlp", "per_exam")]
    assert head_dlp["n"] == 12 and head_dlp["median"] == pytest.approx(895.0)
    assert head_dlp["drl_value"] == 790 and head_dlp["exceeds"] is True
    assert "UKHSA" in head_dlp["source"]
    # CTDIvol per sequence = DLP / 15 → median 59.7 mGy > 47 mGy
    assert rows[("ct_head", "ctdivol", "per_acquisition")]["exceeds"] is True


def test_peer_benchmark_is_k_anonymous_and_never_lets_a_tenant_see_another(
    client: TestClient, pool: list[Tenant]
) -> None:
    a, b = pool[0], pool[1]
    params = {"site_id": str(a.site_id), "exam_type": "ct_head", "metric": "dlp"}
    answer = client.get(
        "/api/v1/analytics/benchmark", params=params, headers=auth(a.tokens[PHYSICIST])
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["peers"]["n_sites"] == 5 and body["peers"]["n_studies"] == 60
    # peer medians 495, 595, 695, 795, 995 → quartiles 595, 695, 795 (±1 %)
    assert body["peers"]["site_median_quartiles"] == pytest.approx([595, 695, 795], rel=0.011)
    assert body["own_median"] == pytest.approx(895, rel=0.011)
    assert body["percentile_rank"] == pytest.approx(4 / 5)
    # narrowing to the only country leaves no complement: refused, same answer
    narrowed = client.get(
        "/api/v1/analytics/benchmark",
        params={**params, "country": "GB"},
        headers=auth(a.tokens[PHYSICIST]),
    ).json()
    assert narrowed["narrowed_by"] == {} and narrowed["peers"] == body["peers"]
    # every device is of class "CT": the complement is empty, so the filter is refused too
    by_class = client.get(
        "/api/v1/analytics/benchmark",
        params={**params, "device_class": "CT"},
        headers=auth(a.tokens[PHYSICIST]),
    ).json()
    assert by_class["narrowed_by"] == {} and by_class["peers"] == body["peers"]
    assert any("device_class=CT not applied" in n for n in by_class["notes"])
    # CT chest: one peer site only → suppressed, nothing about it shows
    chest = client.get(
        "/api/v1/analytics/benchmark",
        params={**params, "exam_type": "ct_chest"},
        headers=auth(a.tokens[PHYSICIST]),
    ).json()
    assert chest["peers"] is None and chest["percentile_rank"] is None
    # another tenant's site looks like no site at all
    other = client.get(
        "/api/v1/analytics/benchmark",
        params={**params, "site_id": str(b.site_id)},
        headers=auth(a.tokens[PHYSICIST]),
    )
    assert other.status_code == 404


def test_roles_without_study_access_are_refused(client: TestClient, pool: list[Tenant]) -> None:
    a = pool[0]
    answer = client.get(
        "/api/v1/analytics/drl",
        params={"site_id": str(a.site_id)},
        headers=auth(a.tokens[Role.PLATFORM_ADMIN]),
    )
    assert answer.status_code == 403
    assert (
        client.get("/api/v1/analytics/drl", params={"site_id": str(a.site_id)}).status_code == 401
    )


def test_utilization_of_a_site(client: TestClient, pool: list[Tenant]) -> None:
    a = pool[0]
    answer = client.get(
        "/api/v1/analytics/utilization",
        params={"site_id": str(a.site_id), "first_day": "2026-03-02", "last_day": "2026-03-02"},
        headers=auth(a.tokens[PHYSICIST]),
    )
    assert answer.status_code == 200, answer.text
    devices = {d["device_key"]: d for d in answer.json()}
    assert set(devices) == {"device-A-ct1", "device-Ac-ct1"}
    device = devices["device-A-ct1"]
    # 12 exams of 10 min every 30 min from 08:00 UTC (= local, offset 0)
    assert device["exams"] == 12 and device["median_duration_min"] == 10
    assert device["median_change_min"] == 20 and device["available_min"] == 600
    assert device["occupancy"] == pytest.approx(120 / 600)
    assert device["by_protocol"] == {"Routine head": {"exams": 12, "median_duration_min": 10.0}}
    assert sum(device["heatmap"][0]) == 12 and device["heatmap"][0][8] == 2
    bad = client.get(
        "/api/v1/analytics/utilization",
        params={"site_id": str(a.site_id), "first_day": "2026-03-05", "last_day": "2026-03-02"},
        headers=auth(a.tokens[PHYSICIST]),
    )
    assert bad.status_code == 400
    zoned = client.get(
        "/api/v1/analytics/utilization",
        params={
            "site_id": str(a.site_id),
            "first_day": "2026-03-02",
            "last_day": "2026-03-02",
            "opens": "08:00:00+02:00",
            "closes": "18:00:00+02:00",
        },
        headers=auth(a.tokens[PHYSICIST]),
    )
    assert zoned.status_code == 200 and zoned.json()[0]["available_min"] == 600


def test_cli_views_print_the_hub_answers(client: TestClient, pool: list[Tenant]) -> None:
    from rich.console import Console

    from medcoop.hub import views_cli

    a = pool[0]
    client.headers["Authorization"] = f"Bearer {a.tokens[PHYSICIST]}"
    console = Console(record=True, width=200)
    rows = views_cli.show_dose(client, console, str(a.site_id), source_id="UK-NDRL-2024")
    views_cli.show_benchmark(client, console, str(a.site_id), exam_type="ct_head", metric="dlp")
    views_cli.show_usage(
        client, console, str(a.site_id), first_day=date(2026, 3, 2), last_day=date(2026, 3, 2)
    )
    text = console.export_text()
    assert rows and "above DRL" in text and "peer site medians" in text
    assert "device-A-ct1" in text and "Above 80% of peer sites' medians." in text


def test_cli_views_take_sites_by_name_and_print_json_and_csv(
    client: TestClient, pool: list[Tenant]
) -> None:
    import csv
    import io
    import json

    import typer
    from rich.console import Console

    from medcoop.hub import views_cli
    from medcoop.output import OutputFormat

    a = pool[0]
    client.headers["Authorization"] = f"Bearer {a.tokens[PHYSICIST]}"
    assert views_cli.resolve_site(client, "hosPA general") == (str(a.site_id), "HospA General")
    assert views_cli.resolve_site(client, str(a.site_id))[1] == "HospA General"
    with pytest.raises(typer.BadParameter, match="no single site"):
        views_cli.resolve_site(client, "HospB General")  # another tenant's: not seen
    console = Console(record=True, width=200)
    rows = views_cli.show_dose(
        client, console, str(a.site_id), source_id="UK-NDRL-2024", output=OutputFormat.JSON
    )
    data = json.loads(console.export_text())
    assert data["title"] == "DRL comparison, HospA General"
    assert [r["median"] for r in data["rows"]] == [r["median"] for r in rows]
    assert {r["drl_status"] for r in data["rows"]} == {"in force"}
    console = Console(record=True, width=200)
    views_cli.show_benchmark(
        client, console, str(a.site_id), exam_type="ct_head", metric="dlp", output=OutputFormat.CSV
    )
    table = list(csv.DictReader(io.StringIO(console.export_text())))
    assert table[0]["group"] == "this site" and table[0]["unit"] == "mGy·cm"
    assert float(table[0]["median"]) > 800


def test_study_query_filters_sorts_pages_and_exports_csv(
    client: TestClient, pool: list[Tenant]
) -> None:
    a = pool[0]
    headers = auth(a.tokens[PHYSICIST])
    page = client.get(
        "/api/v1/analytics/studies",
        params={"exam_type": "ct_head", "sort": "-total_dlp_mgycm", "limit": 5},
        headers=headers,
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 12 and len(body["items"]) == 5
    assert [r["total_dlp_mgycm"] for r in body["items"]] == [950, 940, 930, 920, 910]
    assert {r["site_id"] for r in body["items"]} == {str(a.site_id)}  # never another tenant's
    chest = client.get(
        "/api/v1/analytics/studies",
        params={"body_region": "chest", "format": "csv"},
        headers=headers,
    )
    assert chest.headers["content-type"].startswith("text/csv")
    lines = chest.text.strip().splitlines()
    assert lines[0].startswith("study_uid,site_id") and len(lines) == 13
    bad = client.get("/api/v1/analytics/studies", params={"sort": "patient_name"}, headers=headers)
    assert bad.status_code == 422


def test_patient_history_is_cumulative_and_tenant_scoped(
    client: TestClient, pool: list[Tenant]
) -> None:
    a, b = pool[0], pool[1]
    pseudonym = _head_study("A", 3, 100).patient.pseudonym
    answer = client.get(
        f"/api/v1/analytics/patients/{pseudonym}/history", headers=auth(a.tokens[PHYSICIST])
    )
    assert answer.status_code == 200, answer.text
    (point,) = answer.json()
    assert point["dlp_mgycm"] == 870 and point["cumulative_dlp_mgycm"] == 870
    other = client.get(
        f"/api/v1/analytics/patients/{pseudonym}/history", headers=auth(b.tokens[PHYSICIST])
    )
    assert other.status_code == 404


def test_device_class_narrowing_applies_when_both_sides_are_safe(
    app: FastAPI, client: TestClient
) -> None:
    from sqlalchemy import select

    from medcoop.hub.db.models import Device
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session

    tenants = [make_tenant(app, f"Class{i}") for i in range(11)]
    for i, tenant in enumerate(tenants):
        dlp = 400 if i % 2 else 800  # odd sites: class "CT-low", even: "CT-high"
        ingest_via_api(client, tenant, [_head_study(f"K{i}", n, dlp + n) for n in range(12)])
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        for device in session.scalars(select(Device)):
            number = int(device.device_key.split("-")[1][1:])
            device.device_class = "CT-low" if number % 2 else "CT-high"
        session.commit()
    asking = tenants[0]  # even: "CT-high"; peers 5 high + 5 low
    params = {
        "site_id": str(asking.site_id),
        "exam_type": "ct_head",
        "metric": "dlp",
        "device_class": "CT-low",
    }
    body = client.get(
        "/api/v1/analytics/benchmark", params=params, headers=auth(asking.tokens[PHYSICIST])
    ).json()
    assert body["narrowed_by"] == {"device_class": "CT-low"}
    assert body["peers"]["n_sites"] == 5 and body["peers"]["n_studies"] == 60
    assert body["peers"]["site_median_quartiles"][1] == pytest.approx(405.5, rel=0.011)
    assert body["own_n_studies"] == 0  # the asking site has no CT-low studies
