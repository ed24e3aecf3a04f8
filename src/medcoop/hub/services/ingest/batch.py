"""Ingest of edge record batches: parse once, deduplicate by record key, write in bulk.

One batch is one transaction: either every new record of the batch is stored (studies,
usage facts, irradiation events, devices, patients by pseudonym, receipts) or none is.
The fast path (new studies) hands each table's rows to the driver in one call
(:func:`medcoop.hub.db.bulk.bulk_insert`); studies updated by a later record are merged
in place by the rules of :mod:`.merge`. In the same transaction the batch updates the
dose summaries (:mod:`medcoop.hub.services.analytics.summaries`: old values out, new in,
one read and one write per touched cell) and evaluates the organisation's alert rules for
the studies it wrote (:func:`medcoop.hub.services.analytics.evaluate_studies`); notices
are sent after commit by the background notifier.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from medcoop.dicom.merge import superseded_by_reports
from medcoop.hub.db.base import new_ids, utcnow
from medcoop.hub.db.bulk import among, insert_ignore
from medcoop.hub.db.bulk import bulk_insert as _bulk_insert
from medcoop.hub.db.engine import begin_write
from medcoop.hub.db.models import (
    Device,
    IrradiationEventRow,
    Patient,
    RecordReceipt,
    Study,
    UsageFact,
)
from medcoop.hub.db.tenancy import current_tenant
from medcoop.hub.errors import InvalidRecordError, PayloadTooLargeError
from medcoop.hub.services.analytics import evaluate_studies
from medcoop.hub.services.analytics.summaries import (
    EVENT_FACTS,
    CellKey,
    SummaryChanges,
    SummaryValue,
    contributions,
    lock_site,
    protocol_contributions,
    study_labels,
    study_summaries,
    with_keys,
)
from medcoop.hub.services.ingest.merge import (
    TOTAL_FIELDS,
    MergeKind,
    add_event_contributions,
    classify,
    merge_usage,
)
from medcoop.records import SCHEMA_VERSION, IrradiationEvent, RecordBatch, StudyRecord
from medcoop.vocabulary import EVENT_FIELDS, PATIENT_FACT_FIELDS, USAGE_FIELDS

__all__ = ["IngestResult", "ingest_batch", "parse_batch"]

_CONFLICT_RETRIES = 3
_MAX_INT32 = 2**31 - 1
#: Text that may parse to a non-finite float or hold NUL (PostgreSQL text cannot).
_SUSPECT_TOKENS = (b"Infinity", b"NaN", b"\\u0000")
#: A number with a 3-digit exponent (1e999 parses to infinity), in the lowercased body:
#: the digits end the number (a delimiter follows), which hex text such as a pseudonym
#: holding "e105" never does, so ordinary batches skip the slow walk.
_BIG_EXPONENT = re.compile(rb"e\+?[0-9]{3,}[,}\]\s]")
_LAST_SEEN_RESOLUTION = timedelta(seconds=60)
#: PostgreSQL SQLSTATEs worth retrying: deadlock detected, serialization failure.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


#: The event fields the hub keeps as columns (the rest travel in ``details``).
_EVENT_COLUMNS = tuple(
    name
    for name in EVENT_FIELDS
    if name != "event_uid" and name in IrradiationEventRow.__table__.columns
)
_STUDY_FACTS = (
    "modality",
    "study_at",
    "utc_offset_min",
    "study_description",
    "procedure_code",
    *PATIENT_FACT_FIELDS,
)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The answer to one batch: which record keys were new and which already known."""

    received: int
    new: list[str]
    duplicate: list[str]
    #: Alerts the batch's studies opened (their notices are due once committed).
    alerts_opened: int = 0
    #: Records of patients who denied pooling: acknowledged, not stored.
    withheld: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        """Return the JSON body ``POST /api/v1/ingest`` answers with."""
        return {
            "schema_version": SCHEMA_VERSION,
            "received": self.received,
            "new": self.new,
            "duplicate": self.duplicate,
            "withheld": self.withheld,
        }


