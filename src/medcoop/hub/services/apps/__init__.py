"""Apps at the hub: monitoring of the runs edges report, and clinicians' reviews."""

from medcoop.hub.services.apps.monitoring import (
    AppVersionStats,
    RecordedRuns,
    app_stats,
    list_runs,
    output_trend,
    record_runs,
    review_run,
)

__all__ = [
    "AppVersionStats",
    "RecordedRuns",
    "app_stats",
    "list_runs",
    "output_trend",
    "record_runs",
    "review_run",
]
