"""The per-object pipeline: extract → consent → de-identified study state → residual scan → outbox.

Every receiver (DIMSE, STOW-RS, folder import, quarantine retry) hands objects here and gets
an :class:`Outcome` back. An object is *accepted* only once its facts are committed to the
edge's database (``synchronous=FULL``) or it is durably quarantined; when the storage is
full the pipeline refuses it (the DIMSE receiver answers 0xA700) rather than lose it.
An object that cannot be used (:attr:`QuarantineReason.sender_fault`) is kept in
quarantine and its sender is told it failed (DIMSE 0xC000/0xA900, a STOW-RS
FailedSOPSequence item), so that no one believes it counted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from pydicom.dataset import Dataset

from medcoop import records
from medcoop.deid.pseudonym import SiteKey
from medcoop.dicom.model import Damaged, Extraction, MppsFacts, Skipped
from medcoop.dicom.part10 import read_dataset
from medcoop.edge.config import EdgeSettings
from medcoop.edge.consent import ConsentList
from medcoop.edge.errors import StorageFullError
from medcoop.edge.outbox import Outbox
from medcoop.edge.privacy import warm_privacy_caches

try:  # (field, kind) findings where the residual check gives them; else a count
    from medcoop.edge.privacy import residual_findings as residual_hits  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - until edge/privacy.py names its findings
    from medcoop.edge.privacy import residual_hits  # type: ignore[assignment]
from medcoop.edge.quarantine import Finding, Quarantine, QuarantinedObject, QuarantineReason
from medcoop.edge.store import EdgeStore, now_s
from medcoop.edge.studies import StudyState, build_record, with_key

__all__ = ["Outcome", "OutcomeStatus", "Pipeline"]

log = logging.getLogger("medcoop.edge.pipeline")

#: Dose report SOP classes: one that yields nothing is quarantined, not skipped.
_DOSE_REPORT_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.76",  # Patient Radiation Dose SR
    }
)
#: A study with its MPPS completed and its dose report in is sent this long after its
#: last object (later objects of it make a new record, merged at the hub by event UID).
SETTLE_S = 2.0
#: A study with its MPPS completed but no dose report yet waits this long for one.
MPPS_SETTLE_S = 30.0


class OutcomeStatus(StrEnum):
    """What became of one object."""

    #: Its facts are committed to the study's state.
    STORED = "stored"
    #: No dose or usage facts in it (counted).
    SKIPPED = "skipped"
    #: The patient opted out of pooling (counted, nothing kept).
    WITHHELD = "withheld"
    #: Kept locally with a reason (see :class:`QuarantineReason`).
    QUARANTINED = "quarantined"
    #: Not accepted (storage full): the sender must keep it and retry.
    REFUSED = "refused"
    #: Not accepted and not kept: it does not belong where it was sent (STOW-RS to
    #: another study's URL).
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline did with one object, and why."""

    status: OutcomeStatus
    reason: str | None = None
    quarantine_id: int | None = None
    code: QuarantineReason | None = None
    findings: tuple[Finding, ...] = ()
    #: The object's SOP Class and Instance UIDs, when it could be parsed (for the answer).
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the object is safely in the edge's hands (the sender may forget it)."""
        return self.status not in (OutcomeStatus.REFUSED, OutcomeStatus.REJECTED)

    @property
    def failed(self) -> bool:
        """Whether the sender must be told the object failed (refused, or unusable)."""
        return not self.accepted or (self.code is not None and self.code.sender_fault)


#: Outcomes whose objects on-premise apps may receive (consent governs pooling, not care).
_FOR_APPS = frozenset({OutcomeStatus.STORED, OutcomeStatus.SKIPPED, OutcomeStatus.WITHHELD})


