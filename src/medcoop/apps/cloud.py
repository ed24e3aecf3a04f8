"""Cloud runs on pooled data: a job queue, local worker processes by default, and a
broker-backed task queue (Dramatiq on RabbitMQ or Redis) for more than one machine.

A :class:`CloudJob` names an app version (its entry point), the organisation on whose
behalf it runs and which pooled records it reads (by modality). :class:`CloudRunner` runs
one job, in order:

1. **claim** it: the job's row in ``app_cloud_runs`` is inserted in the organisation's
   own scope; its primary key is the job id, so a job delivered twice (a broker's
   at-least-once redelivery, a second worker) runs once, and the second delivery is an
   ``already_run`` outcome;
2. read the pooled records through the one door,
   ``hub.db.tenancy.pooled(session, Purpose.CLOUD_APP_RUN, tenant=org, actor=app)``,
   leaving out every patient who withdrew consent (``Patient.pooling_denied_at``: the
   hub's one record of a denial, whose studies it removes on receipt);
3. the read goes to the ledger as an **access entry** by the hub's access log (the
   door's observer, :class:`~medcoop.hub.services.ledger.access_log.AccessLog`): who
   (``app:<id>@<version>``), the organisation, the purpose, the pseudonyms read and the
   aggregate counts; the log is flushed before the app sees a record;
4. call the app's entry point with a :class:`~medcoop.apps.sdk.CloudBatch`, and store the
   outcome (findings, counts, or the error) in the job's row.

Where the jobs run:

- :class:`LocalCloudQueue`: a pool of local worker processes (the embedded default);
- :func:`enqueue` and :mod:`medcoop.apps.cloud_worker`: Dramatiq messages on
  ``$MEDCOOP_BROKER_URL`` (``amqp://`` for RabbitMQ, ``redis://`` for Redis), consumed by
  any number of ``dramatiq medcoop.apps.cloud_worker`` processes on any machine that
  reaches the hub's database.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medcoop.apps.sdk import AppContext, AppResult, CloudBatch, load_entry_point
from medcoop.hub.db.access import Actor, Purpose
from medcoop.hub.db.apps_models import AppCloudRun
from medcoop.hub.db.base import utcnow
from medcoop.hub.db.engine import begin_write, make_engine, make_session_factory
from medcoop.hub.db.models import Patient, Study
from medcoop.hub.db.tenancy import concerns, pooled, scope_session
from medcoop.hub.services.ledger import SqlLedger, load_or_create_log_key
from medcoop.hub.services.ledger.access_log import AccessLog
from medcoop.hub.settings import HubSettings

__all__ = [
    "BROKER_ENV",
    "QUEUE_NAME",
    "CloudJob",
    "CloudOutcome",
    "CloudRunner",
    "LocalCloudQueue",
    "enqueue",
    "make_broker",
    "read_pooled_records",
]

#: The environment variable naming the broker (``amqp://...`` or ``redis://...``).
BROKER_ENV: Final = "MEDCOOP_BROKER_URL"
QUEUE_NAME: Final = "medcoop-cloud-runs"
ACTOR_NAME: Final = "cloud_run"

Status = Literal["succeeded", "failed", "already_run"]


@dataclass(frozen=True, slots=True)
class CloudJob:
    """One run of a cloud app on pooled records, on behalf of one organisation."""

    app_id: str
    app_version: str
    entry_point: str
    org_id: str
    modalities: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 100_000
    job_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        """The job as a message body."""
        body = asdict(self)
        body["parameters"] = dict(self.parameters)
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CloudJob:
        """Rebuild a job from :meth:`to_json`."""
        data = json.loads(text)
        data["modalities"] = tuple(data.get("modalities", ()))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class CloudOutcome:
    """What became of a job."""

    job_id: str
    status: Status
    records: int = 0
    withdrawn_left_out: int = 0
    findings: dict[str, Any] | None = None
    error: str | None = None


def _record(study: Study, pseudonym: str, site_index: int) -> dict[str, Any]:
    """A pooled record for a cloud app: de-identified fields only, the site as an index."""
    return {
        "study_uid": study.study_uid,
        "pseudonym": pseudonym,
        "site": site_index,
        "modality": study.modality,
        "study_at": study.study_at.isoformat() if study.study_at else None,
        "study_description": study.study_description,
        "age_years": study.age_years,
        "sex": study.sex,
        "weight_kg": study.weight_kg,
        "effective_diameter_cm": study.effective_diameter_cm,
        "water_equivalent_diameter_cm": study.water_equivalent_diameter_cm,
        "total_dlp_mgycm": study.total_dlp_mgycm,
        "total_dap_gycm2": study.total_dap_gycm2,
    }


def read_pooled_records(session: Session, job: CloudJob) -> tuple[list[dict[str, Any]], int]:
    """Read the job's records across tenants through the one door; return them and how
    many were left out for a withdrawn consent.

    A patient who denied pooling has ``pooling_denied_at`` set and their studies removed
    when the edge's consent entry reaches the hub (``services/ingest/removal.py``); a
    study still held for such a patient (one arriving in between) is left out here too.
    """
    actor = Actor(f"app:{job.app_id}@{job.app_version}"[:200], job.org_id)
    pooled(session, Purpose.CLOUD_APP_RUN, tenant=uuid.UUID(job.org_id), actor=actor)
    statement = (
        select(Study, Patient.pseudonym, Patient.pooling_denied_at)
        .join(Patient, (Patient.org_id == Study.org_id) & (Patient.id == Study.patient_id))
        .order_by(Study.org_id, Study.id)
        .limit(job.limit)
    )
    if job.modalities:
        statement = statement.where(Study.modality.in_(job.modalities))
    sites: dict[uuid.UUID, int] = {}
    records, left_out = [], 0
    for study, pseudonym, denied_at in session.execute(statement):
        if denied_at is not None:
            left_out += 1
            continue
        index = sites.setdefault(study.site_id, len(sites))
        records.append(_record(study, pseudonym, index))
    # the access log writes the read with whom it concerned: each pseudonym, and the counts
    concerns(
        session,
        pseudonyms=sorted({r["pseudonym"] for r in records}),
        records=len(records),
        sites=len(sites),
    )
    return records, left_out


class CloudRunner:
    """Runs cloud jobs against one hub database and ledger (one per worker process)."""

    def __init__(self, settings: HubSettings, *, worker: str | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessions = make_session_factory(self.engine)
        signer = load_or_create_log_key(settings.resolved_ledger_key_path, settings.ledger_origin)
        self.ledger = SqlLedger(self.engine, signer, batch_max=settings.ledger_batch_max)
        # the hub's one path from a pooled read to the ledger (what the API's reads use)
        self.access_log = AccessLog(
            self.engine, lambda: self.ledger, interval_s=settings.ledger_access_flush_s
        ).start()
        self.worker = worker or f"{os.uname().nodename}:{os.getpid()}"

    def close(self) -> None:
        """Write the pending access entries and release the database connections."""
        self.access_log.close()
        self.engine.dispose()

    def _claim(self, job: CloudJob) -> bool:
        with self.sessions() as session:
            scope_session(session, uuid.UUID(job.org_id))
            begin_write(session)  # SQLite: queue on the lock, never a read-then-write deadlock
            session.add(
                AppCloudRun(
                    org_id=uuid.UUID(job.org_id),
                    job_id=uuid.UUID(job.job_id),
                    app=job.app_id[:40],
                    app_version=job.app_version[:40],
                    status="running",
                    worker=self.worker[:80],
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def _finish(self, job: CloudJob, outcome: CloudOutcome) -> None:
        with self.sessions() as session:
            scope_session(session, uuid.UUID(job.org_id))
            begin_write(session)
            row = session.scalar(
                select(AppCloudRun).where(AppCloudRun.job_id == uuid.UUID(job.job_id))
            )
            assert row is not None
            row.status = outcome.status
            row.records = outcome.records
            row.withdrawn_left_out = outcome.withdrawn_left_out
            row.findings = outcome.findings
            row.error = outcome.error
            row.finished_at = utcnow()
            session.commit()

    def run(self, job: CloudJob, *, output_dir: Path | None = None) -> CloudOutcome:
        """Run ``job`` once (a job already claimed is not run again)."""
        if not self._claim(job):
            return CloudOutcome(job.job_id, "already_run")
        try:
            with self.sessions() as session:
                records, left_out = read_pooled_records(session, job)
            # the access entry is in the ledger before the app sees a record
            self.access_log.flush()
            result = self._call(job, records, output_dir)
            outcome = CloudOutcome(
                job.job_id, "succeeded", len(records), left_out, findings=result.findings
            )
        except Exception as exc:  # an app's failure is recorded, never lost or re-run
            outcome = CloudOutcome(job.job_id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
        self._finish(job, outcome)
        return outcome

    def _call(
        self, job: CloudJob, records: list[dict[str, Any]], output_dir: Path | None
    ) -> AppResult:
        entry = load_entry_point(job.entry_point)
        context = AppContext(
            app_id=job.app_id,
            app_version=job.app_version,
            vendor=job.app_id.partition(".")[0] or "unknown",
            kind="cloud",
            output_dir=output_dir or Path(os.devnull).parent,
            run_id=job.job_id,
        )
        result = entry(CloudBatch(records), dict(job.parameters), context)
        if not isinstance(result, AppResult):
            raise TypeError(f"the entry point returned {type(result).__name__}, not AppResult")
        return result


# --- local worker processes (the embedded default) -------------------------------------

_runner: CloudRunner | None = None


def _worker_init(settings_json: str) -> None:
    global _runner
    _runner = CloudRunner(HubSettings.model_validate_json(settings_json))


def _worker_run(job_json: str) -> CloudOutcome:
    assert _runner is not None, "the worker was not initialised"
    return _runner.run(CloudJob.from_json(job_json))


class LocalCloudQueue:
    """Cloud jobs in a pool of local worker processes (spawned: no state shared)."""

    def __init__(self, settings: HubSettings, *, workers: int = 2) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_worker_init,
            initargs=(settings.model_dump_json(),),
        )

    def submit(self, job: CloudJob) -> Future[CloudOutcome]:
        """Queue ``job``; the future answers its outcome."""
        return self._pool.submit(_worker_run, job.to_json())

    def close(self) -> None:
        """Wait for queued jobs and stop the workers."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> LocalCloudQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- a broker-backed task queue for more than one machine ------------------------------


def make_broker(url: str) -> Any:
    """Return a Dramatiq broker for ``url``: ``amqp://`` (RabbitMQ) or ``redis://`` (Redis).

    Raises
    ------
    ValueError
        For any other scheme.
    """
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url)
    raise ValueError(f"a broker URL is amqp:// or redis://, not {url.split(':', 1)[0]}://")


def enqueue(broker: Any, job: CloudJob, *, queue_name: str = QUEUE_NAME) -> str:
    """Send ``job`` to the workers of ``queue_name`` on ``broker``; return its message id."""
    from dramatiq import Message

    message: Message[Any] = Message(
        queue_name=queue_name, actor_name=ACTOR_NAME, args=(job.to_json(),), kwargs={},
        options={},
    )
    broker.enqueue(message)
    return str(message.message_id)
