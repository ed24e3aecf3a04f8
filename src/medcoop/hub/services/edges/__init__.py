"""The hub's view of its edges: what each reports about itself (quarantine, counters)."""

from medcoop.hub.services.edges.reports import EdgeOverview, edge_overview, record_report

__all__ = ["EdgeOverview", "edge_overview", "record_report"]
