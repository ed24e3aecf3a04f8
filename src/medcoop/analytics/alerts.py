"""Dose alerts: per-organisation rules, their evaluation, and an alert's lifecycle.

Rules are data (pydantic, JSON-serialisable, one list per organisation):

- :class:`CtThresholdRule`: a CT study above a CTDIvol (any acquisition) or DLP (study
  total) threshold, optionally only for one protocol or body region;
- :class:`FluoroCumulativeRule`: cumulative DAP and reference-point dose per patient
  pseudonym over a rolling window (OpenREM's defaults: 20,000 cGy·cm² = 200 Gy·cm² and
  2 Gy over 12 weeks); it fires on the study that *crosses* the threshold, so later
  studies in the same window do not repeat it;
- :class:`OutlierRule`: a study above ``k`` × its protocol's median;
- :class:`DoseCheckRule`: CT Dose Check (NEMA XR-25) alerts or notifications in the RDSR.

Evaluation is pure: the caller passes the study, the patient's recent history and the
protocol medians. Alerts then move ``open → acknowledged (with a note) → closed``; each
move is recorded with who and when. Messages carry no identifying values (the patient is
named only by a shortened pseudonym).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from medcoop.analytics.drl import counts_for_ctdivol
from medcoop.records import EventKind, StudyRecord

__all__ = [
    "Alert",
    "AlertCandidate",
    "AlertKind",
    "AlertRule",
    "AlertRuleSet",
    "AlertState",
    "AlertTransitionError",
    "CtThresholdRule",
    "DoseCheckRule",
    "FluoroCumulativeRule",
    "OutlierRule",
    "Transition",
    "acknowledge",
    "close",
    "evaluate_study",
    "open_alert",
    "study_dap_gycm2",
    "study_metric",
]


class AlertKind(StrEnum):
    """What kind of rule raised an alert."""

    CT_THRESHOLD = "ct_threshold"
    FLUORO_CUMULATIVE = "fluoro_cumulative"
    OUTLIER = "outlier"
    DOSE_CHECK = "dose_check"


class AlertState(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: Annotated[str, Field(min_length=1, max_length=64)]


class CtThresholdRule(_Rule):
    """CT study above a CTDIvol (mGy, any acquisition) or DLP (mGy·cm, study) threshold."""

    type: Literal["ct_threshold"] = "ct_threshold"
    metric: Literal["ctdivol", "dlp"]
    threshold: Annotated[float, Field(gt=0)]
    protocol: str | None = None
    body_region: str | None = None


class FluoroCumulativeRule(_Rule):
    """Cumulative fluoroscopy dose per patient pseudonym over a rolling window."""

    type: Literal["fluoro_cumulative"] = "fluoro_cumulative"
    dap_gycm2: Annotated[float, Field(gt=0)] | None = 200.0  # 20,000 cGy·cm²
    rp_dose_mgy: Annotated[float, Field(gt=0)] | None = 2000.0  # 2 Gy
    window_days: Annotated[int, Field(ge=1, le=3650)] = 84  # 12 weeks


class OutlierRule(_Rule):
    """A study whose metric exceeds ``k`` × the median of its protocol."""

    type: Literal["outlier"] = "outlier"
    metric: Literal["ctdivol", "dlp", "dap"]
    k: Annotated[float, Field(gt=1)] = 2.0


class DoseCheckRule(_Rule):
    """CT Dose Check alerts (and, if asked, notifications) carried in the RDSR."""

    type: Literal["dose_check"] = "dose_check"
    include_notifications: bool = True


AlertRule = Annotated[
    CtThresholdRule | FluoroCumulativeRule | OutlierRule | DoseCheckRule,
    Field(discriminator="type"),
]


class AlertRuleSet(BaseModel):
    """An organisation's rules, as stored and edited (JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[AlertRule, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """What a rule found; :func:`open_alert` turns it into an alert."""

    #: Stable across re-evaluation of the same facts, so the hub can de-duplicate.
    key: str
    kind: AlertKind
    rule_id: str
    study_uid: str
    pseudonym: str
    metric: str
    value: float
    threshold: float
    message: str


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _candidate(
    rule_id: str,
    kind: AlertKind,
    record: StudyRecord,
    metric: str,
    value: float,
    threshold: float,
    message: str,
) -> AlertCandidate:
    return AlertCandidate(
        key=_key(rule_id, kind, record.study_uid, metric),
        kind=kind,
        rule_id=rule_id,
        study_uid=record.study_uid,
        pseudonym=record.patient.pseudonym,
        metric=metric,
        value=value,
        threshold=threshold,
        message=f"{message} (patient {record.patient.pseudonym[:12]}…)",
    )


