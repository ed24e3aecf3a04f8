"""Presenters: the views the CLI, the demo and the web pages print, from the API's JSON."""

from __future__ import annotations

from datetime import date

from medcoop.analytics.drl import load_national_drls
from medcoop.hub.presenters import (
    alerts_by_rule,
    alerts_view,
    benchmark_view,
    benchmarks_view,
    devices_view,
    drl_status,
    drl_view,
    studies_view,
    usage_view,
)


def _drl_row(source_id: str, status: str, exceeds: bool, unit: str = "mGy.cm") -> dict:
    return {
        "group": ["site-1"],
        "exam_type": "ct_head",
        "quantity": "dlp",
        "scope": "per_exam",
        "phantom": "head16",
        "n": 12,
        "median": 905.123,
        "p75": 960.0,
        "drl_value": 970.0,
        "unit": unit,
        "ratio_to_drl": 0.93312,
        "exceeds": exceeds,
        "source_id": source_id,
        "source": "a citation",
        "status": status,
        "acquisitions": "whole examination",
    }


def test_every_packaged_drl_set_has_a_plain_status() -> None:
    statuses = {entry.source_id: drl_status(entry.status) for entry in load_national_drls()}
    assert statuses["UK-NDRL-2024"] == "in force"
    assert statuses["FR-2011"] == "superseded"


def test_drl_view_names_groups_spells_units_and_marks_superseded_sets() -> None:
    rows = [
        _drl_row("UK-NDRL-2024", "national DRL (in force per page dated 2024-11-20)", False),
        _drl_row("FR-2011", "superseded national DRL (historical)", True),
    ]
    view = drl_view(rows, site="St Elsewhere", labels={"site-1": "St Elsewhere"})
    assert view.title == "DRL comparison, St Elsewhere"
    cells = view.cells()
    headers = [c.header for c in view.shown()]
    first = dict(zip(headers, cells[0], strict=True))
    second = dict(zip(headers, cells[1], strict=True))
    assert first["group"] == "St Elsewhere" and first["median"] == "905.1 mGy·cm"
    assert first["ratio"] == "0.93" and first["status"] == "in force"
    assert second["status"] == "superseded" and second["review"] == "above DRL"
    assert any("FR-2011 is a superseded DRL set" in note for note in view.notes)
    spiral = {**rows[0], "quantity": "ctdivol", "acquisitions": "spiral acquisitions (…)"}
    noted = drl_view([spiral], site="St Elsewhere").notes
    assert noted == ("ct_head: spiral acquisitions (…).",)
    # programs get the raw numbers, the unit and the status
    data = view.as_dict()["rows"][1]
    assert data["median"] == 905.123 and data["unit"] == "mGy·cm"
    assert data["drl_status"] == "superseded"


def test_usage_view_names_devices_and_keeps_their_keys_for_programs() -> None:
    row = {
        "device_key": "0123456789abcdef",
        "exams": 7,
        "median_duration_min": 12.345,
        "median_change_min": None,
        "exams_per_open_hour": 0.7,
        "occupancy": 0.456,
        "utilization": 0.5,
        "idle_min": 300.4,
    }
    view = usage_view(
        [row],
        site="County General",
        first_day=date(2026, 3, 2),
        last_day=date(2026, 3, 2),
        devices={"0123456789abcdef": "CT Acme Volta"},
    )
    assert view.title == "Utilization 2026-03-02, County General"
    assert view.cells()[0][:4] == ["CT Acme Volta (0123456789ab)", "7", "12.3", "–"]
    assert view.cells()[0][5] == "46%"
    assert view.as_dict()["rows"][0]["device_key"] == "0123456789abcdef"


def _answer(peers: bool) -> dict:
    return {
        "site_id": "s",
        "exam_type": "ct_head",
        "metric": "dlp",
        "own_n_studies": 12,
        "own_median": 905.0,
        "own_p75": 950.0,
        "peers": {
            "n_sites": 5,
            "n_studies": 60,
            "site_median_quartiles": [600.0, 700.0, 800.0],
            "pooled_quartiles": [590.0, 700.0, 810.0],
        }
        if peers
        else None,
        "percentile_rank": 0.8 if peers else None,
        "notes": [],
        "narrowed_by": {},
    }


def test_benchmark_views_print_units_and_suppression() -> None:
    view = benchmark_view(_answer(True), site="St Elsewhere")
    assert view.title == "Peer benchmark: ct_head dlp, St Elsewhere"
    assert view.cells()[1] == [
        "peer site medians",
        "60",
        "5",
        "600.0 mGy·cm",
        "700.0 mGy·cm",
        "800.0 mGy·cm",
    ]
    assert "Above 80% of peer sites' medians." in view.notes
    hidden = benchmark_view(_answer(False), site="St Elsewhere")
    assert "suppressed" in hidden.cells()[1][0]
    summary = benchmarks_view([_answer(True), _answer(False)], site="St Elsewhere")
    assert summary.cells()[0][3] == "905.0 mGy·cm" and summary.cells()[1][4] == "suppressed"


def _alert(i: int, rule: str) -> dict:
    return {
        "alert_key": f"{i:04x}",
        "kind": "threshold",
        "rule_id": rule,
        "study_uid": "2.25.1",
        "pseudonym": "ab" * 8,
        "metric": "dlp",
        "value": 1200.0,
        "threshold": 1000.0,
        "message": "DLP above 1000",
        "state": "open",
        "history": [],
        "opened_at": f"2026-03-02T08:{i:02d}:00Z",
        "notified_at": None,
        "notify_error": None,
    }


def test_alerts_view_is_one_page_of_the_whole_list() -> None:
    alerts = [_alert(i, "ct-dlp" if i % 2 else "fluoro") for i in range(5)]
    view = alerts_view(alerts[2:4], state="open", offset=2, total=5)
    assert view.page == (2, 2, 5)
    assert view.cells()[0][0] == "2026-03-02 08:02"
    assert alerts_by_rule(alerts) == {"ct-dlp": 2, "fluoro": 3}


def test_studies_view_takes_units_from_the_column_names() -> None:
    row = {
        "study_uid": "2.25.1",
        "site_id": "s",
        "device_key": "d",
        "modality": "CT",
        "study_at": "2026-03-02T08:00:00Z",
        "total_dlp_mgycm": 724.52,
        "max_ctdivol_mgy": 0.286,
        "total_dap_gycm2": None,
        "age_years": 54.4,
    }
    view = studies_view([row], columns=tuple(row), total=40)
    headers = [c.header for c in view.shown()]
    assert "study uid" not in headers and "total dlp (mGy·cm)" in headers
    cells = dict(zip(headers, view.cells()[0], strict=True))
    assert cells["total dlp (mGy·cm)"] == "724.5" and cells["max ctdivol (mGy)"] == "0.29"
    assert cells["total dap (Gy·cm²)"] == "–" and cells["age (y)"] == "54"
    assert view.as_dict()["rows"][0]["study_uid"] == "2.25.1"


def test_devices_are_listed_by_name() -> None:
    devices = [
        {"device_key": "k1", "display_name": "Room 3 CT", "modality": "CT"},
        {"device_key": "k2", "modality": "MG", "manufacturer": "Acme", "model": "Mammo 5"},
    ]
    view = devices_view(devices, site="St Elsewhere")
    assert [cells[0] for cells in view.cells()] == ["Room 3 CT", "MG Acme Mammo 5"]
