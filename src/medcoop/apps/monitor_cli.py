"""``medcoop app monitor``: the hub's monitoring of this organisation's apps.

Reads ``GET /api/v1/apps/monitoring`` with a personal access token and prints the
presenter's view (:func:`medcoop.hub.presenters.apps.monitoring_view`): a table for a
person, ``--json`` or ``--csv`` for programs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from medcoop.hub.views_cli import HubOption, TokenOption
from medcoop.output import CSV_OPTION, JSON_OPTION, OutputFormat, emit, output_format

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

__all__ = ["monitor_command", "show_monitoring"]


def show_monitoring(
    client: httpx.Client, console: Console, *, output: OutputFormat = OutputFormat.TABLE
) -> dict[str, Any]:
    """Fetch the monitoring and print its view; return the API's answer."""
    from medcoop.hub.presenters.apps import monitoring_view

    response = client.get("/api/v1/apps/monitoring")
    if response.status_code != 200:
        detail = response.json().get("detail") if response.content else ""
        raise typer.BadParameter(f"hub answered {response.status_code}: {detail}")
    answer: dict[str, Any] = response.json()
    emit(monitoring_view(answer), output, console)
    return answer


def monitor_command(
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show runs, failures, latency, reviews and drift per app version (from the hub)."""
    import httpx

    from medcoop.output import make_console

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub, headers=headers, timeout=30) as client:
        show_monitoring(client, make_console(), output=output_format(as_json, as_csv))
