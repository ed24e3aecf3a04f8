"""The fleet: determinism, coverage of modalities and devices, timing, truth consistency."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date, timedelta

import pytest

from medcoop.records import EventKind
from medcoop.sim import Fleet, SimStudy


@pytest.fixture(scope="module")
def studies() -> list[SimStudy]:
    return list(Fleet(seed=7).studies(400))


def _fingerprint(study: SimStudy) -> tuple[object, ...]:
    truth = study.truth
    return (
        truth.study_instance_uid,
        truth.patient.name,
        truth.accession_number,
        truth.started_at,
        tuple(e.event_uid for e in truth.events),
        truth.totals,
    )


def test_same_seed_gives_the_same_studies() -> None:
    first = [_fingerprint(s) for s in Fleet(seed=11).studies(60)]
    second = [_fingerprint(s) for s in Fleet(seed=11).studies(60)]
    assert first == second


def test_a_fleet_restarts_from_its_beginning_on_each_call() -> None:
    fleet = Fleet(seed=11)
    assert [_fingerprint(s) for s in fleet.studies(10)] == [
        _fingerprint(s) for s in fleet.studies(30)
    ][:10]


def test_different_seeds_give_different_studies() -> None:
    first = {s.truth.study_instance_uid for s in Fleet(seed=1).studies(20)}
    second = {s.truth.study_instance_uid for s in Fleet(seed=2).studies(20)}
    assert not first & second


def test_every_modality_and_site_appears(studies: list[SimStudy]) -> None:
    modalities = Counter(s.truth.modality for s in studies)
    assert set(modalities) == {"CT", "DX", "CR", "RF", "MG", "NM", "PT"}
    assert {s.site for s in studies} == {"St Elsewhere", "County General"}


def test_studies_come_out_in_start_order_and_devices_do_not_overlap(
    studies: list[SimStudy],
) -> None:
    starts = [s.truth.true_started_at for s in studies]
    assert starts == sorted(starts)
    by_device: dict[str, list[SimStudy]] = {}
    for study in studies:
        by_device.setdefault(study.device_key_hint, []).append(study)
    for device_studies in by_device.values():
        for earlier, later in itertools.pairwise(device_studies):
            offset = timedelta(seconds=earlier.truth.clock_offset_s)
            assert earlier.truth.ended_at - offset <= later.truth.true_started_at


def test_device_clock_offset_is_applied_to_written_times(studies: list[SimStudy]) -> None:
    for study in studies:
        truth = study.truth
        shift = (truth.started_at - truth.true_started_at).total_seconds()
        assert shift == pytest.approx(truth.clock_offset_s, abs=0.001)
    assert len({s.truth.clock_offset_s for s in studies}) > 5


def test_studies_start_on_the_fleet_start_date() -> None:
    study = next(Fleet(seed=3, start=date(2026, 3, 2)).studies(1))
    assert study.truth.true_started_at.date() == date(2026, 3, 2)


def test_totals_equal_the_sum_of_planted_events(studies: list[SimStudy]) -> None:
    for study in studies:
        truth = study.truth
        events = truth.events
        assert truth.totals.number_of_events == len(events) == truth.event_count
        dlps = [e.dlp_mgycm for e in events if e.dlp_mgycm is not None]
        daps = [e.dap_gycm2 for e in events if e.dap_gycm2 is not None]
        if dlps:
            assert truth.total_dlp_mgycm == pytest.approx(math.fsum(dlps))
        else:
            assert truth.total_dlp_mgycm is None
        if daps:
            assert truth.total_dap_gycm2 == pytest.approx(math.fsum(daps))
        fluoro = [e.fluoro_time_s or 0 for e in events if e.kind is EventKind.FLUOROSCOPY]
        if fluoro:
            assert truth.total_fluoro_time_s == pytest.approx(math.fsum(fluoro))


def test_event_uids_are_unique_across_the_fleet(studies: list[SimStudy]) -> None:
    uids = [e.event_uid for s in studies for e in s.truth.events]
    assert len(uids) == len(set(uids))
    study_uids = [s.truth.study_instance_uid for s in studies]
    assert len(study_uids) == len(set(study_uids))


def test_ct_doses_are_realistic(studies: list[SimStudy]) -> None:
    head_dlp = [s.truth.total_dlp_mgycm for s in studies if s.truth.protocol == "CT Head"]
    chest_dlp = [s.truth.total_dlp_mgycm for s in studies if s.truth.protocol == "CT Chest"]
    assert len(head_dlp) >= 10 and len(chest_dlp) >= 5
    head_median = sorted(head_dlp)[len(head_dlp) // 2]
    chest_median = sorted(chest_dlp)[len(chest_dlp) // 2]
    assert 550 < head_median < 1300
    assert 150 < chest_median < 600


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one site"):
        Fleet(sites=())
    with pytest.raises(ValueError, match="distinct"):
        Fleet(sites=("Alder", "Alder"))
    with pytest.raises(ValueError, match="3 characters"):
        Fleet(sites=("Alder", "Y"))
    with pytest.raises(ValueError, match="n must be"):
        list(Fleet().studies(-1))


def test_devices_start_studies_only_in_their_opening_hours() -> None:
    studies = list(Fleet(seed=13, start=date(2026, 1, 9)).studies(1500))  # a Friday
    assert {s.truth.true_started_at.weekday() for s in studies} >= {4, 5, 6, 0}
    for study in studies:
        device, started = study.device, study.truth.true_started_at
        open_hour, close_hour = device.opening_hours
        assert open_hour <= started.hour < close_hour, (device.key, started)
        assert device.weekends or started.weekday() < 5, (device.key, started)


def test_weekdays_are_busier_than_weekends() -> None:
    studies = list(Fleet(seed=13, start=date(2026, 1, 8)).studies(3000))  # a Thursday
    per_day = Counter(s.truth.true_started_at.date() for s in studies)
    complete_days = sorted(per_day)[:-1]  # the last day may be cut short by n
    weekday = [per_day[d] for d in complete_days if d.weekday() < 5]
    weekend = [per_day[d] for d in complete_days if d.weekday() >= 5]
    assert weekday and weekend
    assert min(weekday) > 2 * max(weekend)


def test_patients_come_back_and_sizes_are_plausible(studies: list[SimStudy]) -> None:
    visits = Counter(s.truth.patient.patient_id for s in studies)
    assert any(count > 1 for count in visits.values())
    for study in studies:
        patient = study.truth.patient
        assert 0 <= study.truth.age_years <= 100
        assert 0.45 <= patient.height_m <= 2.2
        assert 3 <= patient.weight_kg <= 250
        assert patient.patient_id.startswith(("SE", "CL"))


def test_mammography_patients_are_adult_women_and_others_both_sexes() -> None:
    from medcoop.records import Sex

    fleet = list(Fleet(seed=11).studies(1500))
    mammography = [s for s in fleet if s.device.kind == "mg"]
    assert len(mammography) >= 50
    for study in mammography:  # revisits included: a man seen on CT is never sent to MG
        assert study.truth.patient.sex is Sex.FEMALE
        assert 35 <= study.truth.age_years <= 91
    others = [s.truth.patient.sex for s in fleet if s.device.kind == "ct"]
    assert 0.35 < others.count(Sex.FEMALE) / len(others) < 0.7
    ages = sorted(s.truth.age_years for s in fleet if s.device.kind == "ct")
    assert 45 <= ages[len(ages) // 2] <= 75  # most imaging is of older patients


def test_a_study_ends_after_its_last_irradiation_ends(studies: list[SimStudy]) -> None:
    for study in studies:
        truth = study.truth
        for event in truth.events:
            assert truth.started_at <= event.started_at
            end = event.started_at + timedelta(seconds=event.duration_s or 0)
            assert end <= truth.ended_at, (study.device.kind, truth.protocol)