def study_dap_gycm2(record: StudyRecord) -> float | None:
    """Return a study's total DAP in Gy·cm²: the stated total, else its parts, else the events."""
    totals = record.totals
    if totals.total_dap_gycm2 is not None:
        return totals.total_dap_gycm2
    parts = (totals.total_fluoro_dap_gycm2, totals.total_acquisition_dap_gycm2)
    if any(p is not None for p in parts):
        return sum(p or 0.0 for p in parts)
    daps = [e.dap_gycm2 for e in record.events if e.dap_gycm2 is not None]
    return sum(daps) if daps else None


def _study_rp_dose_mgy(record: StudyRecord) -> float | None:
    if record.totals.total_rp_dose_mgy is not None:
        return record.totals.total_rp_dose_mgy
    doses = [e.rp_dose_mgy for e in record.events if e.rp_dose_mgy is not None]
    return sum(doses) if doses else None


def study_metric(record: StudyRecord, metric: str) -> float | None:
    """Return a study's value of ``ctdivol`` (max per acquisition), ``dlp`` (total) or ``dap``.

    A study's CTDIvol is that of its scan acquisitions: localizers are left out
    (:func:`~medcoop.analytics.drl.counts_for_ctdivol`); DLP is the whole examination's.
    """
    ct = [e for e in record.events if e.kind == EventKind.CT_ACQUISITION]
    if metric == "ctdivol":
        values = [e.ctdivol_mgy for e in ct if e.ctdivol_mgy is not None and counts_for_ctdivol(e)]
        return max(values) if values else None
    if metric == "dlp":
        if record.totals.total_dlp_mgycm is not None:
            return record.totals.total_dlp_mgycm
        values = [e.dlp_mgycm for e in ct if e.dlp_mgycm is not None]
        return sum(values) if values else None
    if metric == "dap":
        return study_dap_gycm2(record)
    raise ValueError(f"unknown metric {metric!r}")


def _study_protocol(record: StudyRecord) -> str | None:
    if record.usage.performed_protocol:
        return record.usage.performed_protocol
    return next((e.protocol for e in record.events if e.protocol), None)


def _ct_threshold(
    rule: CtThresholdRule, record: StudyRecord, body_region: str | None
) -> AlertCandidate | None:
    if record.modality != "CT":
        return None
    if rule.protocol is not None and _study_protocol(record) != rule.protocol:
        return None
    regions = {(e.target_region or "").lower() for e in record.events}
    regions.add((body_region or "").lower())
    if rule.body_region is not None and rule.body_region.lower() not in regions:
        return None
    value = study_metric(record, rule.metric)
    if value is None or value <= rule.threshold:
        return None
    unit = "mGy" if rule.metric == "ctdivol" else "mGy·cm"
    text = f"CT {rule.metric.upper()} {value:g} {unit} above {rule.threshold:g} {unit}"
    return _candidate(
        rule.rule_id, AlertKind.CT_THRESHOLD, record, rule.metric, value, rule.threshold, text
    )


def _fluoro_cumulative(
    rule: FluoroCumulativeRule, record: StudyRecord, history: Sequence[StudyRecord]
) -> list[AlertCandidate]:
    if record.study_at is None:
        return []
    since = record.study_at - timedelta(days=rule.window_days)
    earlier = [
        h
        for h in history
        if h.patient.pseudonym == record.patient.pseudonym
        and h.study_uid != record.study_uid
        and h.study_at is not None
        and since < h.study_at <= record.study_at
    ]
    found = []
    checks = (
        ("dap", rule.dap_gycm2, study_dap_gycm2, "Gy·cm²"),
        ("rp_dose", rule.rp_dose_mgy, _study_rp_dose_mgy, "mGy"),
    )
    for metric, threshold, read, unit in checks:
        this = read(record)
        if threshold is None or this is None:
            continue
        before = sum(read(h) or 0.0 for h in earlier)
        # fire on the study that crosses the threshold, not on every later one
        if before <= threshold < before + this:
            text = (
                f"cumulative {metric} {before + this:g} {unit} over {rule.window_days} days "
                f"above {threshold:g} {unit}"
            )
            found.append(
                _candidate(
                    rule.rule_id,
                    AlertKind.FLUORO_CUMULATIVE,
                    record,
                    metric,
                    before + this,
                    threshold,
                    text,
                )
            )
    return found


def _outlier(
    rule: OutlierRule, record: StudyRecord, medians: Mapping[tuple[str, str], float]
) -> AlertCandidate | None:
    protocol = _study_protocol(record)
    median = medians.get((protocol or "", rule.metric))
    value = study_metric(record, rule.metric)
    if median is None or value is None or value <= rule.k * median:
        return None
    text = f"{rule.metric} {value:g} is {value / median:.1f}× the median of {protocol}"
    return _candidate(
        rule.rule_id, AlertKind.OUTLIER, record, rule.metric, value, rule.k * median, text
    )