def parse_batch(body: bytes, *, max_records: int) -> RecordBatch:
    """Validate a request body as a :class:`RecordBatch`, in one pass.

    Raises
    ------
    InvalidRecordError
        Malformed JSON or a record that breaks the schema; ``record_index`` names the
        first bad record. Input values are not echoed (they could be anything).
    PayloadTooLargeError
        More than ``max_records`` records.
    """
    try:
        batch = RecordBatch.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        index = next(
            (
                e["loc"][1]
                for e in errors
                if len(e["loc"]) > 1 and e["loc"][0] == "records" and isinstance(e["loc"][1], int)
            ),
            None,
        )
        raise InvalidRecordError(errors, record_index=index) from None
    if len(batch.records) > max_records:
        raise PayloadTooLargeError(
            f"batch holds {len(batch.records)} records; the limit is {max_records}"
        )
    _check_storable(batch, body)
    return batch


def _check_storable(batch: RecordBatch, body: bytes) -> None:
    """Refuse values the schema admits but the database or JSON cannot hold.

    Counts must fit a 32-bit INTEGER; floats must be finite (pydantic accepts
    ``Infinity`` and ``1e999``, which JSON responses cannot carry); text must not hold NUL
    (PostgreSQL refuses it). The walk only runs when the body could hold such a value, so
    the common path costs nothing.
    """
    for index, record in enumerate(batch.records):
        counts = {
            ("totals", "number_of_events"): record.totals.number_of_events,
            ("usage", "series_count"): record.usage.series_count,
            ("usage", "image_count"): record.usage.image_count,
        }
        for loc, value in counts.items():
            if value is not None and value > _MAX_INT32:
                _refuse(index, loc, f"must be at most {_MAX_INT32}")
    if not _may_hold_unstorable(body):
        return
    for index, record in enumerate(batch.records):
        if not _all_storable(record.model_dump()):
            _refuse(index, (), "numbers must be finite and text must not contain NUL")


def _may_hold_unstorable(body: bytes) -> bool:
    """Return whether the JSON text could hold a non-finite number or NUL (fast, may err high)."""
    if any(token in body for token in _SUSPECT_TOKENS):
        return True
    return _BIG_EXPONENT.search(body.lower()) is not None


