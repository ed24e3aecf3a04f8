"""Hub analytics: the pure :mod:`medcoop.analytics` over the hub's tables.

- :mod:`.dose`: DRL comparisons, peer benchmarks, utilization, study query, history;
- :mod:`.summary_drl`: sites' median DLP from the summaries against national DRLs;
- :mod:`.dose_table`: the dashboard's study table (SQL filters, sort, keyset pages);
- :mod:`.alerts`: an organisation's rules, evaluation, lifecycle, notices due;
- :mod:`.notifier`: delivering due notices with retries (background work);
- :mod:`.protocols`: the community protocol library;
- :mod:`.summaries`: the dose summaries that peer benchmarks read (its own package).
"""

from medcoop.hub.services.analytics.alerts import (
    MEDIAN_CACHE_TTL_S,
    MIN_STUDIES_FOR_MEDIAN,
    EmailSettings,
    NotifySettings,
    WebhookSettings,
    deliver,
    evaluate,
    evaluate_studies,
    get_settings,
    list_alerts,
    put_settings,
    transition,
)
from medcoop.hub.services.analytics.dose import (
    drl_comparisons,
    load_records,
    patient_history,
    peer_benchmark,
    query_studies,
    require_site,
    utilization,
)
from medcoop.hub.services.analytics.dose_table import (
    SORTABLE,
    StudyTable,
    TableFilter,
    iter_rows,
    size_points,
    study_page,
)
from medcoop.hub.services.analytics.notifier import AlertNotifier, backoff
from medcoop.hub.services.analytics.protocols import (
    compare_with_own,
    get_published,
    library,
    own_protocols,
    publish_protocol,
)
from medcoop.hub.services.analytics.summary_drl import SiteDrl, site_dlp_against_drls

__all__ = [
    "MEDIAN_CACHE_TTL_S",
    "MIN_STUDIES_FOR_MEDIAN",
    "SORTABLE",
    "AlertNotifier",
    "EmailSettings",
    "NotifySettings",
    "SiteDrl",
    "StudyTable",
    "TableFilter",
    "WebhookSettings",
    "backoff",
    "compare_with_own",
    "deliver",
    "drl_comparisons",
    "evaluate",
    "evaluate_studies",
    "get_published",
    "get_settings",
    "iter_rows",
    "library",
    "list_alerts",
    "load_records",
    "own_protocols",
    "patient_history",
    "peer_benchmark",
    "publish_protocol",
    "put_settings",
    "query_studies",
    "require_site",
    "site_dlp_against_drls",
    "size_points",
    "study_page",
    "transition",
    "utilization",
]
