"""The edge's own status page (``GET /status`` beside STOW-RS), for hospital IT.

What ``medcoop edge status`` shows, as a small HTML page that needs no hub: objects
received, extracted, withheld and why (consent, quarantine reasons), records queued and
delivered, the last upload and the last error. It holds no identifying value: counters,
sizes, times and reasons only (reasons name a rule or an exception type, never a value);
the quarantine's file paths and origins are left out, since hospital folder names and
calling systems can name patients or staff.
"""

from __future__ import annotations

import html

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from medcoop.apps.edge_cli import apps_status_html
from medcoop.edge.pipeline import Pipeline
from medcoop.edge.status import EdgeStatus, read_status

__all__ = ["render_status", "status_route"]

_STYLE = (
    "body{font:16px/1.45 system-ui,sans-serif;margin:16px;color:#1a1a1a}"
    "table{border-collapse:collapse;margin:8px 0}th,td{border-bottom:1px solid #b8b8b8;"
    "padding:4px 10px;text-align:left}td.num{text-align:right}"
    ".bad{color:#8a1010;font-weight:600}"
)
_ROWS = (
    ("objects received", "received"),
    ("objects extracted (dose and usage read)", "processed"),
    ("skipped (nothing to extract)", "skipped"),
    ("withheld: patient opted out", "consent_withheld"),
    ("withheld: quarantined", "quarantined"),
    ("records queued for the hub", "records_queued"),
    ("records delivered to the hub", "records_sent"),
    ("records set aside by the hub", "records_rejected"),
)


def render_status(status: EdgeStatus, *, apps_html: str = "") -> str:
    """Return the status page's HTML (``apps_html``: the on-premise apps' section)."""
    e = html.escape
    rows = []
    for label, name in _ROWS:
        value = status.counters.get(name)
        rows.append(f"<tr><th scope='row'>{e(label)}</th><td class='num'>"
                    f"{'—' if value is None else value}</td></tr>")
    backlog = status.backlog
    rows.append(f"<tr><th scope='row'>backlog (records waiting)</th><td class='num'>"
                f"{backlog.size} ({backlog.size_bytes:,} bytes, oldest "
                f"{backlog.age_s():.0f} s)</td></tr>")
    rows.append(f"<tr><th scope='row'>studies still open</th><td class='num'>"
                f"{status.open_studies}</td></tr>")
    rows.append(f"<tr><th scope='row'>patients opted out</th><td class='num'>"
                f"{status.opted_out_patients}</td></tr>")
    reason_rows = "".join(  # every entry, by reason code (the list itself is capped)
        f"<tr><td>{e(reason)}</td><td class='num'>{n}</td></tr>"
        for reason, n in status.quarantine_by_reason.items()
    ) or "<tr><td colspan='2'>nothing quarantined</td></tr>"
    error = status.upload_error
    if status.auth_failed:
        error = "the hub refused this edge's token: enroll again"
    error_html = f"<p class='bad' role='alert'>Last error: {e(error[:300])}</p>" if error else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>medcoop edge status</title><style>{_STYLE}</style></head><body><main>"
        "<h1>medcoop edge status</h1>"
        f"<p>Last upload to the hub: {e(status.last_upload_at or 'none yet')}</p>{error_html}"
        f"<table><caption>Counters since the edge was set up</caption><tbody>{''.join(rows)}"
        "</tbody></table><h2>Quarantine, by reason</h2><table><thead><tr><th scope='col'>"
        f"Reason</th><th scope='col'>Objects</th></tr></thead><tbody>{reason_rows}</tbody>"
        f"</table>{apps_html}<p>No identifying value is shown here or sent to the hub.</p>"
        "</main></body></html>"
    )


def status_route(pipeline: Pipeline) -> Route:
    """The ``GET /status`` route of the edge's HTTP server."""

    async def status(_request: Request) -> HTMLResponse:
        snapshot = await run_in_threadpool(read_status, pipeline)
        apps = await run_in_threadpool(apps_status_html, pipeline)  # "" when apps are off
        return HTMLResponse(render_status(snapshot, apps_html=apps))

    return Route("/status", status, methods=["GET"])
