"""Catalogue search: full-text ranking and facet counts, one interface over two engines.

:class:`SearchEngine` is the interface; :class:`SqliteFts5` (an FTS5 table,
``store_search_fts``, ranked by BM25) and :class:`PostgresFullText` (an expression GIN
index over a weighted ``tsvector``, ranked by ``ts_rank``) implement it with the
databases' own engines; :func:`engine_for` picks by the session's dialect.

Both rank a match in the title above one in the summary above one in the rest of the
text (weights 10 : 4 : 1 on SQLite, A : B : C on PostgreSQL), and both read a query the
same way: its words (letters and digits), each matching as a prefix, all required.

:func:`search` is what the API, the pages and the CLI call. It runs inside a session
opened through the door for :attr:`~medcoop.hub.db.access.Purpose.CATALOGUE` (every
vendor's published listings), and counts facets as shoppers expect: the counts of a facet
are computed with every filter but that facet's own (so choosing ``CT`` still shows how
many ``MR`` listings there are), from one grouped query for the unfiltered facets and
one more per filtered facet.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sqlalchemy import Float, Select, Uuid, func, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from medcoop.hub.db.store_models import StoreListing, StoreListingFacet
from medcoop.store.listing import FACETS

__all__ = [
    "CatalogueQuery",
    "CatalogueResult",
    "PostgresFullText",
    "SearchEngine",
    "SearchHit",
    "SqliteFts5",
    "engine_for",
    "query_terms",
    "search",
]

_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_TERMS: Final = 12


def query_terms(query: str) -> list[str]:
    """The words of a query, lower case, at most 12 (punctuation and operators dropped,
    so no input is ever read as engine syntax)."""
    return [w.lower() for w in _WORD.findall(query)][:_MAX_TERMS]


@dataclass(frozen=True, slots=True)
class CatalogueQuery:
    """A catalogue search: words, facet filters (any value within a facet, every facet),
    and a page."""

    text: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A listing found, with its rank (higher is better; 0 without words)."""

    listing: StoreListing
    rank: float


@dataclass(frozen=True, slots=True)
class CatalogueResult:
    """One page of hits, the number of matches, and every facet's value counts."""

    total: int
    hits: list[SearchHit]
    facets: dict[str, list[tuple[str, int]]]


class SearchEngine(Protocol):
    """A database's full-text engine behind the catalogue."""

    def index(self, session: Session, listing: StoreListing) -> None:
        """Make ``listing`` findable with its current text (replacing what was indexed)."""

    def unindex(self, session: Session, listing_id: uuid.UUID) -> None:
        """Make the listing unfindable by text."""

    def matches(self, terms: Sequence[str]) -> Any:
        """A subquery of ``(listing_id, rank)`` for the listings matching every term."""


class SqliteFts5:
    """SQLite's FTS5, BM25-ranked, on the ``store_search_fts`` table."""

    def index(self, session: Session, listing: StoreListing) -> None:
        self.unindex(session, listing.id)
        session.execute(
            text(
                "INSERT INTO store_search_fts (title, summary, body, listing_id)"
                " VALUES (:title, :summary, :body, :listing_id)"
            ),
            {
                "title": listing.title,
                "summary": listing.summary,
                "body": listing.search_body,
                "listing_id": listing.id.hex,  # as the Uuid type stores it on SQLite
            },
        )

    def unindex(self, session: Session, listing_id: uuid.UUID) -> None:
        session.execute(
            text("DELETE FROM store_search_fts WHERE listing_id = :id"), {"id": listing_id.hex}
        )

    def matches(self, terms: Sequence[str]) -> Any:
        # each term quoted (so it is never FTS syntax) and a prefix; juxtaposed is AND
        expression = " ".join(f'"{t}"*' for t in terms)
        return (
            text(
                "SELECT listing_id, -bm25(store_search_fts, 10.0, 4.0, 1.0) AS rank"
                " FROM store_search_fts WHERE store_search_fts MATCH :expression"
            )
            .bindparams(expression=expression)
            .columns(listing_id=Uuid(), rank=Float())
            # evaluated once: else SQLite may run the MATCH again for every listing row
            .cte("fts")
            .prefix_with("MATERIALIZED")
        )


#: The weighted document; the migration's index uses the same expression, verbatim.
PG_DOCUMENT: Final = (
    "(setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, summary), 'B') || "
    "setweight(to_tsvector('english'::regconfig, search_body), 'C'))"
)