def _dose_check(rule: DoseCheckRule, record: StudyRecord) -> list[AlertCandidate]:
    found = []
    for event in record.events:
        for index, notice in enumerate(event.dose_check):
            if notice.kind == "notification" and not rule.include_notifications:
                continue
            value = notice.forward_estimate or 0.0
            text = f"CT Dose Check {notice.kind} on {notice.metric or 'dose'}"
            candidate = _candidate(
                rule.rule_id,
                AlertKind.DOSE_CHECK,
                record,
                notice.metric or "dose_check",
                value,
                notice.configured_value or 0.0,
                text,
            )
            key = _key(candidate.key, event.event_uid, str(index))
            found.append(replace(candidate, key=key))
    return found


def evaluate_study(
    record: StudyRecord,
    rules: Sequence[AlertRule] | AlertRuleSet,
    *,
    history: Sequence[StudyRecord] = (),
    protocol_medians: Mapping[tuple[str, str], float] | None = None,
    body_region: str | None = None,
) -> list[AlertCandidate]:
    """Return what every rule finds in one study.

    Parameters
    ----------
    record
        The study just ingested.
    rules
        The organisation's rules.
    history
        Earlier studies of the same patient pseudonym (for cumulative rules); others are
        ignored.
    protocol_medians
        ``(protocol, metric)`` → median, for outlier rules; a protocol without a median
        (too few studies yet) raises no outlier alert.
    body_region
        The study's body region from its exam type, for CT threshold rules by region.
    """
    if isinstance(rules, AlertRuleSet):
        rules = rules.rules
    found: list[AlertCandidate] = []
    for rule in rules:
        if isinstance(rule, CtThresholdRule):
            hit = _ct_threshold(rule, record, body_region)
            found.extend([hit] if hit else [])
        elif isinstance(rule, FluoroCumulativeRule):
            found.extend(_fluoro_cumulative(rule, record, history))
        elif isinstance(rule, OutlierRule):
            hit = _outlier(rule, record, protocol_medians or {})
            found.extend([hit] if hit else [])
        else:
            found.extend(_dose_check(rule, record))
    return found


# -- lifecycle -----------------------------------------------------------------------------
class AlertTransitionError(ValueError):
    """Raised for a lifecycle move that is not allowed; carries the states involved."""

    def __init__(self, alert_key: str, state: AlertState, wanted: AlertState, why: str) -> None:
        super().__init__(f"alert {alert_key}: cannot go from {state} to {wanted}: {why}")
        self.alert_key, self.state, self.wanted = alert_key, state, wanted


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle move, with who made it, when and why."""

    state: AlertState
    by: str
    at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert and its history (immutable: each move returns a new alert)."""

    candidate: AlertCandidate
    state: AlertState
    history: tuple[Transition, ...]

    @property
    def key(self) -> str:
        """The candidate's de-duplication key."""
        return self.candidate.key


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("lifecycle times must be timezone-aware")
    return at


def open_alert(candidate: AlertCandidate, *, at: datetime) -> Alert:
    """Open an alert for a candidate."""
    opened = Transition(AlertState.OPEN, "system", _aware(at))
    return Alert(candidate, AlertState.OPEN, (opened,))


def acknowledge(alert: Alert, *, by: str, note: str, at: datetime) -> Alert:
    """Acknowledge an open alert; a note saying what was done is required."""
    if alert.state != AlertState.OPEN:
        raise AlertTransitionError(alert.key, alert.state, AlertState.ACKNOWLEDGED, "not open")
    if not note.strip():
        raise AlertTransitionError(
            alert.key, alert.state, AlertState.ACKNOWLEDGED, "a note is required"
        )
    move = Transition(AlertState.ACKNOWLEDGED, by, _aware(at), note.strip())
    return Alert(alert.candidate, AlertState.ACKNOWLEDGED, (*alert.history, move))


def close(alert: Alert, *, by: str, at: datetime, note: str | None = None) -> Alert:
    """Close an acknowledged alert (closing an open one needs a note, as acknowledging does)."""
    if alert.state == AlertState.CLOSED:
        raise AlertTransitionError(alert.key, alert.state, AlertState.CLOSED, "already closed")
    if alert.state == AlertState.OPEN and not (note or "").strip():
        raise AlertTransitionError(
            alert.key, alert.state, AlertState.CLOSED, "closing an open alert needs a note"
        )
    move = Transition(AlertState.CLOSED, by, _aware(at), note)
    return Alert(alert.candidate, AlertState.CLOSED, (*alert.history, move))