class Pipeline:
    """Turns received objects into durable, de-identified study state and outbox records."""

    def __init__(
        self,
        settings: EdgeSettings,
        store: EdgeStore,
        key: SiteKey,
        *,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.key = key
        self.zone = settings.zone
        self.outbox = Outbox(store)
        self.consent = ConsentList(store, key)
        self.quarantine = Quarantine(store, settings.quarantine_dir)
        self._allowed = frozenset(t.strip().casefold() for t in settings.deid.allow_terms)
        self._on_queued = on_queued or (lambda: None)
        self._space_checked_at = 0.0
        self._low_space = False
        self._space_lock = threading.Lock()
        #: On-premise apps' hooks (medcoop.apps.edge.AppInbox), set when apps are enabled:
        #: every accepted object, and each study the edge decides is complete.
        self.on_object: Callable[[Dataset, bytes], None] | None = None
        self.on_study_complete: Callable[[sqlite3.Connection, str], None] | None = None

    # --- entry points ------------------------------------------------------------------
    def process_bytes(
        self,
        data: bytes,
        origin: str,
        *,
        sender: str | None = None,
        quarantine_failures: bool = True,
        expect_study_uid: str | None = None,
    ) -> Outcome:
        """Process one DICOM object given as bytes (Part 10 file, or a bare dataset).

        ``origin`` names the receiver (``dimse``, ``stow``, ``import``); ``sender`` the
        calling AE title or the client's address, kept with a quarantine entry. With
        ``expect_study_uid`` an object of another study is rejected (not kept).
        """
        failure = _Failure(data, origin, sender, quarantine_failures)
        ds: Dataset | None = None
        problem: Exception | None = None
        try:
            ds = read_dataset(data)
            if not ds.get("SOPClassUID") or not ds.get("SOPInstanceUID"):
                raise ValueError("no SOP Class or SOP Instance UID")
        except Exception as exc:  # any parse failure is the object's fault
            problem = exc
        ids: dict[str, str] = {}
        if problem is None and ds is not None:
            ids = {
                "sop_class_uid": str(ds.SOPClassUID),
                "sop_instance_uid": str(ds.SOPInstanceUID),
            }
        try:  # after parsing (the refusal names the instance), before any write
            self.check_space()
        except StorageFullError as exc:
            return Outcome(OutcomeStatus.REFUSED, reason=str(exc), **ids)  # type: ignore[arg-type]
        if problem is not None or ds is None:
            code, reason = _unreadable(problem, "malformed")
            if code is QuarantineReason.UNREADABLE:
                code = QuarantineReason.MALFORMED  # it did not even parse
            return self._fail(failure, code, reason)
        if expect_study_uid is not None and str(ds.get("StudyInstanceUID", "")) != expect_study_uid:
            return Outcome(OutcomeStatus.REJECTED, reason="not of the study addressed", **ids)  # type: ignore[arg-type]
        failure.object_key = self.key.remap_uid(ids["sop_instance_uid"])
        outcome = self._process_dataset(ds, data, failure)
        if self.on_object is not None and outcome.status in _FOR_APPS:
            self._keep_for_apps(ds, data)
        return replace(outcome, **ids)  # type: ignore[arg-type]

    def process_mpps(self, ds: Dataset, mpps_uid: str, origin: str) -> Outcome:
        """Process an MPPS N-CREATE or N-SET dataset for the instance ``mpps_uid``."""
        from medcoop.dicom import extract_mpps

        try:
            self.check_space()
        except StorageFullError as exc:
            return Outcome(OutcomeStatus.REFUSED, reason=str(exc))
        failure = _Failure(b"", origin, sender=None, keep=True)
        failure.object_key = "mpps:" + self.key.remap_uid(mpps_uid or "none")
        try:
            facts = extract_mpps(ds)
        except Exception as exc:  # a bug must not take the receiver down
            failure.data = _encode(ds)
            return self._fail(failure, *_unreadable(exc, "mpps extraction failed"))
        if isinstance(facts, Skipped):
            return self._count("skipped", Outcome(OutcomeStatus.SKIPPED, reason=facts.reason))
        try:
            return self._apply_mpps(facts, mpps_uid)
        except _ResidualFound as exc:
            failure.data = _encode(ds)
            return self._fail(
                failure, QuarantineReason.RESIDUAL_IDENTIFIER, exc.reason, exc.findings
            )
        except sqlite3.OperationalError as exc:
            return _refusal(exc)

    def _keep_for_apps(self, ds: Dataset, data: bytes) -> None:
        # Apps never stop reception: an object they cannot get is logged, still accepted.
        assert self.on_object is not None
        try:
            self.on_object(ds, data)
        except Exception:
            log.exception("cannot keep an object for on-premise apps")

    def retry_quarantined(self, quarantine_id: int) -> bool:
        """Process a quarantined object again; return whether it left the quarantine.

        Run after a configuration change (``deid.allow_terms``) or an upgrade: what now
        passes is processed and leaves; what fails again stays, with this try's reason.
        """
        return self.retry_item(self.quarantine.get(quarantine_id)).accepted_now

    def retry_item(self, item: QuarantinedObject) -> RetryResult:
        """Process one quarantined object again (see :meth:`retry_quarantined`)."""
        data = self.quarantine.read(item)
        if item.origin == "mpps":  # an MPPS dataset is kept encoded; it was never a file
            return RetryResult(False, item.reason_code)
        outcome = self.process_bytes(
            data, item.origin, sender=item.sender, quarantine_failures=False
        )
        if not outcome.accepted:  # storage full: keep it, unchanged
            return RetryResult(False, item.reason_code)
        if outcome.status is OutcomeStatus.QUARANTINED and outcome.code is not None:
            self.quarantine.note_retry(
                item.quarantine_id,
                code=outcome.code,
                reason=outcome.reason or "",
                findings=outcome.findings,
            )
            return RetryResult(False, outcome.code)
        self.quarantine.release(item)
        return RetryResult(True, item.reason_code)

    def process_file(self, path: Path, origin: str = "import") -> Outcome:
        """Process one file from a folder import."""
        return self.process_bytes(path.read_bytes(), origin, sender=origin)

    # --- storage floor -----------------------------------------------------------------
    def check_space(self) -> None:
        """Raise :class:`StorageFullError` when the data folder is below its free-space floor."""
        floor = self.settings.storage.min_free_bytes
        if floor <= 0:
            return
        with self._space_lock:  # statvfs at most every 0.25 s: it is on the hot path
            if time.monotonic() - self._space_checked_at < 0.25 and not self._low_space:
                return
            free = shutil.disk_usage(self.settings.storage.data_dir).free
            self._space_checked_at = time.monotonic()
            self._low_space = free < floor
        if self._low_space:
            raise StorageFullError(str(self.settings.storage.data_dir), free, floor)

    # --- internals ---------------------------------------------------------------------
    def _process_dataset(self, ds: Dataset, data: bytes, failure: _Failure) -> Outcome:
        from medcoop.dicom import extract_dataset

        try:
            ext = extract_dataset(ds)
        except Exception as exc:  # malformed or truncated content surfaces here
            return self._fail(failure, *_unreadable(exc, "unreadable"))
        if isinstance(ext, Damaged):  # cut short: never half-counted, the sender must resend
            return self._fail(failure, QuarantineReason.TRUNCATED, f"truncated: {ext.reason}")
        if isinstance(ext, Skipped):
            if str(ds.get("SOPClassUID", "")) in _DOSE_REPORT_CLASSES:
                reason = f"dose report without usable content: {ext.reason[:120]}"
                return self._fail(failure, QuarantineReason.UNUSABLE_DOSE_REPORT, reason)
            return self._count("skipped", Outcome(OutcomeStatus.SKIPPED, reason=ext.reason))
        if str(ds.SOPClassUID) in _DOSE_REPORT_CLASSES and not _has_dose(ext):
            # a report stating no event and no total is broken, not a zero-dose exam
            reason = "dose report without usable content: no irradiation event and no total"
            return self._fail(failure, QuarantineReason.UNUSABLE_DOSE_REPORT, reason)
        if _burned_in(ds) and ext.source is not records.SourceKind.RDSR and not ext.events:
            return self._fail(
                failure, QuarantineReason.BURNED_IN_ANNOTATION, "burned-in annotation declared"
            )
        try:
            outcome = self._apply_extraction(ext, failure)
        except sqlite3.OperationalError as exc:
            return _refusal(exc)
        if outcome.status is OutcomeStatus.STORED and self.settings.storage.retain_received:
            self._retain(ext, data)
        return outcome

    def identifying_values(self, values: Iterable[str]) -> frozenset[str]:
        """The values the residual check looks for: the object's, less the allowed terms.

        ``deid.allow_terms`` lists values a site knows are not a person's (a department
        called "Mammography"): an identifying value equal to one, ignoring case, is not
        looked for and not cleaned from text.
        """
        allowed = self._allowed
        if not allowed:
            return frozenset(values)
        return frozenset(v for v in values if v.strip().casefold() not in allowed)

    def _apply_extraction(self, ext: Extraction, failure: _Failure) -> Outcome:
        pseudonym = self.key.patient_pseudonym(
            ext.patient.patient_id or "", ext.patient.issuer_of_patient_id or ""
        )
        study_uid = self.key.remap_uid(ext.study_instance_uid)
        values = self.identifying_values(ext.identifying_values())
        # Work in the commit is serial and slowed by every other thread wanting the GIL:
        # what does not depend on the study's stored state is done here, in parallel
        # with the commit in progress, and cached for the merge.
        warm_privacy_caches(
            values,
            [ext.study_description, ext.performed_protocol, *(e.protocol for e in ext.events)],
        )

        def work(conn: sqlite3.Connection) -> Outcome:
            if ext.patient.patient_id and self.consent.is_opted_out(pseudonym):
                self.store.bump_many(conn, ("consent_withheld", "received"))
                return Outcome(OutcomeStatus.WITHHELD, reason="patient opted out of pooling")
            state, emitted_before = self._load_state(conn, study_uid)
            state.add_extraction(ext, self.key, self.zone, values)
            draft = build_record(state, keyed=False)
            findings = _findings(residual_hits(values, draft.model_dump_json()))
            if findings:  # raised: the group commit rolls this object's changes back
                raise _ResidualFound(findings)
            self._save_and_maybe_emit(conn, state, emitted_before, draft)
            self.store.bump_many(conn, ("processed", "received"))
            return Outcome(OutcomeStatus.STORED)

        try:
            return self.store.commit_grouped(work)
        except _ResidualFound as exc:
            return self._fail(
                failure, QuarantineReason.RESIDUAL_IDENTIFIER, exc.reason, exc.findings
            )

    def _apply_mpps(self, facts: MppsFacts, mpps_uid: str) -> Outcome:
        remapped_mpps = self.key.remap_uid(mpps_uid)
        incoming = [self.key.remap_uid(u) for u in facts.study_instance_uids]
        values = self.identifying_values(facts.identifying_values())
        warm_privacy_caches(values, [facts.performed_protocol])  # as for objects

        def work(conn: sqlite3.Connection) -> Outcome:
            known = self.store.mpps_studies(conn, remapped_mpps)
            study_uids = list(dict.fromkeys([*known, *incoming]))
            if not study_uids:
                self.store.bump_many(conn, ("skipped", "received"))
                return Outcome(OutcomeStatus.SKIPPED, reason="MPPS for no known study")
            self.store.set_mpps_studies(conn, remapped_mpps, study_uids)
            findings: list[Finding] = []
            for study_uid in study_uids:
                state, emitted_before = self._load_state(conn, study_uid)
                state.add_mpps(facts, self.key, self.zone, values)
                draft = build_record(state, keyed=False)
                findings += _findings(residual_hits(values, draft.model_dump_json()))
                if not findings:
                    self._save_and_maybe_emit(conn, state, emitted_before, draft)
            if findings:
                raise _ResidualFound(findings)
            self.store.bump_many(conn, ("processed", "received"))
            return Outcome(OutcomeStatus.STORED)

        return self.store.commit_grouped(work)

    def _load_state(self, conn: sqlite3.Connection, study_uid: str) -> tuple[StudyState, bool]:
        """Return a study's state and whether a record of it was queued before."""
        text, emitted_before = self.store.load_study(conn, study_uid)
        if text is None:
            return StudyState(study_uid=study_uid), False
        return StudyState.from_json(text), emitted_before

    def _save_and_maybe_emit(
        self,
        conn: sqlite3.Connection,
        state: StudyState,
        emitted_before: bool,
        draft: records.StudyRecord | None = None,
    ) -> None:
        self.store.save_study(
            conn,
            state.study_uid,
            state.to_json(),
            has_rdsr=state.has_rdsr,
            mpps_completed=state.mpps_final,
        )
        if state.has_rdsr and state.mpps_final and not emitted_before:
            self._emit(conn, state, draft)

    def _emit(
        self, conn: sqlite3.Connection, state: StudyState, draft: records.StudyRecord | None = None
    ) -> None:
        # ``draft``: the caller's unkeyed build of this very state (saves a rebuild).
        patient = state.patient or {}
        if self.consent.is_opted_out(patient.get("pseudonym", "")):
            self.store.forget_study(conn, state.study_uid)
            self.store.bump(conn, "consent_withheld")
            return
        record = with_key(draft) if draft is not None else build_record(state)
        self.outbox.enqueue(conn, record)
        self.store.mark_emitted(conn, state.study_uid, record.record_key)
        if self.on_study_complete is not None:  # the edge decided: due for apps shortly
            self.on_study_complete(conn, state.study_uid)
        self._on_queued()

    def emit_due(self, *, now: float | None = None) -> int:
        """Queue records of studies that are complete or idle long enough; return how many."""
        now = now_s() if now is None else now
        due = self.store.due_studies(
            idle_before=now - self.settings.study_completion_timeout_s,
            complete_before=now - SETTLE_S,
            mpps_before=now - MPPS_SETTLE_S,
        )
        if due:
            # One commit for all of them; a study that fails to build is logged and left
            # dirty (retried next time) without holding the others back.
            with self.store.transaction() as conn:
                for study_uid in due:
                    conn.execute("SAVEPOINT due")
                    try:
                        self._emit(conn, self._load_state(conn, study_uid)[0])
                    except Exception:
                        if not conn.in_transaction:
                            raise
                        conn.execute("ROLLBACK TO due")
                        log.exception("cannot emit a study's record")
                    conn.execute("RELEASE due")
        return len(due)

    def prune(self, *, now: float | None = None) -> int:
        """Forget what retention no longer requires; return how many items were removed.

        Retained copies of received objects older than ``retention_days`` are deleted, and so
        is the state of studies already sent and untouched for as long (a later object for
        such a study starts a new state and its record merges at the hub by event UID).
        """
        now = now_s() if now is None else now
        cutoff = now - self.settings.storage.retention_days * 86400.0
        removed = self.store.prune_studies(cutoff)
        received = self.settings.received_dir
        if received.is_dir():
            for path in received.rglob("*.dcm"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _fail(
        self,
        failure: _Failure,
        code: QuarantineReason,
        reason: str,
        findings: tuple[Finding, ...] = (),
    ) -> Outcome:
        outcome = Outcome(OutcomeStatus.QUARANTINED, reason=reason, code=code, findings=findings)
        if not failure.keep:
            return outcome
        try:
            qid = self.quarantine.put(
                failure.data,
                code=code,
                reason=reason,
                origin=failure.origin,
                sender=failure.sender,
                findings=findings,
                object_key=failure.object_key or _bytes_key(failure.data),
                counters=("received",),
            )
        except (OSError, sqlite3.OperationalError) as exc:
            return _refusal(exc)
        log.warning(
            "object quarantined",
            extra={"reason": code.value, "quarantine_id": qid, "origin": failure.origin},
        )
        return Outcome(
            OutcomeStatus.QUARANTINED, reason=reason, quarantine_id=qid, code=code,
            findings=findings,
        )

    def _count(self, name: str, outcome: Outcome) -> Outcome:
        # One commit per object: the outcome's counter and "received" together; a full
        # disk refuses the object (the sender retries) rather than lose its count.
        def work(conn: sqlite3.Connection) -> None:
            self.store.bump_many(conn, (name, "received"))

        try:
            self.store.commit_grouped(work)
        except sqlite3.OperationalError as exc:
            return _refusal(exc)
        return outcome

    def _retain(self, ext: Extraction, data: bytes) -> None:
        folder = self.settings.received_dir / self.key.remap_uid(ext.study_instance_uid)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{self.key.remap_uid(ext.sop_instance_uid)}.dcm"
        path.write_bytes(data)
        path.chmod(0o600)


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What retrying one quarantined object did."""

    accepted_now: bool
    code: QuarantineReason


@dataclass(slots=True)
class _Failure:
    """Where an object came from, for its quarantine entry if it gets one."""

    data: bytes
    origin: str
    sender: str | None
    keep: bool  # False on a retry: the object already has its entry
    object_key: str | None = None


class _ResidualFound(Exception):
    def __init__(self, findings: list[Finding]) -> None:
        self.findings = tuple(sorted(set(findings)))
        self.reason = "residual identifier: " + "; ".join(
            f"{kind} in {field}" for field, kind in self.findings
        )
        super().__init__(self.reason)


def _findings(hits: object) -> list[Finding]:
    """The residual check's answer as (field, kind) pairs.

    Accepts a list of pairs or of objects with ``field``/``path`` and ``kind``, or a bare
    count (an older check that says only how many values it found).
    """
    if isinstance(hits, int):
        return [("record", "identifying value")] if hits else []
    found: list[Finding] = []
    for hit in hits:  # type: ignore[attr-defined]
        if isinstance(hit, tuple):
            found.append((str(hit[0]), str(hit[1])))
        else:
            where = getattr(hit, "field", None) or getattr(hit, "path", "record")
            found.append((str(where), str(getattr(hit, "kind", "identifying value"))))
    return found


def _unreadable(exc: BaseException | None, prefix: str) -> tuple[QuarantineReason, str]:
    """The reason for an object whose content could not be extracted.

    Any extraction error means the object cannot be used; one whose class says it was cut
    short (the extractor's truncation error) is recorded as such.
    """
    name = type(exc).__name__
    if "truncat" in name.lower():
        return QuarantineReason.TRUNCATED, f"truncated: {name}"
    return QuarantineReason.UNREADABLE, f"{prefix}: {name}"


def _bytes_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
    except Exception:  # an unencodable dataset is still kept, as its repr
        return repr(ds).encode("utf-8", "replace")
    return buffer.getvalue()


def _has_dose(ext: Extraction) -> bool:
    totals = ext.totals.model_dump(exclude_none=True, exclude={"number_of_events"})
    return bool(ext.events) or any(v not in (0, 0.0) for v in totals.values())


def _burned_in(ds: Dataset) -> bool:
    return str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES"


def _refusal(exc: BaseException) -> Outcome:
    log.error("storage failure: refusing objects", extra={"error": type(exc).__name__})
    return Outcome(OutcomeStatus.REFUSED, reason=f"storage failure: {type(exc).__name__}: {exc}")
