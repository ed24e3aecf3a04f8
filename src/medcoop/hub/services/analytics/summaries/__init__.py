"""Dose summaries: a DoseSketch per site x device x exam type x metric x month; and
protocol summaries: one per site x device x protocol x quantity x month, kept the same way
(the protocols page reads them instead of studies).

Peer benchmarks read these instead of studies, so a query costs the same at forty million
studies as at forty thousand. One module per job:

- :mod:`.contributions` (pure): the values a study adds to its cells;
- :mod:`.cells`: ingest's locked read and write of the touched cells, and the per-site
  lock (a later record removes a study's old contributions and adds its new ones; counts
  are integers, so removal is exact; a re-sent record never gets here);
- :mod:`.rebuild`: recomputing a site's cells from its rows, under that lock held
  exclusive;
- :mod:`.compaction`: pooled blocks (every site's and device's sketch of one exam type,
  metric and month, packed densely), built from the cells, never by ingest;
- :mod:`.compactor`: the background job that compacts stale blocks;
- :mod:`.cache`: the per-process cache of decoded blocks;
- :mod:`.pooled`: the read, a block plus the cells changed after it was built, so a
  closed month costs one row and the current month its cells.
"""

from medcoop.hub.services.analytics.summaries.cache import BLOCK_CACHE_BYTES, drop_block_cache
from medcoop.hub.services.analytics.summaries.cells import (
    PROTOCOL_CELLS,
    CellChanges,
    SummaryChanges,
    lock_site,
)
from medcoop.hub.services.analytics.summaries.compaction import BLOCK_MARGIN, compact, uuid_bytes
from medcoop.hub.services.analytics.summaries.compactor import SummaryCompactor, stale_blocks
from medcoop.hub.services.analytics.summaries.contributions import (
    EVENT_FACTS,
    METRICS,
    STUDY_FACTS,
    CellKey,
    SummaryValue,
    contributions,
    month_of,
    month_range,
    protocol_contributions,
    protocol_study_values,
    study_labels,
    study_summaries,
    study_values,
    with_keys,
)
from medcoop.hub.services.analytics.summaries.pooled import PooledSketches, read_pooled
from medcoop.hub.services.analytics.summaries.rebuild import RebuildResult, rebuild

__all__ = [
    "BLOCK_CACHE_BYTES",
    "BLOCK_MARGIN",
    "EVENT_FACTS",
    "METRICS",
    "PROTOCOL_CELLS",
    "STUDY_FACTS",
    "CellChanges",
    "CellKey",
    "PooledSketches",
    "RebuildResult",
    "SummaryChanges",
    "SummaryCompactor",
    "SummaryValue",
    "compact",
    "contributions",
    "drop_block_cache",
    "lock_site",
    "month_of",
    "month_range",
    "protocol_contributions",
    "protocol_study_values",
    "read_pooled",
    "rebuild",
    "stale_blocks",
    "study_labels",
    "study_summaries",
    "study_values",
    "uuid_bytes",
    "with_keys",
]
