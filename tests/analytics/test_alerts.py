"""Alert rules (CT thresholds, cumulative fluoroscopy, outliers, Dose Check) and lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medcoop.analytics.alerts import (
    AlertKind,
    AlertRuleSet,
    AlertState,
    AlertTransitionError,
    CtThresholdRule,
    DoseCheckRule,
    FluoroCumulativeRule,
    OutlierRule,
    acknowledge,
    close,
    evaluate_study,
    open_alert,
)
from medcoop.records import DoseCheckNotice, DoseTotals, UsageFacts

from .factories import ct_event, record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fluoro(study: str, days: float, dap: float, rp: float, patient: str = "P9"):
    return record(
        study,
        modality="XA",
        patient=patient,
        study_at=T0 + timedelta(days=days),
        totals=DoseTotals(total_dap_gycm2=dap, total_rp_dose_mgy=rp),
    )


def test_ct_threshold_by_metric_protocol_and_region() -> None:
    study = record(
        "7.1",
        events=(
            ct_event("7.1.1", 30.0, 400.0, target_region="Abdomen"),
            ct_event("7.1.2", 12.0, 500.0, target_region="Abdomen"),
        ),
        usage=UsageFacts(performed_protocol="Abdomen routine"),
    )
    rules = [
        CtThresholdRule(rule_id="ctdi25", metric="ctdivol", threshold=25),
        CtThresholdRule(rule_id="dlp1000", metric="dlp", threshold=1000),
        CtThresholdRule(rule_id="dlp800-abd", metric="dlp", threshold=800, body_region="abdomen"),
        CtThresholdRule(rule_id="dlp800-head", metric="dlp", threshold=800, body_region="head"),
        CtThresholdRule(rule_id="other-proto", metric="ctdivol", threshold=1, protocol="Head"),
    ]
    found = {c.rule_id: c for c in evaluate_study(study, rules)}
    assert set(found) == {"ctdi25", "dlp800-abd"}
    assert found["ctdi25"].value == 30.0 and found["dlp800-abd"].value == 900.0
    assert found["ctdi25"].kind is AlertKind.CT_THRESHOLD


def test_fluoro_cumulative_fires_once_on_the_crossing_study() -> None:
    rule = FluoroCumulativeRule(rule_id="fluoro")  # 200 Gy·cm², 2000 mGy, 84 days
    history = [_fluoro("8.1", 0, 90.0, 600.0), _fluoro("8.2", 30, 80.0, 700.0)]
    crossing = _fluoro("8.3", 60, 50.0, 500.0)  # DAP 220 > 200; RP 1800 < 2000
    found = evaluate_study(crossing, [rule], history=history)
    assert [(c.metric, c.value) for c in found] == [("dap", 220.0)]
    later = _fluoro("8.4", 61, 10.0, 300.0)  # DAP already over; RP crosses 2000 now
    found = evaluate_study(later, [rule], history=[*history, crossing])
    assert [(c.metric, c.value) for c in found] == [("rp_dose", 2100.0)]


def test_fluoro_window_and_other_patients_are_respected() -> None:
    rule = FluoroCumulativeRule(rule_id="fluoro", window_days=84)
    old = _fluoro("8.5", 0, 150.0, 0.1)
    stranger = _fluoro("8.6", 80, 150.0, 0.1, patient="someone else")
    study = _fluoro("8.7", 85, 100.0, 0.1)  # the old study is 85 days back: out of window
    assert evaluate_study(study, [rule], history=[old, stranger]) == []
    inside = _fluoro("8.8", 83, 100.0, 0.1)
    assert len(evaluate_study(inside, [rule], history=[old, stranger])) == 1


def test_outlier_above_k_times_the_protocol_median() -> None:
    rule = OutlierRule(rule_id="out", metric="dlp", k=2.0)
    usage = UsageFacts(performed_protocol="Chest")
    high = record("9.1", events=(ct_event("9.1.1", 10, 650),), usage=usage)
    normal = record("9.2", events=(ct_event("9.2.1", 10, 590),), usage=usage)
    medians = {("Chest", "dlp"): 300.0}
    (hit,) = evaluate_study(high, [rule], protocol_medians=medians)
    assert hit.threshold == 600.0 and "2.2×" in hit.message
    assert evaluate_study(normal, [rule], protocol_medians=medians) == []
    assert evaluate_study(high, [rule], protocol_medians={}) == []


def test_dose_check_notices_raise_alerts() -> None:
    notices = (
        DoseCheckNotice(
            kind="notification", metric="ctdivol", configured_value=50, forward_estimate=60
        ),
        DoseCheckNotice(kind="alert", metric="dlp", configured_value=1000, forward_estimate=1200),
    )
    study = record("10.1", events=(ct_event("10.1.1", 60, 1200, dose_check=notices),))
    both = evaluate_study(study, [DoseCheckRule(rule_id="dc")])
    assert sorted(c.metric for c in both) == ["ctdivol", "dlp"]
    assert len({c.key for c in both}) == 2
    only_alerts = evaluate_study(study, [DoseCheckRule(rule_id="dc", include_notifications=False)])
    assert [c.value for c in only_alerts] == [1200.0]


def test_rule_sets_round_trip_as_json_and_bad_rules_are_refused() -> None:
    rules = AlertRuleSet(
        rules=(
            FluoroCumulativeRule(rule_id="f"),
            CtThresholdRule(rule_id="c", metric="dlp", threshold=900),
        )
    )
    again = AlertRuleSet.model_validate_json(rules.model_dump_json())
    assert again == rules and again.rules[0].dap_gycm2 == 200.0
    with pytest.raises(ValueError):
        AlertRuleSet.model_validate(
            {"rules": [{"type": "ct_threshold", "rule_id": "x", "metric": "dlp", "threshold": -1}]}
        )


def test_same_facts_give_the_same_key_and_messages_hold_no_identifiers() -> None:
    study = record("11.1", patient="SMITH^JOHN", events=(ct_event("11.1.1", 90, 100),))
    rule = CtThresholdRule(rule_id="r", metric="ctdivol", threshold=50)
    first, again = evaluate_study(study, [rule]), evaluate_study(study, [rule])
    assert first[0].key == again[0].key
    assert "SMITH" not in first[0].message and study.patient.pseudonym[:12] in first[0].message


def test_lifecycle_open_acknowledge_close() -> None:
    study = record("12.1", events=(ct_event("12.1.1", 90, 100),))
    (candidate,) = evaluate_study(
        study, [CtThresholdRule(rule_id="r", metric="ctdivol", threshold=50)]
    )
    alert = open_alert(candidate, at=T0)
    with pytest.raises(AlertTransitionError, match="a note is required"):
        acknowledge(alert, by="physicist", note="  ", at=T0)
    with pytest.raises(AlertTransitionError, match="needs a note"):
        close(alert, by="physicist", at=T0)
    acked = acknowledge(alert, by="physicist", note="obese patient, justified", at=T0)
    assert acked.state is AlertState.ACKNOWLEDGED and alert.state is AlertState.OPEN
    with pytest.raises(AlertTransitionError, match="not open"):
        acknowledge(acked, by="x", note="again", at=T0)
    closed = close(acked, by="physicist", at=T0 + timedelta(hours=1))
    assert [t.state for t in closed.history] == ["open", "acknowledged", "closed"]
    assert closed.history[1].note == "obese patient, justified"
    with pytest.raises(AlertTransitionError, match="already closed"):
        close(closed, by="x", at=T0, note="n")
    with pytest.raises(ValueError, match="timezone-aware"):
        open_alert(candidate, at=datetime(2026, 1, 1))
