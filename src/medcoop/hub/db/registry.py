"""Imports every module that defines hub models, so ``Base.metadata`` knows all tables.

Analytics (and any later domain) add their model module to :data:`MODEL_MODULES`; a
module that does not exist yet is skipped, so the core works before they land.
"""

from __future__ import annotations

import importlib

__all__ = ["MODEL_MODULES", "load_models"]

MODEL_MODULES: tuple[str, ...] = (
    "medcoop.hub.db.models",
    "medcoop.hub.db.analytics_models",
    "medcoop.hub.db.edge_models",
    "medcoop.hub.db.ledger_models",
    "medcoop.hub.db.apps_models",
    "medcoop.hub.db.store_models",
    "medcoop.hub.db.store_deploy_models",
)


def load_models() -> None:
    """Import every module in :data:`MODEL_MODULES` that exists."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


load_models()
