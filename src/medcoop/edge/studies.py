"""Per-study state on the edge and the de-identified record built from it.

A study's objects (RDSRs, image headers, MPPS) arrive over minutes, in any order, and may be
re-sent. :class:`StudyState` accumulates their facts *already de-identified* (pseudonyms,
remapped UIDs, cleaned text, UTC-aware times) so the database never holds a patient's
identity; :func:`build_record` turns the state into a :class:`records.StudyRecord` whose
``record_key`` changes only when its content does. Events are merged by (remapped) event
UID with :func:`medcoop.dicom.merge_study_events`, so a cumulative RDSR replaces the events it
extends and a re-sent object is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from medcoop import records
from medcoop.deid.pseudonym import SiteKey
from medcoop.dicom.consistency import totals_disagreement, totals_from_events
from medcoop.dicom.model import DeviceIdentity, DoseEvent, Extraction, MppsFacts, PatientIdentity
from medcoop.edge.privacy import clean_text

__all__ = ["StudyState", "build_record", "to_utc", "with_key"]

_TOTAL_FIELDS = tuple(f for f in records.DoseTotals.model_fields if f != "number_of_events")
_FINAL_MPPS = ("COMPLETED", "DISCONTINUED")
#: The key of a draft record (hex without digits, so no numeric identifier can match it).
DRAFT_KEY = "f" * 64


def to_utc(moment: datetime | None, zone: ZoneInfo, utc_offset_min: int | None) -> datetime | None:
    """Return ``moment`` as a UTC-aware datetime (naive times are local to the site)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        if utc_offset_min is not None:
            return (moment - timedelta(minutes=utc_offset_min)).replace(tzinfo=UTC)
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


