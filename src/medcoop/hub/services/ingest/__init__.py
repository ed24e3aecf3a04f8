"""Ingest: edge record batches into the study tables, and reading those studies back.

- :mod:`.batch`: parse, deduplicate by record key, write in bulk, one transaction a batch;
- :mod:`.merge` (pure): how a later record of a study updates what the hub holds;
- :mod:`.studies`: a tenant's studies, list and detail.
"""

from medcoop.hub.services.ingest.batch import IngestResult, ingest_batch, parse_batch
from medcoop.hub.services.ingest.merge import (
    TOTAL_FIELDS,
    MergeKind,
    add_event_contributions,
    classify,
    merge_usage,
)
from medcoop.hub.services.ingest.studies import StudyFilter, get_study, list_studies

__all__ = [
    "TOTAL_FIELDS",
    "IngestResult",
    "MergeKind",
    "StudyFilter",
    "add_event_contributions",
    "classify",
    "get_study",
    "ingest_batch",
    "list_studies",
    "merge_usage",
    "parse_batch",
]
