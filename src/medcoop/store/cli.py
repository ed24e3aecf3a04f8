"""``medcoop store``: the app store from a terminal.

One Typer app for the whole store, so that every store command is under one name:

- manifests, checked locally before publishing: ``manifest-check``, ``manifest-schema``;
- the catalogue and commerce (``search``, ``listing``, ``trial``, ``quote``, ``orders``,
  ``entitlements``, ``usage``), which read and write the hub's API with a personal access
  token, each through the same permission checks as the API and the web pages;
- the signed package repository (``keygen``, ``publish``, ``init-repo``), in the TUF
  module's own commands, added to this app.

Heavy imports stay inside the commands so that ``medcoop --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from medcoop.hub.views_cli import HubOption, TokenOption, _client, _console
from medcoop.output import CSV_OPTION, JSON_OPTION, OutputFormat, output_format

if TYPE_CHECKING:
    import httpx

__all__ = ["app"]

app = typer.Typer(
    help="The app store: manifests, catalogue, trials, quotes, orders, entitlements, packages.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)


@app.command("manifest-check")
def manifest_check(
    manifest: Path = typer.Argument(..., exists=True, dir_okay=False, help="manifest.json"),
) -> None:
    """Validate an app manifest and list every problem (exit 1 when there is one)."""
    from medcoop.store.manifest import ManifestError, validate_manifest

    try:
        found = validate_manifest(manifest.read_bytes())
    except ManifestError as exc:
        err_console.print(f"[red]{manifest}: {len(exc.problems)} problems[/red]", soft_wrap=True)
        for problem in exc.problems:
            err_console.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"{found.id} {found.version}: valid (manifest {found.manifest_version})")


@app.command("manifest-schema")
def manifest_schema() -> None:
    """Print the manifest's JSON Schema (as the hub serves it)."""
    from medcoop.store.manifest import manifest_json_schema

    typer.echo(json.dumps(manifest_json_schema(), indent=2))


# --- the catalogue and commerce, through the hub's API -----------------------------------------


def _api(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        detail = response.json().get("detail") if response.content else ""
        if isinstance(detail, list):  # a refused manifest: every problem
            detail = "; ".join(f"{d.get('location')}: {d.get('message')}" for d in detail)
        raise typer.BadParameter(f"hub answered {response.status_code}: {detail}")
    return response.json() if "json" in response.headers.get("content-type", "") else response.text


def _facet_filters(facets: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in facets:
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise typer.BadParameter(f"a facet filter is NAME=VALUE, not {item!r}")
        filters.setdefault(name.strip(), []).append(value.strip())
    return filters


def show_search(
    client: httpx.Client, console: Console, output: OutputFormat, query: str, facets: list[str]
) -> None:
    """Search the catalogue and print the hits and the facet counts."""
    from medcoop.hub.presenters.store import facets_view, search_view
    from medcoop.output import emit

    page = _api(
        client, "GET", "/api/v1/store/search", params={"q": query, **_facet_filters(facets)}
    )
    emit([search_view(page), facets_view(page["facets"])], output, console)


@app.command("search")
def search_command(
    query: str = typer.Argument("", help="Words to search for (each a prefix)."),
    facet: list[str] = typer.Option(
        [], "--facet", "-f", help="Facet filter NAME=VALUE (repeatable), e.g. modality=CT."
    ),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Search the store's catalogue, with facet counts."""
    with _client(hub, token) as client:
        show_search(client, _console(), output_format(as_json, as_csv), query, facet)


@app.command("listing")
def listing_command(
    key: str = typer.Argument(..., help="The app's or service's id, e.g. acme.chest-triage."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Show a listing: summary, versions and changelogs, rating."""
    from medcoop.hub.presenters.store import listing_view
    from medcoop.output import emit

    with _client(hub, token) as client:
        detail = _api(client, "GET", f"/api/v1/store/listings/{key}")
    emit(listing_view(detail), output_format(as_json, as_csv), _console())


@app.command("trial")
def trial_command(
    key: str = typer.Argument(..., help="The app's id."),
    site: str | None = typer.Option(None, "--site", help="Limit the trial to one site (id)."),
    note: str = typer.Option("", "--note", help="A note to the vendor."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Request a trial of an app (approved at once when its offer says so)."""
    with _client(hub, token) as client:
        trial = _api(
            client,
            "POST",
            f"/api/v1/store/listings/{key}/trials",
            json={"site_id": site, "note": note},
        )
    console.print(
        f"trial {trial['id']}: {trial['state']} ({trial['days']} days, "
        f"{trial['study_cap']} studies)"
    )


@app.command("quote")
def quote_command(
    key: str = typer.Argument(..., help="The app's id."),
    studies: int | None = typer.Option(None, "--studies", help="Studies per year."),
    site: list[str] = typer.Option([], "--site", help="A site (id) to cover (repeatable)."),
    question: str = typer.Option("", "--question", help="Questions for the vendor."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Request a quotation (volumes, sites, questions)."""
    with _client(hub, token) as client:
        quote = _api(
            client,
            "POST",
            f"/api/v1/store/listings/{key}/quotes",
            json={"studies_per_year": studies, "site_ids": site, "questions": question},
        )
    console.print(f"quote {quote['id']}: {quote['state']}")


@app.command("orders")
def orders_command(
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List the organisation's orders."""
    from medcoop.hub.presenters.store import orders_view
    from medcoop.output import emit

    with _client(hub, token) as client:
        orders = _api(client, "GET", "/api/v1/store/orders")
    emit(orders_view(orders), output_format(as_json, as_csv), _console())


@app.command("entitlements")
def entitlements_command(
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """List the organisation's entitlements per site, with use against caps."""
    from medcoop.hub.presenters.store import entitlements_view
    from medcoop.output import emit

    with _client(hub, token) as client:
        rows = _api(client, "GET", "/api/v1/store/entitlements")
    emit(entitlements_view(rows), output_format(as_json, as_csv), _console())


@app.command("usage")
def usage_command(
    start: str | None = typer.Option(None, "--start", help="Period start (ISO date-time)."),
    end: str | None = typer.Option(None, "--end", help="Period end (ISO date-time)."),
    vendor: bool = typer.Option(False, "--vendor", help="The vendor's side (all customers)."),
    hub: str = HubOption,
    token: str = TokenOption,
) -> None:
    """Export metered usage per entitlement over a period as CSV (for invoicing)."""
    path = "/api/v1/store/vendor/usage.csv" if vendor else "/api/v1/store/usage.csv"
    params = {k: v for k, v in (("start", start), ("end", end)) if v}
    with _client(hub, token) as client:
        typer.echo(_api(client, "GET", path, params=params), nl=False)


# the signed package repository's commands (init-repo, approve-vendor, keygen, publish, ...)
from medcoop.store.tuf.cli import register as _register_tuf  # noqa: E402

_register_tuf(app)