@dataclass(slots=True)
class StudyState:
    """What the edge knows about one study, pseudonymous only (stored as JSON)."""

    study_uid: str
    modality: str | None = None
    modalities: list[str] = field(default_factory=list)
    study_at: str | None = None
    utc_offset_min: int | None = None
    study_description: str | None = None
    procedure_code: str | None = None
    device: dict[str, Any] | None = None
    patient: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Per dose report (remapped SOP UID): its event UIDs and its stated totals.
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    series: list[str] = field(default_factory=list)
    image_sops: list[str] = field(default_factory=list)
    mpps_totals: dict[str, Any] = field(default_factory=dict)

    # --- persistence -------------------------------------------------------------------
    def to_json(self) -> str:
        """Serialise for the ``studies`` table."""
        return json.dumps({s: getattr(self, s) for s in self.__slots__}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StudyState:
        """Load from the ``studies`` table."""
        return cls(**json.loads(text))

    # --- readiness ---------------------------------------------------------------------
    @property
    def has_rdsr(self) -> bool:
        """Whether a dose report (RDSR/RRDSR) is in."""
        return bool(self.reports)

    @property
    def mpps_final(self) -> bool:
        """Whether MPPS said the procedure step is over."""
        return self.usage.get("mpps_status") in _FINAL_MPPS

    # --- merging -----------------------------------------------------------------------
    def add_extraction(
        self, ext: Extraction, key: SiteKey, zone: ZoneInfo, values: frozenset[str]
    ) -> None:
        """Merge one object's facts (de-identifying them on the way in).

        ``values`` are the object's identifying values (``ext.identifying_values()``), as
        the caller already holds them: the same object keeps privacy's caches hot.
        """
        from medcoop.dicom import merge_study_events

        offset = ext.utc_offset_min
        self._note_modality(ext.modality)
        if self.study_at is None and ext.study_at is not None:
            study_at = to_utc(ext.study_at, zone, offset)
            self.study_at = study_at.isoformat() if study_at else None
            self.utc_offset_min = _offset_min(ext.study_at, zone, offset)
        self.study_description = self.study_description or clean_text(ext.study_description, values)
        self.procedure_code = self.procedure_code or _short(ext.procedure_code)
        if self.device is None or self.device.get("_from_mpps"):
            self.device = device_info(ext.device, ext.modality, key)
        self._note_patient(ext.patient, key)
        if ext.source.value not in self.sources:
            self.sources.append(ext.source.value)
        incoming = [self._remap_event(e, key, zone, offset, values) for e in ext.events]
        if incoming:  # merging nothing into a merge's output would return it unchanged
            existing = [DoseEvent.model_validate(e) for e in self.events]
            merged = merge_study_events(existing, incoming)
            self.events = [e.model_dump(mode="json") for e in merged]
        sop = key.remap_uid(ext.sop_instance_uid)
        if ext.source in (records.SourceKind.RDSR, records.SourceKind.RRDSR):
            self.reports[sop] = {
                "event_uids": sorted(e.event_uid for e in incoming),
                "totals": ext.totals.model_dump(mode="json", exclude_none=True),
            }
        elif sop not in self.image_sops:
            self.image_sops.append(sop)
            self.usage["image_count"] = self.usage.get("image_count", 0) + max(1, ext.image_count)
        if ext.series_instance_uid:
            series = key.remap_uid(ext.series_instance_uid)
            if series not in self.series:
                self.series.append(series)
        for moment in ext.acquisition_times:
            self._note_acquisition(to_utc(moment, zone, offset))
        protocol = clean_text(ext.performed_protocol, values)
        if protocol and not self.usage.get("performed_protocol"):
            self.usage["performed_protocol"] = protocol

    def add_mpps(
        self, facts: MppsFacts, key: SiteKey, zone: ZoneInfo, values: frozenset[str]
    ) -> None:
        """Merge an MPPS N-CREATE or N-SET (``values``: ``facts.identifying_values()``)."""
        if facts.modality:
            self._note_modality(facts.modality)
        if facts.patient is not None:
            self._note_patient(facts.patient, key)
        if self.device is None and (facts.station_name or facts.modality):
            self.device = device_info(
                DeviceIdentity(station_name=facts.station_name), facts.modality, key
            )
            self.device["_from_mpps"] = True  # replaced by a composite object's fuller identity
        started = to_utc(facts.started_at, zone, None)
        ended = to_utc(facts.ended_at, zone, None)
        if started is not None:
            self.usage["mpps_started_at"] = started.isoformat()
            if self.study_at is None:
                self.study_at = started.isoformat()
                self.utc_offset_min = _offset_min(facts.started_at, zone, None)
        if ended is not None:
            self.usage["mpps_ended_at"] = ended.isoformat()
        if facts.status in ("IN PROGRESS", *_FINAL_MPPS) and not (
            self.mpps_final and facts.status == "IN PROGRESS"
        ):
            self.usage["mpps_status"] = facts.status
        protocol = clean_text(facts.performed_protocol, values)
        if protocol:
            self.usage["performed_protocol"] = protocol
        stated = facts.totals.model_dump(mode="json", exclude_none=True)
        if stated:
            self.mpps_totals = stated
        if "mpps" not in self.sources:
            self.sources.append("mpps")

    def _note_modality(self, modality: str | None) -> None:
        modality = _short(modality)
        if not modality:
            return
        self.modality = self.modality or modality
        if modality not in self.modalities:
            self.modalities.append(modality)

    def _note_patient(self, patient: PatientIdentity, key: SiteKey) -> None:
        facts = patient_facts(patient, key, fallback=self.study_uid)
        if self.patient is None or self.patient.get("_fallback"):
            self.patient = facts
            return
        for name, value in facts.items():  # fill gaps (e.g. weight only in a later object)
            if self.patient.get(name) is None and value is not None and name != "_fallback":
                self.patient[name] = value

    def _note_acquisition(self, moment: datetime | None) -> None:
        if moment is None:
            return
        text = moment.isoformat()
        first = self.usage.get("first_acquisition_at")
        last = self.usage.get("last_acquisition_at")
        if first is None or moment < datetime.fromisoformat(first):
            self.usage["first_acquisition_at"] = text
        if last is None or moment > datetime.fromisoformat(last):
            self.usage["last_acquisition_at"] = text

    @staticmethod
    def _remap_event(
        event: DoseEvent,
        key: SiteKey,
        zone: ZoneInfo,
        offset: int | None,
        values: frozenset[str],
    ) -> DoseEvent:
        return event.model_copy(
            update={
                "event_uid": key.remap_uid(event.event_uid),
                "started_at": to_utc(event.started_at, zone, offset),
                "protocol": clean_text(event.protocol, values),
            }
        )


def patient_facts(patient: PatientIdentity, key: SiteKey, *, fallback: str) -> dict[str, Any]:
    """Return the pseudonymous patient facts (dict of :class:`records.PatientFacts` fields).

    Without a patient ID the pseudonym is derived from the (remapped) study UID, so the
    record still has a stable key; ``_fallback`` marks it for replacement by a later object.
    """
    if patient.patient_id and patient.patient_id.strip():
        pseudonym = key.patient_pseudonym(patient.patient_id, patient.issuer_of_patient_id or "")
        is_fallback = False
    else:
        pseudonym = key.pseudonym("study-patient", fallback)
        is_fallback = True
    facts: dict[str, Any] = {
        "pseudonym": pseudonym,
        "age_years": _in_range(patient.age_years, 0, 150),
        "sex": patient.sex.value if patient.sex else None,
        "height_m": _in_range(patient.height_m, 0, 3, open_low=True),
        "weight_kg": _in_range(patient.weight_kg, 0, 700, open_low=True),
    }
    if is_fallback:
        facts["_fallback"] = True
    return facts


def device_info(device: DeviceIdentity, modality: str | None, key: SiteKey) -> dict[str, Any]:
    """Return the device facts with a stable per-site ``device_key``."""
    basis = device.device_observer_uid or "|".join(
        (
            device.manufacturer or "",
            device.model or "",
            device.serial_number or "",
            device.station_name or "",
        )
    )
    return {
        "device_key": key.pseudonym("device", basis)[:32],
        "manufacturer": _short(device.manufacturer),
        "model": _short(device.model),
        "serial_number": _short(device.serial_number),
        "station_name": _short(device.station_name),
        "software_versions": _short(device.software_versions),
        "modality": _short(modality),
    }


def build_record(state: StudyState, *, keyed: bool = True) -> records.StudyRecord:
    """Return the de-identified record of a study, with its content-derived ``record_key``.

    With ``keyed=False`` the key is :data:`DRAFT_KEY` (see :func:`with_key`): the residual
    scan reads every value of the record but not the key, a hash of those values, which
    costs as much again to compute and is needed only for a record that is sent.
    """
    events = sorted(
        (records.IrradiationEvent.model_validate(e) for e in state.events),
        key=lambda e: (
            e.started_at is None,
            e.started_at or datetime.min.replace(tzinfo=UTC),
            e.event_uid,
        ),
    )
    patient = {k: v for k, v in (state.patient or {}).items() if not k.startswith("_")}
    if not patient:
        patient = {"pseudonym": "0" * 16}  # no patient facts at all: an all-zero placeholder
    usage = {k: v for k, v in state.usage.items() if v is not None}
    usage["series_count"] = len(state.series)
    content: dict[str, Any] = {
        "study_uid": state.study_uid,
        "modality": state.modality or "OT",
        "modalities_in_study": tuple(state.modalities),
        "study_at": state.study_at,
        "utc_offset_min": state.utc_offset_min or 0,
        "study_description": state.study_description,
        "procedure_code": state.procedure_code,
        "device": {
            k: v
            for k, v in (state.device or {"device_key": "0" * 32}).items()
            if not k.startswith("_")
        },
        "patient": patient,
        "events": events,
        "totals": _totals(state, events),
        "usage": usage,
        "sources": tuple(state.sources),
    }
    content["totals_disagree"] = totals_disagreement(events, content["totals"])
    draft = records.StudyRecord.model_validate({**content, "record_key": DRAFT_KEY})
    return with_key(draft) if keyed else draft


def with_key(draft: records.StudyRecord) -> records.StudyRecord:
    """Return ``draft`` with its content-derived ``record_key``."""
    dumped = draft.model_dump(mode="json", exclude={"record_key"})
    return draft.model_copy(update={"record_key": records.record_key_for(dumped)})


def _totals(state: StudyState, events: list[records.IrradiationEvent]) -> records.DoseTotals:
    # Reports whose events another report covers are earlier versions of it (cumulative
    # RDSRs): only the widest ones count, and disjoint ones (continued studies) add up.
    covering = [
        r
        for uid, r in state.reports.items()
        if not any(
            set(r["event_uids"]) < set(o["event_uids"])
            or (set(r["event_uids"]) == set(o["event_uids"]) and other > uid)
            for other, o in state.reports.items()
            if other != uid
        )
    ]
    stated: dict[str, float] = {}
    for report in covering:
        for name in _TOTAL_FIELDS:
            value = report["totals"].get(name)
            if value is not None:
                stated[name] = stated.get(name, 0.0) + value
    if not covering:  # no report: what the events add up to, then what MPPS states
        stated = totals_from_events(events)
        stated.update((k, v) for k, v in state.mpps_totals.items() if k in _TOTAL_FIELDS)
    return records.DoseTotals(**stated, number_of_events=len(events) or None)


def _offset_min(moment: datetime | None, zone: ZoneInfo, offset: int | None) -> int | None:
    if offset is not None:
        return offset
    if moment is None:
        return None
    local = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    delta = local.utcoffset()
    return None if delta is None else int(delta.total_seconds() // 60)


def _short(text: str | None, max_len: int = 128) -> str | None:
    if text is None or not str(text).strip():
        return None
    return str(text).strip()[:max_len]


def _in_range(
    value: float | None, low: float, high: float, *, open_low: bool = False
) -> float | None:
    if value is None:
        return None
    if value < low or value > high or (open_low and value == low):
        return None  # out-of-range values are dropped, never clamped into a false fact
    return float(value)
