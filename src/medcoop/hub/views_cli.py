"""``medcoop dose``, ``medcoop usage`` and ``medcoop benchmark``: Rich views of the hub's API.

Each command reads the hub's analytics endpoints with a personal access token (``mcp_…``)
and prints tables for one site. The fetch-and-render functions take an ``httpx.Client``
and a Rich ``Console``, so they run the same against a live hub or an in-process app.
Heavy imports stay inside the functions so that ``medcoop --help`` stays fast.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

__all__ = [
    "benchmark_command",
    "dose_command",
    "show_alerts",
    "show_benchmark",
    "show_dose",
    "show_usage",
    "usage_command",
]

HubOption = typer.Option(
    "http://127.0.0.1:8000", "--hub", envvar="MEDCOOP_HUB_URL", help="The hub's base URL."
)
TokenOption = typer.Option(
    ..., "--token", envvar="MEDCOOP_TOKEN", help="A personal access token (mcp_…)."
)
SiteOption = typer.Option(..., "--site", help="The site's id (see GET /api/v1/sites).")


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> Any:
    response = client.get(path, params=params)
    if response.status_code != 200:
        detail = response.json().get("detail") if response.content else ""
        raise typer.BadParameter(f"hub answered {response.status_code}: {detail}")
    return response.json()


def _labels(client: httpx.Client, path: str, params: dict[str, Any], key: str) -> dict[str, str]:
    """Map ``key`` of each listed item to a readable label (first 500 items; best effort)."""
    response = client.get(path, params={**params, "limit": 500})
    if response.status_code != 200:
        return {}
    labels = {}
    for item in response.json().get("items", []):
        parts = (item.get("modality"), item.get("manufacturer"), item.get("model"))
        label = item.get("display_name") or item.get("name") or " ".join(p for p in parts if p)
        if label:
            labels[str(item[key])] = label
    return labels


def show_dose(
    client: httpx.Client,
    console: Console,
    site_id: str,
    *,
    source_id: str | None,
    group_by: str = "site_id",
) -> list[dict[str, Any]]:
    """Print a site's DRL comparison; return the rows."""
    from rich.table import Table

    params = {"site_id": site_id, "group_by": group_by}
    if source_id:
        params["source_id"] = source_id
    rows = _get(client, "/api/v1/analytics/drl", params)
    names = _labels(client, "/api/v1/sites", {}, "id")
    devices = _labels(client, "/api/v1/devices", {"site_id": site_id}, "device_key")
    names.update(devices)
    table = Table(title=f"DRL comparison, {names.get(site_id, 'site ' + site_id)}")
    for column in (
        "group",
        "exam type",
        "quantity",
        "scope",
        "n",
        "median",
        "DRL",
        "ratio",
        "review",
        "source",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            " / ".join(names.get(str(g), str(g)) for g in row["group"]),
            row["exam_type"],
            row["quantity"],
            row["scope"],
            str(row["n"]),
            f"{row['median']:.3g} {row['unit']}",
            f"{row['drl_value']:g}",
            f"{row['ratio_to_drl']:.2f}",
            "[bold red]above DRL[/]" if row["exceeds"] else "ok",
            row["source_id"],
        )
    console.print(table)
    return rows


def show_alerts(
    client: httpx.Client, console: Console, *, state: str | None = "open"
) -> list[dict[str, Any]]:
    """Print the organisation's alerts (open ones by default); return them."""
    from rich.table import Table

    rows = _get(client, "/api/v1/analytics/alerts", {"state": state} if state else {})
    table = Table(title=f"Alerts ({state or 'all'})")
    for column in ("opened", "kind", "rule", "message", "state", "notified"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["opened_at"][:16],
            row["kind"],
            row["rule_id"],
            row["message"],
            row["state"],
            "yes" if row["notified_at"] else (row["notify_error"] or "–"),
        )
    console.print(table)
    return rows


