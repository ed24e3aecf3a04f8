"""The Dramatiq worker of cloud runs: ``dramatiq medcoop.apps.cloud_worker``.

Reads the broker from ``$MEDCOOP_BROKER_URL`` (``amqp://`` or ``redis://``), the hub's
settings from ``$MEDCOOP_HUB_SETTINGS`` (JSON, as the hub's workers do) and the queue from
``$MEDCOOP_CLOUD_QUEUE`` (default ``medcoop-cloud-runs``). Each message is one
:class:`~medcoop.apps.cloud.CloudJob`; the runner's claim makes a redelivered message a
no-op, so every job runs once however many workers and deliveries there are.
"""

from __future__ import annotations

import os

import dramatiq

from medcoop.apps.cloud import (
    ACTOR_NAME,
    BROKER_ENV,
    QUEUE_NAME,
    CloudJob,
    CloudRunner,
    make_broker,
)
from medcoop.hub.settings import settings_from_env

__all__ = ["cloud_run"]

dramatiq.set_broker(make_broker(os.environ.get(BROKER_ENV, "amqp://guest:guest@127.0.0.1:5672")))
_runner: CloudRunner | None = None


def _get_runner() -> CloudRunner:
    global _runner
    if _runner is None:
        _runner = CloudRunner(settings_from_env())
    return _runner


# no retries by the broker: a failed app run is recorded as failed, not repeated
@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=os.environ.get("MEDCOOP_CLOUD_QUEUE", QUEUE_NAME),
    max_retries=0,
    time_limit=3_600_000,
)
def cloud_run(job_json: str) -> None:
    """Run one cloud job (its outcome is stored in ``app_cloud_runs``)."""
    _get_runner().run(CloudJob.from_json(job_json))
