"""What ``medcoop edge status`` shows: counters, backlog, upload state and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass

from medcoop.edge.outbox import Backlog
from medcoop.edge.pipeline import Pipeline
from medcoop.edge.quarantine import QuarantinedObject

__all__ = ["EdgeStatus", "read_status"]


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


def read_status(pipeline: Pipeline) -> EdgeStatus:
    """Return the current status of the edge behind ``pipeline``."""
    store = pipeline.store
    with store.reading() as conn:
        open_studies = conn.execute("SELECT count(*) FROM studies WHERE dirty = 1").fetchone()[0]
    return EdgeStatus(
        counters=store.counters(),
        backlog=pipeline.outbox.backlog(),
        open_studies=int(open_studies),
        opted_out_patients=pipeline.consent.count(),
        upload_error=store.get_meta("upload_error"),
        auth_failed=store.get_meta("upload_auth_failed") == "1",
        last_upload_at=store.get_meta("last_upload_at"),
        quarantine=pipeline.quarantine.list(),
    )