class PostgresFullText:
    """PostgreSQL's full-text search: ``ts_rank`` over the indexed weighted document."""

    def index(self, session: Session, listing: StoreListing) -> None:
        """Nothing to do: the expression index follows the row."""

    def unindex(self, session: Session, listing_id: uuid.UUID) -> None:
        """Nothing to do: the expression index follows the row."""

    def matches(self, terms: Sequence[str]) -> Any:
        expression = " & ".join(f"{t}:*" for t in terms)
        document: ColumnElement[Any] = literal_column(PG_DOCUMENT)
        tsquery = func.to_tsquery(text("'english'::regconfig"), expression)
        return (
            select(
                StoreListing.id.label("listing_id"),
                func.ts_rank(document, tsquery).label("rank"),
            )
            .where(document.op("@@")(tsquery))
            .subquery("fts")
        )


def engine_for(session: Session) -> SearchEngine:
    """The search engine of the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return PostgresFullText()
    if dialect == "sqlite":
        return SqliteFts5()
    raise RuntimeError(f"no catalogue search on {dialect}")


def _filtered(query: CatalogueQuery, *, leave_out: str | None = None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [StoreListing.status == "published"]
    for facet, values in query.filters.items():
        if facet == leave_out or not values:
            continue
        conditions.append(
            StoreListing.id.in_(
                select(StoreListingFacet.listing_id).where(
                    StoreListingFacet.facet == facet, StoreListingFacet.value.in_(list(values))
                )
            )
        )
    return conditions


def _matching_ids(
    query: CatalogueQuery, matched: Any, *, leave_out: str | None = None
) -> Select[Any]:
    ids = select(StoreListing.id).where(*_filtered(query, leave_out=leave_out))
    if matched is not None:
        ids = ids.join(matched, matched.c.listing_id == StoreListing.id)
    return ids


def _facet_counts(
    session: Session, ids: Select[Any], facets: Sequence[str]
) -> dict[str, list[tuple[str, int]]]:
    rows = session.execute(
        select(StoreListingFacet.facet, StoreListingFacet.value, func.count())
        .where(
            StoreListingFacet.facet.in_(list(facets)),
            StoreListingFacet.listing_id.in_(ids.scalar_subquery()),
        )
        .group_by(StoreListingFacet.facet, StoreListingFacet.value)
    ).all()
    counts: dict[str, list[tuple[str, int]]] = {f: [] for f in facets}
    for facet, value, count in rows:
        counts[facet].append((value, int(count)))
    for values in counts.values():
        values.sort(key=lambda vc: (-vc[1], vc[0]))
    return counts


def search(session: Session, query: CatalogueQuery) -> CatalogueResult:
    """Run ``query`` on the catalogue; ``session`` is pooled for the catalogue.

    Unknown facet names in the filters are refused (``ValueError``) rather than ignored.
    """
    unknown = set(query.filters) - set(FACETS)
    if unknown:
        raise ValueError(f"unknown facets: {', '.join(sorted(unknown))}")
    terms = query_terms(query.text)
    matched = engine_for(session).matches(terms) if terms else None
    ids = _matching_ids(query, matched)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    # the page's ids first (narrow rows sort fast), then those listings' full rows
    rank = matched.c.rank if matched is not None else literal_column("0.0")
    page = select(StoreListing.id, rank.label("rank")).where(*_filtered(query))
    if matched is not None:
        page = page.join(matched, matched.c.listing_id == StoreListing.id).order_by(
            matched.c.rank.desc()
        )
    page = page.order_by(StoreListing.title, StoreListing.id).limit(query.limit)
    ranked = session.execute(page.offset(query.offset)).all()
    rows = {
        listing.id: listing
        for listing in session.scalars(
            select(StoreListing).where(StoreListing.id.in_([i for i, _r in ranked]))
        )
    }
    hits = [SearchHit(rows[i], float(r or 0.0)) for i, r in ranked if i in rows]
    filtered = [f for f in FACETS if query.filters.get(f)]
    facets = _facet_counts(session, ids, [f for f in FACETS if f not in filtered])
    for facet in filtered:
        own = _matching_ids(query, matched, leave_out=facet)
        facets.update(_facet_counts(session, own, [facet]))
    return CatalogueResult(total, hits, {f: facets[f] for f in FACETS})
