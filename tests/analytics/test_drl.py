"""National DRLs (packaged copy of the shared table), local DRLs (ICRP 135), comparisons."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pytest

from medcoop.analytics.drl import (
    DoseObservation,
    compare_with_drls,
    load_national_drls,
    local_drls,
    observations_from_record,
)
from medcoop.hub.presenters import drl_status
from medcoop.records import DoseTotals, EventKind, IrradiationEvent, StudyRecord

from .factories import KEY, ct_event, record


def test_packaged_table_is_an_exact_copy_of_the_shared_reference(reference_dir: Path) -> None:
    packaged = resources.files("medcoop.analytics.data").joinpath("drl.csv").read_bytes()
    assert packaged == (reference_dir / "drl" / "drl.csv").read_bytes()


def test_every_row_loads_with_its_source_and_si_value(reference_dir: Path) -> None:
    entries = load_national_drls()
    with (reference_dir / "drl" / "drl.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    extra = resources.files("medcoop.analytics.data").joinpath("drl_extra.csv").read_text()
    rows += list(csv.DictReader(extra.splitlines()))
    assert len(rows) == 58 + 6
    assert len(entries) == len(rows)
    for entry, row in zip(entries, rows, strict=True):
        assert entry.value_si == float(row["value_si"])
        assert entry.source == row["source"] and entry.source
        assert entry.source_id == row["source_id"]


def test_scope_and_phantom_are_read_from_the_table() -> None:
    entries = {(e.source_id, e.exam_type, e.quantity, e.scope): e for e in load_national_drls()}
    uk_head_dlp = entries[("UK-NDRL-2024", "ct_head", "dlp", "per_exam")]
    assert uk_head_dlp.value_si == 790 and uk_head_dlp.scope_stated
    assert uk_head_dlp.phantom == "head16" and not uk_head_dlp.phantom_stated
    fr_head = entries[("FR-2011", "ct_head", "ctdivol", "per_acquisition")]
    assert fr_head.value_si == 65 and fr_head.phantom == "head16" and fr_head.phantom_stated
    fr_chest_dap = entries[("FR-2011", "dx_chest_pa", "dap", "per_projection")]
    assert fr_chest_dap.value_si == 0.25 and fr_chest_dap.unit_si == "Gy.cm2"
    assert entries[("FR-2011", "ct_chest", "dlp", "per_acquisition")].phantom == "body32"


def test_an_unmapped_exam_is_a_clear_error() -> None:
    text = resources.files("medcoop.analytics.data").joinpath("drl.csv").read_text()
    header = text.splitlines()[0]
    bad = header + "\nXX,X,x,CT,Elbow,,adult,DLP,1,mGy.cm,1,mGy.cm,x,2020,x,\n"
    with pytest.raises(ValueError, match="line 2: no exam type"):
        load_national_drls(bad)


def test_observations_keep_scope_and_phantom_apart() -> None:
    study = record(
        "1.1",
        events=(
            ct_event("1.1.1", 10.0, 300.0, protocol="Chest"),
            ct_event("1.1.2", 12.0, 200.0, protocol="Chest"),
        ),
    )
    obs = list(observations_from_record(study, site_id="s1", exam_type="ct_chest"))
    per_acq = [o.value for o in obs if o.scope == "per_acquisition" and o.quantity == "ctdivol"]
    per_exam = [o.value for o in obs if o.scope == "per_exam"]
    assert per_acq == [10.0, 12.0] and per_exam == [500.0]
    mixed = record(
        "1.2",
        events=(ct_event("1.2.1", 40, 600, ctdi_phantom="head16"), ct_event("1.2.2", 10, 300)),
    )
    mixed_obs = list(observations_from_record(mixed, site_id="s1", exam_type="ct_head"))
    assert not [o for o in mixed_obs if o.scope == "per_exam"]


def test_projection_dap_per_projection_and_per_exam() -> None:
    events = tuple(
        IrradiationEvent(
            event_uid=KEY.remap_uid(f"2.1.{i}"), kind=EventKind.PROJECTION, dap_gycm2=dap
        )
        for i, dap in enumerate((0.1, 0.3))
    )
    study = record("2.1", modality="DX", events=events, totals=DoseTotals(total_dap_gycm2=0.4))
    obs = list(observations_from_record(study, site_id="s", exam_type="dx_chest_pa"))
    assert sorted((o.scope, o.value) for o in obs) == [
        ("per_exam", 0.4),
        ("per_projection", 0.1),
        ("per_projection", 0.3),
    ]


def _obs(site: str, value: float, *, phantom: str | None = "head16", device: str = "d1"):
    return DoseObservation(site, device, "Head", "ct_head", "dlp", "per_exam", phantom, value, "x")


def test_median_above_the_national_drl_is_flagged() -> None:
    entries = [e for e in load_national_drls() if e.source_id == "UK-NDRL-2024"]
    # site A: 10 studies around 900 (> 790), site B: 10 around 700
    values = [_obs("A", 850 + 10 * i) for i in range(10)] + [
        _obs("B", 650 + 10 * i) for i in range(10)
    ]
    # body-phantom values must not be compared with a head DRL
    values += [_obs("A", 5000, phantom="body32") for _ in range(10)]
    result = {c.group: c for c in compare_with_drls(values, entries, min_n=10)}
    assert set(result) == {("A",), ("B",)}
    assert result[("A",)].median == pytest.approx(895) and result[("A",)].exceeds
    assert result[("A",)].ratio_to_drl == pytest.approx(895 / 790)
    assert not result[("B",)].exceeds and result[("B",)].n == 10
    assert "UKHSA" in result[("A",)].entry.source


def test_groups_below_min_n_are_not_compared_and_grouping_by_device_works() -> None:
    entries = [e for e in load_national_drls() if e.source_id == "UK-NDRL-2024"]
    values = [_obs("A", 800, device="d1")] * 10 + [_obs("A", 100, device="d2")] * 3
    result = compare_with_drls(values, entries, group_by=("site_id", "device_key"), min_n=10)
    assert [c.group for c in result] == [("A", "d1")]


def test_local_drl_is_p75_of_site_medians_and_achievable_dose_their_median() -> None:
    site_medians = {"s1": 100.0, "s2": 200.0, "s3": 300.0, "s4": 400.0, "s5": 500.0}
    values = []
    for site, median in site_medians.items():
        # 11 values symmetric around the median: median is exact
        values += [_obs(site, median + delta) for delta in range(-5, 6)]
    values += [_obs("tiny", 10_000.0)] * 3  # too few values: left out
    (drl,) = local_drls(values, min_values_per_site=10, min_sites=5)
    assert drl.n_sites == 5 and drl.n_values == 55
    assert drl.drl == pytest.approx(400.0) and drl.achievable_dose == pytest.approx(300.0)
    assert local_drls(values, min_values_per_site=10, min_sites=6) == []


# --- CT acquisition types: what per-acquisition DRLs are defined for ---------------------

_LOCALIZER = "Constant Angle Acquisition"
_SPIRAL = "Spiral Acquisition"


def _chest_study(number: int, spiral_ctdivol: float) -> StudyRecord:
    return record(
        f"1.2.9.{number}",
        description="CT chest",
        events=(
            ct_event(f"1.2.9.{number}.1", 0.18, 6.0, acquisition_type=_LOCALIZER),
            ct_event(f"1.2.9.{number}.2", 0.2, 6.5, acquisition_type=_LOCALIZER),
            ct_event(f"1.2.9.{number}.3", spiral_ctdivol, 330.0, acquisition_type=_SPIRAL),
        ),
    )


def test_localizers_are_not_compared_with_per_sequence_ctdivol_drls() -> None:
    # the demo's case: two localizers a study beside one spiral above the UK DRL (8.5 mGy)
    entries = [e for e in load_national_drls() if e.source_id == "UK-NDRL-2024"]
    values = [
        ob
        for n in range(12)
        for ob in observations_from_record(
            _chest_study(n, 9.0 + n / 10), site_id="A", exam_type="ct_chest"
        )
    ]
    ctdivol = [c for c in compare_with_drls(values, entries) if c.entry.quantity == "ctdivol"]
    assert len(ctdivol) == 1
    assert ctdivol[0].n == 12 and ctdivol[0].median == pytest.approx(9.55)
    assert ctdivol[0].exceeds  # with the localizers in, the median was 0.2 mGy: "ok"
    assert "localizers" in ctdivol[0].entry.acquisitions
    assert "spiral" in ctdivol[0].entry.acquisitions
    # the complete examination's DLP keeps every acquisition
    dlp = [c for c in compare_with_drls(values, entries) if c.entry.scope == "per_exam"]
    assert dlp[0].median == pytest.approx(342.5)


def test_stationary_and_free_acquisitions_and_helical_only_rows() -> None:
    from medcoop.analytics.drl import acquisition_class

    assert [
        acquisition_class(t)
        for t in (
            "Constant Angle Acquisition",
            "Spiral Acquisition",
            "Sequenced Acquisition",
            "Stationary Acquisition",
            "Free Acquisition",
            "TOPOGRAM",
            None,
            "something else",
        )
    ] == [
        "constant_angle", "spiral", "sequenced", "stationary", "free", "constant_angle",
        None, None,
    ]
    entries = {(e.source_id, e.exam, e.quantity): e for e in load_national_drls()}
    chest = entries[("UK-NDRL-2024", "Chest", "ctdivol")]
    hr = entries[("UK-NDRL-2024", "Chest - high resolution", "ctdivol")]
    assert chest.acquisition_classes == {"spiral", "sequenced", None}
    assert hr.acquisition_classes == {"spiral", None}  # the table says "Helical"
    assert entries[("UK-NDRL-2024", "Chest", "dlp")].acquisition_classes == frozenset()
    perfusion = record(
        "1.2.9.99",
        events=(ct_event("1.2.9.99.1", 150.0, 1200.0, acquisition_type="Stationary Acquisition"),),
    )
    obs = list(observations_from_record(perfusion, site_id="A", exam_type="ct_chest"))
    per_acq = [o for o in obs if o.scope == "per_acquisition"]
    assert {o.acquisition_class for o in per_acq} == {"stationary"}
    assert compare_with_drls(per_acq * 10, [chest]) == []
    assert local_drls(
        [
            DoseObservation(
                s, "d", None, "ct_chest", "ctdivol", "per_acquisition", "body32", 150.0, "x",
                "stationary",
            )
            for s in "ABCDE"
            for _ in range(10)
        ]
    ) == []


def test_a_study_ctdivol_for_alerts_and_benchmarks_leaves_localizers_out() -> None:
    from medcoop.analytics.alerts import study_metric

    study = record(
        "1.2.9.50",
        events=(
            ct_event("1.2.9.50.1", 0.3, 6.0, acquisition_type=_LOCALIZER),
            ct_event("1.2.9.50.2", 9.16, 330.0, acquisition_type=_SPIRAL),
        ),
    )
    assert study_metric(study, "ctdivol") == pytest.approx(9.16)
    only_localizer = record(
        "1.2.9.51", events=(ct_event("1.2.9.51.1", 0.3, 6.0, acquisition_type=_LOCALIZER),)
    )
    assert study_metric(only_localizer, "ctdivol") is None


# --- mammography: the packaged table beside the shared one ---------------------------------


def _mg_view(uid: str, agd: float, view: str, thickness: float) -> IrradiationEvent:
    return IrradiationEvent(
        event_uid=KEY.remap_uid(uid),
        kind=EventKind.MAMMOGRAPHY,
        agd_mgy=agd,
        view=view,
        laterality="L",
        compressed_thickness_mm=thickness,
    )


def test_mammography_drls_are_packaged_with_their_sources() -> None:
    mg = [e for e in load_national_drls() if e.modality == "MG"]
    assert len(mg) == 6 and all("doi:10.1371/journal.pone.0294541" in e.source for e in mg)
    by_band = {(e.view, e.thickness_mm): e.value_si for e in mg}
    assert by_band[("CC", (40.0, 59.0))] == 1.78 and by_band[("MLO", (60.0, 99.0))] == 2.22
    assert {e.exam_type for e in mg} == {"mg_screening"}
    assert {(e.quantity, e.scope, e.unit_si) for e in mg} == {("agd", "per_projection", "mGy")}
    assert mg[0].acquisitions == "CC views, compressed breast thickness 7-39 mm"
    # published 2024 (PLoS ONE 19(8)); values from the abstract only, and marked so
    assert {(e.source_id, e.year) for e in mg} == {("UG-NDRL-2024", 2024)}
    assert all("unverified" in e.status and "tables not read" in e.status for e in mg)
    assert {drl_status(e.status) for e in mg} == {"in force, unverified"}
    assert drl_status(load_national_drls()[0].status) == "in force"  # the UK's, checked


def test_mammography_agd_is_compared_per_view_and_thickness_band() -> None:
    from medcoop.analytics.exam_types import classify_record

    entries = [e for e in load_national_drls() if e.modality == "MG"]
    studies = [
        record(
            f"1.2.8.{n}",
            modality="MG",
            description="Screening Mammography",
            events=(
                _mg_view(f"1.2.8.{n}.1", 1.9 + n / 100, "cranio-caudal", 52.0),
                _mg_view(f"1.2.8.{n}.2", 1.5, "medio-lateral oblique", 55.0),
                _mg_view(f"1.2.8.{n}.3", 9.0, "cranio-caudal", 75.0),  # another band
                _mg_view(f"1.2.8.{n}.4", 9.0, "spot compression", 52.0),  # not a DRL view
            ),
        )
        for n in range(10)
    ]
    assert {classify_record(s).key for s in studies} == {"mg_screening"}  # type: ignore[union-attr]
    values = [
        ob
        for s in studies
        for ob in observations_from_record(s, site_id="A", exam_type="mg_screening")
    ]
    found = {(c.entry.view, c.entry.thickness_mm): c for c in compare_with_drls(values, entries)}
    assert set(found) == {("CC", (40.0, 59.0)), ("MLO", (40.0, 59.0)), ("CC", (60.0, 99.0))}
    cc = found[("CC", (40.0, 59.0))]
    assert cc.n == 10 and cc.median == pytest.approx(1.945) and cc.exceeds  # DRL 1.78 mGy
    assert not found[("MLO", (40.0, 59.0))].exceeds  # 1.5 against 1.87 mGy
