"""Domain logic behind the hub's routers: each module takes a scoped SQLAlchemy session.

Services raise :mod:`medcoop.hub.errors` exceptions and never speak HTTP; routers in
:mod:`medcoop.hub.api` translate.
"""