def show_usage(
    client: httpx.Client, console: Console, site_id: str, *, first_day: date, last_day: date
) -> list[dict[str, Any]]:
    """Print a site's per-device utilization; return the rows."""
    from rich.table import Table

    params = {
        "site_id": site_id,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
    }
    rows = _get(client, "/api/v1/analytics/utilization", params)
    devices = _labels(client, "/api/v1/devices", {"site_id": site_id}, "device_key")
    site = _labels(client, "/api/v1/sites", {}, "id").get(site_id, f"site {site_id}")
    table = Table(title=f"Utilization {first_day} – {last_day}, {site}")
    for column in (
        "device",
        "exams",
        "median exam min",
        "median change min",
        "exams/open h",
        "occupancy",
        "utilization",
        "idle min",
    ):
        table.add_column(column)
    for row in rows:
        change = row["median_change_min"]
        key = row["device_key"]
        table.add_row(
            f"{devices[key]} ({key[:12]})" if key in devices else key,
            str(row["exams"]),
            f"{row['median_duration_min']:.1f}",
            "–" if change is None else f"{change:.1f}",
            f"{row['exams_per_open_hour']:.2f}",
            f"{row['occupancy']:.0%}",
            f"{row['utilization']:.0%}",
            f"{row['idle_min']:.0f}",
        )
    console.print(table)
    return rows


def show_benchmark(
    client: httpx.Client,
    console: Console,
    site_id: str,
    *,
    exam_type: str,
    metric: str,
    country: str | None = None,
) -> dict[str, Any]:
    """Print a site's peer benchmark; return the answer."""
    from rich.table import Table

    params = {"site_id": site_id, "exam_type": exam_type, "metric": metric}
    if country:
        params["country"] = country
    answer = _get(client, "/api/v1/analytics/benchmark", params)
    table = Table(title=f"Peer benchmark: {exam_type} {metric}, site {site_id}")
    for column in ("", "n studies", "sites", "p25", "median", "p75"):
        table.add_column(column)
    own_median = answer["own_median"]
    table.add_row(
        "this site",
        str(answer["own_n_studies"]),
        "1",
        "",
        "–" if own_median is None else f"{own_median:.3g}",
        "",
    )
    peers = answer["peers"]
    if peers is None:
        table.add_row("peers", "suppressed", "", "", "", "")
    else:
        for label, quartiles in (
            ("peer site medians", peers["site_median_quartiles"]),
            ("peer studies", peers["pooled_quartiles"]),
        ):
            table.add_row(
                label,
                str(peers["n_studies"]),
                str(peers["n_sites"]),
                *(f"{q:.3g}" for q in quartiles),
            )
    console.print(table)
    for note in answer["notes"]:
        console.print(f"[yellow]{note}[/]")
    if answer["percentile_rank"] is not None:
        console.print(f"Above {answer['percentile_rank']:.0%} of peer sites' medians.")
    return answer


def _client(hub: str, token: str) -> httpx.Client:
    import httpx

    return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def dose_command(
    site: str = SiteOption,
    source_id: str = typer.Option(
        None, "--source", help="Only this DRL source, e.g. UK-NDRL-2024."
    ),
    group_by: str = typer.Option("site_id", "--by", help="site_id, device_key or protocol."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show open alerts and a site's doses against national DRLs (like with like)."""
    from rich.console import Console

    console = Console()
    with _client(hub, token) as client:
        show_alerts(client, console)
        show_dose(client, console, site, source_id=source_id, group_by=group_by)


def usage_command(
    site: str = SiteOption,
    first_day: str = typer.Option(..., "--from", help="First local day, YYYY-MM-DD."),
    last_day: str = typer.Option(..., "--to", help="Last local day, YYYY-MM-DD."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show per-device utilization of a site."""
    from rich.console import Console

    with _client(hub, token) as client:
        show_usage(
            client,
            Console(),
            site,
            first_day=date.fromisoformat(first_day),
            last_day=date.fromisoformat(last_day),
        )


def benchmark_command(
    site: str = SiteOption,
    exam_type: str = typer.Option(..., "--exam", help="Exam type, e.g. ct_head."),
    metric: str = typer.Option("dlp", "--metric", help="ctdivol, dlp or dap."),
    country: str = typer.Option(None, "--country", help="Narrow peers to a country."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show a site's medians against its peers' (k-anonymous)."""
    from rich.console import Console

    with _client(hub, token) as client:
        show_benchmark(client, Console(), site, exam_type=exam_type, metric=metric, country=country)
