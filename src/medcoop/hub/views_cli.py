"""``medcoop dose``, ``usage``, ``benchmark``, ``alerts``, ``studies``, ``sites``, ``devices``.

Each command reads the hub's API with a personal access token (``mcp_…``) and prints the
view its presenter (:mod:`medcoop.hub.presenters`) builds: a table for a person, or the
same records with ``--json`` / ``--csv``. Sites are given and shown by name (``--site``
takes a name or an id). The fetch-and-print functions take an ``httpx.Client`` and a Rich
``Console``, so they run the same against a live hub or an in-process app. Heavy imports
stay inside the functions so that ``medcoop --help`` stays fast.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from medcoop.output import CSV_OPTION, JSON_OPTION, OutputFormat, output_format

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

    from medcoop.output import View

__all__ = [
    "alerts_command",
    "benchmark_command",
    "devices_command",
    "dose_command",
    "show_alerts",
    "show_benchmark",
    "show_dose",
    "show_usage",
    "sites_command",
    "studies_command",
    "usage_command",
]

HubOption = typer.Option(
    "http://127.0.0.1:8000", "--hub", envvar="MEDCOOP_HUB_URL", help="The hub's base URL."
)
TokenOption = typer.Option(
    ..., "--token", envvar="MEDCOOP_TOKEN", help="A personal access token (mcp_…)."
)
SiteOption = typer.Option(..., "--site", help="The site's name or id (see medcoop sites).")


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> Any:
    return _fetch(client, path, params).json()


def _fetch(client: httpx.Client, path: str, params: dict[str, Any]) -> httpx.Response:
    response = client.get(path, params=params)
    if response.status_code != 200:
        detail = response.json().get("detail") if response.content else ""
        raise typer.BadParameter(f"hub answered {response.status_code}: {detail}")
    return response


def _items(client: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a paged listing (500 a page)."""
    items: list[dict[str, Any]] = []
    while True:
        page = _get(client, path, {**params, "limit": 500, "offset": len(items)})
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"]:
            return items


def _site_names(client: httpx.Client) -> dict[str, str]:
    return {str(s["id"]): s["name"] for s in _items(client, "/api/v1/sites", {})}


def _device_names(client: httpx.Client, site_id: str) -> dict[str, str]:
    from medcoop.hub.presenters import device_name

    devices = _items(client, "/api/v1/devices", {"site_id": site_id})
    return {d["device_key"]: device_name(d) for d in devices}


def resolve_site(client: httpx.Client, site: str) -> tuple[str, str]:
    """``site`` (a name, any case, or an id) → (id, name); an unknown site is an error."""
    names = _site_names(client)
    try:
        site_id = str(uuid.UUID(site))
    except ValueError:
        matches = [i for i, name in names.items() if name.casefold() == site.casefold()]
        if len(matches) != 1:
            known = ", ".join(sorted(names.values())) or "none"
            raise typer.BadParameter(f"no single site named {site!r} (sites: {known})") from None
        site_id = matches[0]
    return site_id, names.get(site_id, f"site {site_id}")


def _print(views: View | list[View], output: OutputFormat, console: Console) -> None:
    from medcoop.output import emit

    emit(views, output, console)


def show_dose(
    client: httpx.Client,
    console: Console,
    site_id: str,
    *,
    source_id: str | None,
    group_by: str = "site_id",
    output: OutputFormat = OutputFormat.TABLE,
) -> list[dict[str, Any]]:
    """Print a site's DRL comparison; return the rows."""
    from medcoop.hub.presenters import drl_view

    params = {"site_id": site_id, "group_by": group_by}
    if source_id:
        params["source_id"] = source_id
    rows = _get(client, "/api/v1/analytics/drl", params)
    names = _site_names(client)
    labels = {**names, **_device_names(client, site_id)}
    site = names.get(site_id, f"site {site_id}")
    _print(drl_view(rows, site=site, labels=labels), output, console)
    return rows


