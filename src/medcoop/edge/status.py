"""What ``medcoop edge status`` shows: counters, backlog, upload state, open studies, quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from medcoop.edge.outbox import Backlog
from medcoop.edge.pipeline import MPPS_SETTLE_S, SETTLE_S, Pipeline
from medcoop.edge.quarantine import QuarantinedObject
from medcoop.edge.store import OpenStudy

__all__ = ["EdgeStatus", "OpenStudyView", "hub_report", "read_status", "send_at"]


@dataclass(frozen=True, slots=True)
class OpenStudyView:
    """An open study and when its record will be queued for the hub (if nothing else comes)."""

    study_uid: str  # remapped: never the scanner's UID
    last_object_at: datetime
    send_at: datetime
    why: str  # "MPPS completed, dose report in", "MPPS completed", "idle timeout"
    update: bool  # a record of it was sent before: this one will update it


@dataclass(frozen=True, slots=True)
class EdgeStatus:
    """A snapshot of an edge's state."""

    counters: dict[str, int]
    backlog: Backlog
    open_studies: int
    opted_out_patients: int
    upload_error: str | None
    auth_failed: bool
    last_upload_at: str | None
    quarantine: list[QuarantinedObject]
    #: Objects in quarantine per reason code (see :class:`QuarantineReason`).
    quarantine_by_reason: dict[str, int]
    #: The open studies, oldest first (at most 1000), with when each will be sent.
    pending: list[OpenStudyView]


def send_at(study: OpenStudy, timeout_s: float) -> tuple[float, str]:
    """When an open study's record is queued (epoch seconds) and why then.

    The closer's rule (:meth:`Pipeline.emit_due`): MPPS completed with the dose report in,
    2 s after the last object; MPPS completed without one, 30 s after; otherwise
    ``study_completion_timeout_s`` after the last object. A later object moves it.
    """
    candidates = [(study.last_update_at + timeout_s, "idle timeout")]
    if study.mpps_completed and study.has_rdsr:
        candidates.append((study.last_update_at + SETTLE_S, "MPPS completed, dose report in"))
    elif study.mpps_completed:
        candidates.append((study.last_update_at + MPPS_SETTLE_S, "MPPS completed"))
    return min(candidates)


def read_status(pipeline: Pipeline, *, quarantine_limit: int = 1000) -> EdgeStatus:
    """Return the current status of the edge behind ``pipeline``."""
    store = pipeline.store
    timeout_s = pipeline.settings.study_completion_timeout_s
    pending = []
    for study in store.open_studies():
        due_at, why = send_at(study, timeout_s)
        pending.append(
            OpenStudyView(
                study_uid=study.study_uid,
                last_object_at=datetime.fromtimestamp(study.last_update_at, UTC),
                send_at=datetime.fromtimestamp(due_at, UTC),
                why=why,
                update=study.sent_before,
            )
        )
    return EdgeStatus(
        counters=store.counters(),
        backlog=pipeline.outbox.backlog(),
        open_studies=store.count_open_studies(),
        opted_out_patients=pipeline.consent.count(),
        upload_error=store.get_meta("upload_error"),
        auth_failed=store.get_meta("upload_auth_failed") == "1",
        last_upload_at=store.get_meta("last_upload_at"),
        quarantine=pipeline.quarantine.list(limit=quarantine_limit),
        quarantine_by_reason=pipeline.quarantine.counts_by_reason(),
        pending=pending,
    )


def hub_report(pipeline: Pipeline) -> dict[str, object]:
    """What the edge tells the hub about itself: counts only (``POST /api/v1/edge/status``)."""
    store = pipeline.store
    return {
        "quarantine_by_reason": pipeline.quarantine.counts_by_reason(),
        "counters": store.counters(),
        "open_studies": store.count_open_studies(),
        "backlog": pipeline.outbox.backlog().size,
    }
