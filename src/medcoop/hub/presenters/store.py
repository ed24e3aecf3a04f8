"""Views of the store for the CLI (tables, ``--json``, ``--csv``) and the web pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medcoop.output import Column, View

__all__ = [
    "entitlements_view",
    "facets_view",
    "listing_view",
    "orders_view",
    "search_view",
    "trials_view",
]


def _short(value: Any) -> str:
    return "" if value is None else str(value)[:10]


def search_view(page: Mapping[str, Any]) -> View:
    """A search result page: the listings, best first."""
    return View(
        "Store catalogue",
        (
            Column("listing_key", "App or service"),
            Column("kind", "Kind"),
            Column("title", "Title"),
            Column("vendor_name", "Vendor"),
            Column("category", "Category"),
            Column("latest_version", "Version"),
            Column("has_trial", "Trial", format=lambda v: "yes" if v else "no"),
            Column("rank", "Rank", justify="right", hidden=True),
        ),
        [dict(item) for item in page["items"]],
        page=(page["offset"], page["limit"], page["total"]),
    )


def facets_view(facets: Mapping[str, Sequence[Mapping[str, Any]]]) -> View:
    """Every facet value with its count."""
    records = [
        {"facet": facet, "value": v["value"], "count": v["count"]}
        for facet, values in facets.items()
        for v in values
    ]
    return View(
        "Facets",
        (
            Column("facet", "Facet"),
            Column("value", "Value"),
            Column("count", "Listings", justify="right"),
        ),
        records,
    )


def listing_view(detail: Mapping[str, Any]) -> View:
    """A listing's versions and changelogs, with its summary as a note."""
    listing = detail["listing"]
    notes = [listing["summary"]]
    if detail.get("rating") is not None:
        notes.append(f"rating {detail['rating']:.1f} / 5 ({len(detail['reviews'])} reviews)")
    return View(
        f"{listing['title']} ({listing['listing_key']}, {listing['vendor_name']})",
        (
            Column("version", "Version"),
            Column("published_at", "Published", format=_short),
            Column("changelog", "Changes"),
        ),
        [dict(v) for v in detail["versions"]],
        notes=tuple(notes),
    )


def trials_view(trials: Sequence[Mapping[str, Any]]) -> View:
    """Trials and their states."""
    return View(
        "Trials",
        (
            Column("id", "Trial", hidden=True),
            Column("listing_key", "App"),
            Column("state", "State"),
            Column("days", "Days", justify="right"),
            Column("study_cap", "Study cap", justify="right"),
            Column("requested_at", "Requested", format=_short),
        ),
        [dict(t) for t in trials],
    )


def orders_view(orders: Sequence[Mapping[str, Any]]) -> View:
    """Orders and their terms (payment is outside the store)."""
    return View(
        "Orders",
        (
            Column("id", "Order", hidden=True),
            Column("listing_id", "Listing", hidden=True),
            Column("pricing", "Pricing"),
            Column("plan", "Plan"),
            Column("price_amount", "Price", justify="right"),
            Column("currency", "Currency"),
            Column("state", "State"),
            Column("placed_at", "Placed", format=_short),
            Column("ends_at", "Ends", format=_short),
        ),
        [dict(o) for o in orders],
    )


def entitlements_view(entitlements: Sequence[Mapping[str, Any]]) -> View:
    """Entitlements per site, with their use against their caps."""
    return View(
        "Entitlements",
        (
            Column("id", "Entitlement", hidden=True),
            Column("listing_key", "App"),
            Column("site_id", "Site", format=lambda v: "every site" if v is None else str(v)),
            Column("kind", "Kind"),
            Column("state", "State"),
            Column("studies_used", "Studies", justify="right"),
            Column("study_cap", "Cap", justify="right",
                   format=lambda v: "–" if v is None else str(v)),
            Column("expires_at", "Expires", format=_short),
        ),
        [dict(e) for e in entitlements],
    )
