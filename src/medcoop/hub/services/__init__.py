"""Domain logic behind the hub's routers: one subpackage per domain.

``accounts`` (organisations, people, sites, tokens, permissions, the directory),
``ingest`` (record batches in, studies back out) and ``analytics`` (dose, alerts,
protocols, the pooled summaries); the store, the ledger and the apps get theirs beside
them. Each package's ``__all__`` is what callers import; the modules inside are its own.
Every function takes a scoped SQLAlchemy session, raises :mod:`medcoop.hub.errors`
exceptions and never speaks HTTP; routers in :mod:`medcoop.hub.api` translate.
"""