def fetch_alerts(
    client: httpx.Client, *, state: str | None, limit: int | None = None, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """One page of the organisation's alerts (all without ``limit``) and how many in all."""
    params: dict[str, Any] = {"offset": offset}
    if state:
        params["state"] = state
    if limit is not None:
        params["limit"] = limit
    response = _fetch(client, "/api/v1/analytics/alerts", params)
    rows: list[dict[str, Any]] = response.json()
    return rows, int(response.headers.get("X-Total-Count", len(rows)))


def show_alerts(
    client: httpx.Client,
    console: Console,
    *,
    state: str | None = "open",
    limit: int | None = None,
    offset: int = 0,
    output: OutputFormat = OutputFormat.TABLE,
) -> list[dict[str, Any]]:
    """Print one page of the organisation's alerts (open ones by default); return them."""
    from medcoop.hub.presenters import alerts_view

    rows, total = fetch_alerts(client, state=state, limit=limit, offset=offset)
    _print(alerts_view(rows, state=state, offset=offset, total=total), output, console)
    return rows


def show_usage(
    client: httpx.Client,
    console: Console,
    site_id: str,
    *,
    first_day: date,
    last_day: date,
    output: OutputFormat = OutputFormat.TABLE,
) -> list[dict[str, Any]]:
    """Print a site's per-device utilization; return the rows."""
    from medcoop.hub.presenters import usage_view

    params = {
        "site_id": site_id,
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
    }
    rows = _get(client, "/api/v1/analytics/utilization", params)
    site = _site_names(client).get(site_id, f"site {site_id}")
    view = usage_view(
        rows,
        site=site,
        first_day=first_day,
        last_day=last_day,
        devices=_device_names(client, site_id),
    )
    _print(view, output, console)
    return rows


def show_benchmark(
    client: httpx.Client,
    console: Console,
    site_id: str,
    *,
    exam_type: str,
    metric: str,
    country: str | None = None,
    output: OutputFormat = OutputFormat.TABLE,
) -> dict[str, Any]:
    """Print a site's peer benchmark; return the answer."""
    from medcoop.hub.presenters import benchmark_view

    params = {"site_id": site_id, "exam_type": exam_type, "metric": metric}
    if country:
        params["country"] = country
    answer: dict[str, Any] = _get(client, "/api/v1/analytics/benchmark", params)
    site = _site_names(client).get(site_id, f"site {site_id}")
    _print(benchmark_view(answer, site=site), output, console)
    return answer


def _client(hub: str, token: str) -> httpx.Client:
    import httpx

    return httpx.Client(base_url=hub, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _console() -> Console:
    from medcoop.output import make_console

    return make_console()


def dose_command(
    site: str = SiteOption,
    source_id: str = typer.Option(
        None, "--source", help="Only this DRL set, e.g. UK-NDRL-2024."
    ),
    group_by: str = typer.Option("site_id", "--by", help="site_id, device_key or protocol."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show a site's doses against national DRLs (like with like), after its open alerts."""
    output = output_format(as_json, as_csv)
    console = _console()
    with _client(hub, token) as client:
        site_id, _ = resolve_site(client, site)
        if output is OutputFormat.TABLE:
            show_alerts(client, console, limit=10)
        show_dose(client, console, site_id, source_id=source_id, group_by=group_by, output=output)


def alerts_command(
    state: str = typer.Option(
        "open", "--state", help="open, acknowledged, closed or all."
    ),
    page: int = typer.Option(1, "--page", min=1, help="Which page (newest alerts first)."),
    per_page: int = typer.Option(20, "--per-page", min=1, max=500, help="Alerts a page."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List the organisation's alerts, newest first, one page at a time."""
    if state not in ("open", "acknowledged", "closed", "all"):
        raise typer.BadParameter("--state is open, acknowledged, closed or all")
    output = output_format(as_json, as_csv)
    with _client(hub, token) as client:
        show_alerts(
            client,
            _console(),
            state=None if state == "all" else state,
            limit=per_page,
            offset=(page - 1) * per_page,
            output=output,
        )


def usage_command(
    site: str = SiteOption,
    first_day: str = typer.Option(..., "--from", help="First local day, YYYY-MM-DD."),
    last_day: str = typer.Option(..., "--to", help="Last local day, YYYY-MM-DD."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show per-device utilization of a site."""
    output = output_format(as_json, as_csv)
    with _client(hub, token) as client:
        site_id, _ = resolve_site(client, site)
        show_usage(
            client,
            _console(),
            site_id,
            first_day=date.fromisoformat(first_day),
            last_day=date.fromisoformat(last_day),
            output=output,
        )


def benchmark_command(
    site: str = SiteOption,
    exam_type: str = typer.Option(..., "--exam", help="Exam type, e.g. ct_head."),
    metric: str = typer.Option("dlp", "--metric", help="ctdivol, dlp or dap."),
    country: str = typer.Option(None, "--country", help="Narrow peers to a country."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show a site's medians against its peers' (k-anonymous)."""
    output = output_format(as_json, as_csv)
    with _client(hub, token) as client:
        site_id, _ = resolve_site(client, site)
        show_benchmark(
            client,
            _console(),
            site_id,
            exam_type=exam_type,
            metric=metric,
            country=country,
            output=output,
        )


def studies_command(
    site: str = typer.Option(None, "--site", help="Only this site (name or id)."),
    exam_type: str = typer.Option(None, "--exam", help="Only this exam type, e.g. ct_head."),
    modality: str = typer.Option(None, "--modality", help="Only this modality, e.g. CT."),
    sort: str = typer.Option("-study_at", "--sort", help="A column, '-' first for descending."),
    page: int = typer.Option(1, "--page", min=1, help="Which page."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=500, help="Studies a page."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List the organisation's studies with their doses (the dose table), one page."""
    from medcoop.hub.presenters import studies_view

    output = output_format(as_json, as_csv)
    params: dict[str, Any] = {
        "sort": sort,
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    title = "Studies"
    with _client(hub, token) as client:
        if site:
            params["site_id"], name = resolve_site(client, site)
            title = f"Studies, {name}"
        params.update({k: v for k, v in (("exam_type", exam_type), ("modality", modality)) if v})
        answer = _get(client, "/api/v1/analytics/studies", params)
    view = studies_view(
        answer["items"], title=title, offset=answer["offset"], total=answer["total"]
    )
    _print(view, output, _console())


def sites_command(
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List the organisation's sites by name."""
    from medcoop.hub.presenters import sites_view

    output = output_format(as_json, as_csv)
    with _client(hub, token) as client:
        sites = _items(client, "/api/v1/sites", {})
    _print(sites_view(sites), output, _console())


def devices_command(
    site: str = SiteOption,
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List a site's devices by name."""
    from medcoop.hub.presenters import devices_view

    output = output_format(as_json, as_csv)
    with _client(hub, token) as client:
        site_id, name = resolve_site(client, site)
        devices = _items(client, "/api/v1/devices", {"site_id": site_id})
    _print(devices_view(devices, site=name), output, _console())
