"""The per-object pipeline: extract → consent → de-identified study state → residual scan → outbox.

Every receiver (DIMSE, STOW-RS, folder import, quarantine retry) hands objects here and gets
an :class:`Outcome` back. An object is *accepted* only once its facts are committed to the
edge's database (``synchronous=FULL``) or it is durably quarantined; when the storage is
full the pipeline refuses it (the DIMSE receiver answers 0xA700) rather than lose it.
"""

from __future__ import annotations

import io
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from medcoop.edge.privacy import residual_hits, warm_privacy_caches
from medcoop.edge.quarantine import Quarantine
from medcoop.edge.store import EdgeStore, now_s
from medcoop.edge.studies import StudyState, build_record, with_key

__all__ = ["Outcome", "Pipeline"]

log = logging.getLogger("medcoop.edge.pipeline")

#: Dose report SOP classes: one that yields nothing is quarantined, not skipped.
_DOSE_REPORT_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
        "1.2.840.10008.5.1.4.1.1.88.76",  # Patient Radiation Dose SR
    }
)
#: After a study's first record, later objects are gathered this long before re-sending.
_SETTLE_S = 2.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline did with one object.

    ``status`` is ``stored`` (facts committed), ``skipped`` (no dose or usage facts in it,
    counted), ``withheld`` (the patient opted out), ``quarantined`` (kept locally with a
    reason) or ``refused`` (not accepted: storage full; the sender must retry).
    """

    status: str
    reason: str | None = None
    quarantine_id: int | None = None

    @property
    def accepted(self) -> bool:
        """Whether the object is safely in the edge's hands (the sender may forget it)."""
        return self.status != "refused"


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
        self._on_queued = on_queued or (lambda: None)
        self._space_checked_at = 0.0
        self._low_space = False
        self._space_lock = threading.Lock()

    # --- entry points ------------------------------------------------------------------
    def process_bytes(
        self, data: bytes, origin: str, *, quarantine_failures: bool = True
    ) -> Outcome:
        """Process one DICOM object given as bytes (Part 10 file, or a bare dataset)."""
        try:
            self.check_space()
        except StorageFullError as exc:
            return Outcome("refused", reason=str(exc))
        try:
            ds = read_dataset(data)
            if not ds.get("SOPClassUID") or not ds.get("SOPInstanceUID"):
                raise ValueError("no SOP Class or SOP Instance UID")
        except Exception as exc:  # any parse failure is the object's fault
            return self._fail(data, f"malformed: {type(exc).__name__}", origin, quarantine_failures)
        return self._process_dataset(ds, data, origin, quarantine_failures)

    def process_mpps(self, ds: Dataset, mpps_uid: str, origin: str) -> Outcome:
        """Process an MPPS N-CREATE or N-SET dataset for the instance ``mpps_uid``."""
        from medcoop.dicom import extract_mpps

        try:
            self.check_space()
        except StorageFullError as exc:
            return Outcome("refused", reason=str(exc))
        try:
            facts = extract_mpps(ds)
        except Exception as exc:  # a bug must not take the receiver down
            return self._fail(_encode(ds), f"mpps extraction failed: {type(exc).__name__}", origin)
        if isinstance(facts, Skipped):
            return self._count("skipped", Outcome("skipped", reason=facts.reason))
        try:
            return self._apply_mpps(facts, mpps_uid)
        except _ResidualFound as exc:
            return self._fail(_encode(ds), exc.reason, origin)
        except sqlite3.OperationalError as exc:
            return _refusal(exc)

    def retry_quarantined(self, quarantine_id: int) -> bool:
        """Process a quarantined object again; return whether it left the quarantine."""

        def attempt(data: bytes, origin: str) -> bool:
            outcome = self.process_bytes(data, origin, quarantine_failures=False)
            return outcome.accepted and outcome.status != "quarantined"

        return self.quarantine.retry(quarantine_id, attempt)

    def process_file(self, path: Path, origin: str = "import") -> Outcome:
        """Process one file from a folder import."""
        return self.process_bytes(path.read_bytes(), origin)

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
    def _process_dataset(
        self, ds: Dataset, data: bytes, origin: str, quarantine_failures: bool
    ) -> Outcome:
        from medcoop.dicom import extract_dataset

        try:
            ext = extract_dataset(ds)
        except Exception as exc:  # malformed content surfaces here (lazy parse)
            return self._fail(
                data, f"unreadable: {type(exc).__name__}", origin, quarantine_failures
            )
        if isinstance(ext, Damaged):  # cut short: never half-counted, the sender must resend
            return self._fail(data, f"malformed: {ext.reason}", origin, quarantine_failures)
        if isinstance(ext, Skipped):
            if str(ds.get("SOPClassUID", "")) in _DOSE_REPORT_CLASSES:
                reason = f"dose report without usable content: {ext.reason[:120]}"
                return self._fail(data, reason, origin, quarantine_failures)
            return self._count("skipped", Outcome("skipped", reason=ext.reason))
        if _burned_in(ds) and ext.source is not records.SourceKind.RDSR and not ext.events:
            return self._fail(data, "burned-in annotation declared", origin, quarantine_failures)
        try:
            outcome = self._apply_extraction(ext, data, origin, quarantine_failures)
        except sqlite3.OperationalError as exc:
            return _refusal(exc)
        if outcome.status == "stored" and self.settings.storage.retain_received:
            self._retain(ext, data)
        return outcome

    def _apply_extraction(
        self, ext: Extraction, data: bytes, origin: str, quarantine_failures: bool
    ) -> Outcome:
        pseudonym = self.key.patient_pseudonym(
            ext.patient.patient_id or "", ext.patient.issuer_of_patient_id or ""
        )
        study_uid = self.key.remap_uid(ext.study_instance_uid)
        values = frozenset(ext.identifying_values())
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
                return Outcome("withheld", reason="patient opted out of pooling")
            state, emitted_before = _load_state(conn, study_uid)
            state.add_extraction(ext, self.key, self.zone, values)
            draft = build_record(state, keyed=False)
            hits = residual_hits(values, draft.model_dump_json())
            if hits:  # raised: the group commit rolls this object's changes back
                raise _ResidualFound(hits)
            self._save_and_maybe_emit(conn, state, emitted_before, draft)
            self.store.bump_many(conn, ("processed", "received"))
            return Outcome("stored")

        try:
            return self.store.commit_grouped(work)
        except _ResidualFound as exc:
            return self._fail(data, exc.reason, origin, quarantine_failures)

    def _apply_mpps(self, facts: MppsFacts, mpps_uid: str) -> Outcome:
        remapped_mpps = self.key.remap_uid(mpps_uid)
        incoming = [self.key.remap_uid(u) for u in facts.study_instance_uids]
        values = frozenset(facts.identifying_values())
        warm_privacy_caches(values, [facts.performed_protocol])  # as for objects

        def work(conn: sqlite3.Connection) -> Outcome:
            known = _mpps_studies(conn, remapped_mpps)
            study_uids = list(dict.fromkeys([*known, *incoming]))
            if not study_uids:
                self.store.bump_many(conn, ("skipped", "received"))
                return Outcome("skipped", reason="MPPS for no known study")
            conn.execute(
                "INSERT INTO mpps (mpps_uid, study_uids) VALUES (?, ?) "
                "ON CONFLICT(mpps_uid) DO UPDATE SET study_uids = excluded.study_uids",
                (remapped_mpps, ",".join(study_uids)),
            )
            hits = 0
            for study_uid in study_uids:
                state, emitted_before = _load_state(conn, study_uid)
                state.add_mpps(facts, self.key, self.zone, values)
                draft = build_record(state, keyed=False)
                hits += residual_hits(values, draft.model_dump_json())
                if not hits:
                    self._save_and_maybe_emit(conn, state, emitted_before, draft)
            if hits:
                raise _ResidualFound(hits)
            self.store.bump_many(conn, ("processed", "received"))
            return Outcome("stored")

        return self.store.commit_grouped(work)

    def _save_and_maybe_emit(
        self,
        conn: sqlite3.Connection,
        state: StudyState,
        emitted_before: bool,
        draft: records.StudyRecord | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO studies (study_uid, state, has_rdsr, mpps_completed, dirty, "
            "last_update_at) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(study_uid) DO UPDATE SET "
            "state = excluded.state, has_rdsr = excluded.has_rdsr, "
            "mpps_completed = excluded.mpps_completed, dirty = 1, "
            "last_update_at = excluded.last_update_at",
            (state.study_uid, state.to_json(), state.has_rdsr, state.mpps_final, now_s()),
        )
        if state.has_rdsr and state.mpps_final and not emitted_before:
            self._emit(conn, state, draft)

    def _emit(
        self, conn: sqlite3.Connection, state: StudyState, draft: records.StudyRecord | None = None
    ) -> None:
        # ``draft``: the caller's unkeyed build of this very state (saves a rebuild).
        patient = state.patient or {}
        if self.consent.is_opted_out(patient.get("pseudonym", "")):
            conn.execute("DELETE FROM studies WHERE study_uid = ?", (state.study_uid,))
            self.store.bump(conn, "consent_withheld")
            return
        record = with_key(draft) if draft is not None else build_record(state)
        self.outbox.enqueue(conn, record)
        conn.execute(
            "UPDATE studies SET dirty = 0, last_record_key = ? WHERE study_uid = ?",
            (record.record_key, state.study_uid),
        )
        self._on_queued()

    def emit_due(self, *, now: float | None = None) -> int:
        """Queue records of studies that are complete or idle long enough; return how many."""
        now = now_s() if now is None else now
        idle_before = now - self.settings.study_completion_timeout_s
        with self.store.reading() as conn:
            due = [
                row[0]
                for row in conn.execute(
                    "SELECT study_uid FROM studies WHERE dirty = 1 AND (last_update_at <= ? OR "
                    "(has_rdsr = 1 AND mpps_completed = 1 AND last_update_at <= ?))",
                    (idle_before, now - _SETTLE_S),
                )
            ]
        if due:
            # One commit for all of them; a study that fails to build is logged and left
            # dirty (retried next time) without holding the others back.
            with self.store.transaction() as conn:
                for study_uid in due:
                    conn.execute("SAVEPOINT due")
                    try:
                        self._emit(conn, _load_state(conn, study_uid)[0])
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
        removed = 0
        with self.store.transaction() as conn:
            removed += conn.execute(
                "DELETE FROM studies WHERE dirty = 0 AND last_update_at < ?", (cutoff,)
            ).rowcount
        received = self.settings.received_dir
        if received.is_dir():
            for path in received.rglob("*.dcm"):
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _fail(
        self, data: bytes, reason: str, origin: str, quarantine_failures: bool = True
    ) -> Outcome:
        if not quarantine_failures:
            return Outcome("quarantined", reason=reason)
        try:
            qid = self.quarantine.put(data, reason=reason, origin=origin, counters=("received",))
        except (OSError, sqlite3.OperationalError) as exc:
            return _refusal(exc)
        log.warning("object quarantined", extra={"reason": reason, "quarantine_id": qid})
        return Outcome("quarantined", reason=reason, quarantine_id=qid)

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


class _ResidualFound(Exception):
    def __init__(self, hits: int) -> None:
        self.reason = f"residual identifiers in the de-identified record ({hits} value(s))"
        super().__init__(self.reason)


def _load_state(conn: sqlite3.Connection, study_uid: str) -> tuple[StudyState, bool]:
    """Return a study's state and whether a record of it was queued before."""
    row = conn.execute(
        "SELECT state, last_record_key FROM studies WHERE study_uid = ?", (study_uid,)
    ).fetchone()
    if row is None:
        return StudyState(study_uid=study_uid), False
    return StudyState.from_json(row[0]), row[1] is not None


def _mpps_studies(conn: sqlite3.Connection, mpps_uid: str) -> list[str]:
    row = conn.execute("SELECT study_uids FROM mpps WHERE mpps_uid = ?", (mpps_uid,)).fetchone()
    return [] if row is None or not row[0] else row[0].split(",")


def _encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
    except Exception:  # an unencodable dataset is still kept, as its repr
        return repr(ds).encode("utf-8", "replace")
    return buffer.getvalue()


def _burned_in(ds: Dataset) -> bool:
    return str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES"


def _refusal(exc: BaseException) -> Outcome:
    log.error("storage failure: refusing objects", extra={"error": type(exc).__name__})
    return Outcome("refused", reason=f"storage failure: {type(exc).__name__}: {exc}")