def _all_storable(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value  # PostgreSQL text cannot hold NUL
    if isinstance(value, dict):
        return all(_all_storable(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_storable(v) for v in value)
    return True


def _refuse(index: int, loc: tuple[str, ...], message: str) -> None:
    errors = [{"loc": ["records", index, *loc], "msg": message, "type": "value_error"}]
    raise InvalidRecordError(errors, record_index=index)


def _event_row(org_id: uuid.UUID, study_id: uuid.UUID, event: IrradiationEvent) -> dict[str, Any]:
    fields = event.__dict__  # pydantic v2 keeps the field values here
    row: dict[str, Any] = {name: fields[name] for name in _EVENT_COLUMNS}
    row["kind"] = event.kind.value
    row["source"] = event.source.value
    row.update(
        org_id=org_id,
        study_id=study_id,
        event_uid=event.event_uid,
        dose_check_count=len(event.dose_check),
        # JSON text straight from pydantic (bulk_insert's `raw`)
        details=event.model_dump_json(exclude_none=True, exclude_defaults=True),
    )
    return row


def _study_facts(record: StudyRecord) -> dict[str, Any]:
    patient = record.patient
    facts: dict[str, Any] = {
        "modality": record.modality,
        "study_at": record.study_at,
        "utc_offset_min": record.utc_offset_min,
        "study_description": record.study_description,
        "procedure_code": record.procedure_code,
    }
    held = patient.__dict__  # pydantic v2 keeps the field values here
    facts.update({name: held[name] for name in PATIENT_FACT_FIELDS})
    facts["sex"] = patient.sex.value if patient.sex else None
    totals = record.totals.__dict__  # pydantic v2 keeps the field values here
    facts.update({name: totals[name] for name in TOTAL_FIELDS})
    facts["number_of_events"] = (
        record.totals.number_of_events
        if record.totals.number_of_events is not None
        else len(record.events)
    )
    return facts


@dataclass(slots=True)
class _Draft:
    """A study as it will be after this batch (new, or loaded from the database)."""

    study: dict[str, Any]
    usage: dict[str, Any]
    events: dict[str, dict[str, Any]]
    is_new: bool
    #: Stored events' summary facts (``summaries.EVENT_FACTS``) by event UID (its keys
    #: are the stored events' UIDs).
    stored_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Stored events a later dose report superseded (deleted when the draft is written).
    deleted: set[str] = field(default_factory=set)
    #: What the stored study contributes to the dose summaries now.
    summary_before: list[tuple[CellKey, float]] = field(default_factory=list)
    #: What the stored study contributes to the protocol summaries now.
    protocol_before: list[tuple[CellKey, float]] = field(default_factory=list)
    #: A new study's summary values, worked out before the transaction (``None`` once
    #: another record of the batch changed it).
    values: list[SummaryValue] | None = None
    #: Likewise its protocol summary values.
    protocol_values: list[SummaryValue] | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a record would write as a new study: built before the write transaction, so
    SQLite's single writer holds its lock only for the database work."""

    study_id: uuid.UUID
    facts: dict[str, Any]
    usage: dict[str, Any]
    events: dict[str, dict[str, Any]]
    values: list[SummaryValue]
    protocol_values: list[SummaryValue]


def _prepare(records: Sequence[StudyRecord], org_id: uuid.UUID) -> dict[str, _Prepared]:
    prepared = {}
    for record, study_id in zip(records, new_ids(len(records)), strict=True):
        facts = _study_facts(record)
        fields = record.usage.__dict__  # pydantic v2 keeps the field values here
        usage = {name: fields[name] for name in USAGE_FIELDS}
        events = {e.event_uid: _event_row(org_id, study_id, e) for e in record.events}
        protocol = usage["performed_protocol"]
        derived = study_summaries(facts, protocol, events.values())
        facts.update(derived.labels)
        prepared[record.record_key] = _Prepared(
            study_id, facts, usage, events, derived.values, derived.protocol_values
        )
    return prepared


class _BatchWriter:
    """Resolves devices, patients and studies of one batch and writes them in bulk."""

    def __init__(
        self,
        session: Session,
        org_id: uuid.UUID,
        site_id: uuid.UUID,
        prepared: dict[str, _Prepared],
    ) -> None:
        self.session = session
        self.org_id = org_id
        self.site_id = site_id
        self.prepared = prepared
        self.now = utcnow()
        self.drafts: dict[str, _Draft] = {}
        self.denied: set[str] = set()
        self._ids: list[uuid.UUID] = []

    def new_id(self) -> uuid.UUID:
        """Return a fresh id (drawn in blocks: one clock read and ``urandom`` call each)."""
        if not self._ids:
            self._ids = new_ids(256)
        return self._ids.pop()

    def device_ids(self, records: list[StudyRecord]) -> dict[str, uuid.UUID]:
        wanted = {r.device.device_key: r for r in records}
        found = dict(
            self.session.execute(
                select(Device.device_key, Device.id).where(
                    Device.site_id == self.site_id,
                    among(self.session, Device.device_key, list(wanted)),
                )
            ).all()
        )
        if found:
            # Once a minute is precise enough, and spares concurrent batches a row lock.
            self.session.execute(
                update(Device)
                .where(
                    Device.site_id == self.site_id,
                    Device.device_key.in_(sorted(found)),
                    Device.last_seen_at < self.now - _LAST_SEEN_RESOLUTION,
                )
                .values(last_seen_at=self.now)
            )
        rows = []
        for key, record in wanted.items():
            if key in found:
                continue
            found[key] = self.new_id()
            device = record.device
            modality = device.modality or record.modality
            rows.append(
                {
                    "org_id": self.org_id,
                    "id": found[key],
                    "site_id": self.site_id,
                    "device_key": key,
                    "manufacturer": device.manufacturer,
                    "model": device.model,
                    "serial_number": device.serial_number,
                    "station_name": device.station_name,
                    "software_versions": device.software_versions,
                    "modality": modality,
                    "device_class": modality,
                    "first_seen_at": self.now,
                    "last_seen_at": self.now,
                }
            )
        if rows and self.session.get_bind().dialect.name == "postgresql":
            # A new edge's first batches arrive together and all bring the same devices:
            # wait for the worker that inserts them first (ON CONFLICT DO NOTHING) and use
            # its ids, rather than fail at commit and redo a whole batch.
            insert_ignore(self.session, Device.__table__, rows)
            keys = [row["device_key"] for row in rows]
            found.update(
                self.session.execute(
                    select(Device.device_key, Device.id).where(
                        Device.site_id == self.site_id,
                        among(self.session, Device.device_key, keys),
                    )
                ).all()
            )
        elif rows:
            _bulk_insert(self.session, Device.__table__, rows)
        return found

    def patient_ids(self, records: list[StudyRecord]) -> dict[str, uuid.UUID]:
        """Return each record's patient id, creating new patients; the pseudonyms of
        patients who denied pooling are left in :attr:`denied`."""
        wanted = {r.patient.pseudonym: r for r in records}
        found: dict[str, uuid.UUID] = {}
        for pseudonym, id_, denied_at in self.session.execute(
            select(Patient.pseudonym, Patient.id, Patient.pooling_denied_at).where(
                Patient.site_id == self.site_id,
                among(self.session, Patient.pseudonym, list(wanted)),
            )
        ):
            found[pseudonym] = id_
            if denied_at is not None:
                self.denied.add(pseudonym)
        rows = []
        for pseudonym, record in wanted.items():
            if pseudonym in found:
                continue
            found[pseudonym] = self.new_id()
            sex = record.patient.sex
            rows.append(
                {
                    "org_id": self.org_id,
                    "id": found[pseudonym],
                    "site_id": self.site_id,
                    "pseudonym": pseudonym,
                    "sex": sex.value if sex else None,
                    "first_seen_at": self.now,
                }
            )
        if rows:
            _bulk_insert(self.session, Patient.__table__, rows)
        return found

    def load_stored(self, study_uids: set[str]) -> None:
        """Load the studies of this batch that the hub already holds, as drafts."""
        stored = self.session.scalars(
            select(Study)
            .where(
                Study.site_id == self.site_id,
                among(self.session, Study.study_uid, sorted(study_uids)),
            )
            # PostgreSQL: hold the rows so two workers cannot merge into one study at once.
            .with_for_update()
        ).all()
        if not stored:
            return
        ids = [s.id for s in stored]
        usage = {
            u.study_id: u
            for u in self.session.scalars(select(UsageFact).where(UsageFact.study_id.in_(ids)))
        }
        events: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
        columns = [getattr(IrradiationEventRow, name) for name in EVENT_FACTS]
        for row in self.session.execute(
            select(IrradiationEventRow.study_id, *columns).where(
                IrradiationEventRow.study_id.in_(ids)
            )
        ):
            facts = dict(zip(EVENT_FACTS, row[1:], strict=True))
            events.setdefault(row[0], {})[facts["event_uid"]] = facts
        names = Study.__table__.columns.keys()
        for study in stored:
            fact = usage.get(study.id)
            held = events.get(study.id, {})
            facts = {name: getattr(study, name) for name in names}
            protocol = fact.performed_protocol if fact else None
            self.drafts[study.study_uid] = _Draft(
                study=facts,
                usage={name: getattr(fact, name) for name in USAGE_FIELDS} if fact else {},
                events={},
                is_new=False,
                stored_events=held,
                summary_before=contributions(facts, protocol, held.values()),
                protocol_before=protocol_contributions(facts, protocol, held.values()),
            )

    def apply(self, record: StudyRecord, device_id: uuid.UUID, patient_id: uuid.UUID) -> None:
        draft = self.drafts.get(record.study_uid)
        ready = self.prepared[record.record_key]
        if draft is None:
            study = {
                "org_id": self.org_id,
                "id": ready.study_id,
                "site_id": self.site_id,
                "device_id": device_id,
                "patient_id": patient_id,
                "study_uid": record.study_uid,
                "record_key": record.record_key,
                "modalities_in_study": list(record.modalities_in_study),
                "sources": [s.value for s in record.sources],
                "created_at": self.now,
                "updated_at": self.now,
                **ready.facts,
            }
            # copies: a retry of the batch starts from the prepared rows again
            self.drafts[record.study_uid] = _Draft(
                study,
                dict(ready.usage),
                dict(ready.events),
                is_new=True,
                values=ready.values,
                protocol_values=ready.protocol_values,
            )
            return
        draft.values = draft.protocol_values = None
        self._merge(draft, record, device_id, patient_id, ready)

    def _merge(
        self,
        draft: _Draft,
        record: StudyRecord,
        device_id: uuid.UUID,
        patient_id: uuid.UUID,
        ready: _Prepared,
    ) -> None:
        study = draft.study
        # the prepared rows, as copies (a retry starts from them again) under this study's
        # id (they were drawn for a new study)
        incoming = {uid: {**row, "study_id": study["id"]} for uid, row in ready.events.items()}
        self._drop_superseded(draft, incoming)
        held = draft.stored_events.keys() | set(draft.events)
        kind = classify(held, set(incoming))
        facts = ready.facts  # read only
        if kind is MergeKind.SUPERSET:
            study.update(facts)
            study.update(record_key=record.record_key, device_id=device_id, patient_id=patient_id)
        else:
            for name in _STUDY_FACTS:
                if study.get(name) is None:
                    study[name] = facts[name]
            if kind is MergeKind.ADDS:
                added = [row for uid, row in incoming.items() if uid not in held]
                study.update(add_event_contributions(study, added))
                study["record_key"] = record.record_key
        draft.events.update(incoming)
        study["number_of_events"] = (
            max(len(held | set(incoming)), study.get("number_of_events") or 0)
            if kind is not MergeKind.SUPERSET
            else facts["number_of_events"]
        )
        study["modalities_in_study"] = sorted(
            set(study.get("modalities_in_study") or ()) | set(record.modalities_in_study)
        )
        study["sources"] = sorted(
            set(study.get("sources") or ()) | {s.value for s in record.sources}
        )
        study["updated_at"] = self.now
        draft.usage = merge_usage(draft.usage, dict(ready.usage), kind)
        # the labels of the study as merged (a report may name what a header did not)
        merged = {**draft.stored_events, **draft.events}
        study.update(study_labels(study, draft.usage.get("performed_protocol"), merged.values()))

    @staticmethod
    def _drop_superseded(draft: _Draft, incoming: dict[str, dict[str, Any]]) -> None:
        """Keep one account of each exposure: a dose report's over headers' (issue 9).

        A record sent before the study's RDSR arrived holds header-derived events under
        UIDs of their own; the report's record must replace them, not add to them, and a
        late header-only record must not add them back, so the result does not depend on
        which came first (the edge's :func:`medcoop.dicom.merge_study_events` rule).
        """
        held = {
            uid: (row["kind"], row["source"])
            for uid, row in (*draft.stored_events.items(), *draft.events.items())
        }
        arriving = {uid: (row["kind"], row["source"]) for uid, row in incoming.items()}
        for uid in superseded_by_reports(held, arriving):
            if draft.stored_events.pop(uid, None) is not None:
                draft.deleted.add(uid)
            draft.events.pop(uid, None)
        # and the other way round: an older header-only record arriving after the report's
        for uid in superseded_by_reports(arriving, held):
            del incoming[uid]

    def flush(self) -> None:
        """Write every draft: bulk INSERT for new studies, UPDATE in place for stored ones."""
        new = [d for d in self.drafts.values() if d.is_new]
        if new:
            _bulk_insert(self.session, Study.__table__, [d.study for d in new])
            usage_rows = [
                {
                    "org_id": self.org_id,
                    "study_id": d.study["id"],
                    "device_id": d.study["device_id"],
                    **d.usage,
                }
                for d in new
            ]
            _bulk_insert(self.session, UsageFact.__table__, usage_rows)
        stored = [d for d in self.drafts.values() if not d.is_new and d.events is not None]
        for draft in stored:
            self._write_stored(draft)
        event_rows = [row for d in self.drafts.values() for row in d.events.values()]
        if event_rows:
            _bulk_insert(
                self.session,
                IrradiationEventRow.__table__,
                event_rows,
                raw=frozenset({"details"}),
            )

    def summary_changes(self) -> SummaryChanges:
        """Return how this batch changes the dose and protocol summaries (old out, new in)."""
        changes = SummaryChanges()
        for draft in self.drafts.values():
            if draft.values is not None and draft.protocol_values is not None:
                # a new study as its one record made it
                after = with_keys(draft.study, draft.values)
                by_protocol = with_keys(draft.study, draft.protocol_values)
            else:
                events = {**draft.stored_events, **draft.events}
                protocol = draft.usage.get("performed_protocol")
                after = contributions(draft.study, protocol, events.values())
                by_protocol = protocol_contributions(draft.study, protocol, events.values())
            changes.dose.change(draft.summary_before, after)
            changes.protocols.change(draft.protocol_before, by_protocol)
        return changes

    def _write_stored(self, draft: _Draft) -> None:
        study_id = draft.study["id"]
        values = {k: v for k, v in draft.study.items() if k not in ("org_id", "id")}
        self.session.execute(update(Study).where(Study.id == study_id).values(**values))
        replaced = (draft.stored_events.keys() & set(draft.events)) | draft.deleted
        if replaced:
            self.session.execute(
                delete(IrradiationEventRow).where(
                    IrradiationEventRow.study_id == study_id,
                    IrradiationEventRow.event_uid.in_(replaced),
                )
            )
        usage = {name: draft.usage.get(name) for name in USAGE_FIELDS}
        usage["series_count"] = usage["series_count"] or 0
        usage["image_count"] = usage["image_count"] or 0
        done = cast(
            "CursorResult[Any]",
            self.session.execute(
                update(UsageFact).where(UsageFact.study_id == study_id).values(**usage)
            ),
        )
        if done.rowcount == 0:
            _bulk_insert(
                self.session,
                UsageFact.__table__,
                [
                    {
                        "org_id": self.org_id,
                        "study_id": study_id,
                        "device_id": draft.study["device_id"],
                        **usage,
                    }
                ],
            )


def ingest_batch(session: Session, site_id: uuid.UUID, batch: RecordBatch) -> IngestResult:
    """Store a batch from ``site_id``'s edge in the session's tenant; commit atomically.

    Parameters
    ----------
    session
        A session scoped to the site's organisation; this function commits it (or rolls
        back on any error, leaving nothing written).
    site_id
        The site the authenticated edge belongs to.
    batch
        The validated batch (see :func:`parse_batch`).
    """
    org_id = current_tenant(session)
    if not isinstance(org_id, uuid.UUID):
        raise RuntimeError("ingest needs a session scoped to one organisation")
    prepared = _prepare(batch.records, org_id)  # outside the write transaction
    for attempt in range(_CONFLICT_RETRIES + 1):
        try:
            begin_write(session)
            result = _ingest(session, org_id, site_id, batch, prepared)
            session.commit()
        except DBAPIError as exc:
            # Another worker committed some of these rows (same record key, device or
            # patient) after we looked, or PostgreSQL broke a deadlock between two
            # batches: start again, and what the other committed is now known.
            session.rollback()
            if attempt == _CONFLICT_RETRIES or not _retryable(exc):
                raise
            continue
        except BaseException:
            session.rollback()
            raise
        return result
    raise AssertionError("unreachable")


def _ingest(
    session: Session,
    org_id: uuid.UUID,
    site_id: uuid.UUID,
    batch: RecordBatch,
    prepared: dict[str, _Prepared],
) -> IngestResult:
    keys = [r.record_key for r in batch.records]
    known = set(
        session.scalars(
            select(RecordReceipt.record_key).where(among(session, RecordReceipt.record_key, keys))
        )
    )
    fresh: list[StudyRecord] = []
    withheld: list[str] = []
    alerts = 0
    new_keys: list[str] = []
    duplicate: list[str] = []
    for record in batch.records:
        if record.record_key in known:
            duplicate.append(record.record_key)
            continue
        known.add(record.record_key)
        new_keys.append(record.record_key)
        fresh.append(record)
    if fresh:
        # shared with other batches; a summary rebuild of this site takes it exclusively
        lock_site(session, site_id)
        writer = _BatchWriter(session, org_id, site_id, prepared)
        devices = writer.device_ids(fresh)
        patients = writer.patient_ids(fresh)
        if writer.denied:  # the patient denied pooling after these were sent
            withheld = [r.record_key for r in fresh if r.patient.pseudonym in writer.denied]
            fresh = [r for r in fresh if r.patient.pseudonym not in writer.denied]
            skipped = set(withheld)
            new_keys = [k for k in new_keys if k not in skipped]
    if fresh:
        writer.load_stored({r.study_uid for r in fresh})
        for record in fresh:
            writer.apply(
                record, devices[record.device.device_key], patients[record.patient.pseudonym]
            )
        writer.flush()
        changes = writer.summary_changes()
        receipts = [
            {
                "org_id": org_id,
                "record_key": record.record_key,
                "site_id": site_id,
                "study_id": writer.drafts[record.study_uid].study["id"],
                "received_at": writer.now,
            }
            for record in fresh
        ]
        _bulk_insert(session, RecordReceipt.__table__, receipts)
        # in the batch's transaction: a stored study always has its alerts
        opened = evaluate_studies(
            session, org_id, [d.study["id"] for d in writer.drafts.values()], now=writer.now
        )
        alerts = len(opened)
        # last: concurrent batches of this site wait on these cells' locks until we commit
        changes.apply(session, org_id)
    return IngestResult(
        received=len(batch.records),
        new=new_keys,
        duplicate=duplicate,
        alerts_opened=alerts,
        withheld=withheld,
    )
