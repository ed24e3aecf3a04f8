"""One presentation of results, shared by the hub's API, the CLI, the demo and the web pages.

Each view has one presenter module: it builds the API's answer from a service's result
(``*_out``, the routers' response models live here) and turns that answer, as JSON, into
a :class:`medcoop.output.View` (``*_view``) that the CLI prints as a table, ``--json`` or
``--csv``, the demo prints, and the web dashboard renders (``View.as_dict()`` or
``View.cells()``)::

    rows = [r.model_dump(mode="json") for r in drl_comparisons_out(found)]
    view = drl_view(rows, site="St Elsewhere", labels={device_key: "CT Somatom"})

Views: :func:`drl_view` (DRL comparison), :func:`usage_view` (utilization),
:func:`benchmark_view` / :func:`benchmarks_view` (peer benchmarks), :func:`alerts_view`
(alerts, one page), :func:`studies_view` (the dose table), :func:`sites_view` and
:func:`devices_view` (listings by name), :func:`edges_view` (edges: last contact,
backlog, quarantine by reason). HTML: :mod:`.html` holds the
hub's one Jinja environment.
"""

from medcoop.hub.presenters.alerts import (
    AlertOut,
    TransitionOut,
    alert_out,
    alerts_by_rule,
    alerts_view,
)
from medcoop.hub.presenters.benchmark import (
    METRIC_UNITS,
    PeerBenchmarkOut,
    PeerDistributionOut,
    benchmark_out,
    benchmark_view,
    benchmarks_view,
)
from medcoop.hub.presenters.dose import (
    DrlComparisonOut,
    drl_comparisons_out,
    drl_status,
    drl_view,
)
from medcoop.hub.presenters.edges import EdgesOut, EdgeStatusOut, edges_out, edges_view
from medcoop.hub.presenters.query import aware, narrowing
from medcoop.hub.presenters.sites import device_name, devices_view, sites_view
from medcoop.hub.presenters.studies import column_unit, studies_view, study_query
from medcoop.hub.presenters.usage import (
    DeviceUtilizationOut,
    ProtocolUsageOut,
    device_label,
    usage_view,
    utilization_out,
)

__all__ = [
    "METRIC_UNITS",
    "AlertOut",
    "DeviceUtilizationOut",
    "DrlComparisonOut",
    "EdgeStatusOut",
    "EdgesOut",
    "PeerBenchmarkOut",
    "PeerDistributionOut",
    "ProtocolUsageOut",
    "TransitionOut",
    "alert_out",
    "alerts_by_rule",
    "alerts_view",
    "aware",
    "benchmark_out",
    "benchmark_view",
    "benchmarks_view",
    "column_unit",
    "device_label",
    "device_name",
    "devices_view",
    "drl_comparisons_out",
    "drl_status",
    "drl_view",
    "edges_out",
    "edges_view",
    "narrowing",
    "sites_view",
    "studies_view",
    "study_query",
    "usage_view",
    "utilization_out",
]
