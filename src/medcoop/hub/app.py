"""The hub's FastAPI application factory.

``create_app(settings)`` builds an app for tests and demos; ``app_from_env()`` is the
uvicorn factory (``medcoop.hub.app:app_from_env``) that workers call, reading settings
from ``$MEDCOOP_HUB_SETTINGS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from medcoop import __version__
from medcoop.hub.api import load_routers
from medcoop.hub.api.ingest import RECORD_BATCH_SCHEMA
from medcoop.hub.api.ledger import ledger_for
from medcoop.hub.db import migrate
from medcoop.hub.db.engine import make_engine, make_session_factory
from medcoop.hub.errors import HubError, InvalidRecordError, RateLimitedError
from medcoop.hub.ratelimit import RateLimiter, limiter_for
from medcoop.hub.services.analytics import AlertNotifier
from medcoop.hub.services.ledger.access_log import AccessLog
from medcoop.hub.settings import HubSettings, settings_from_env
from medcoop.hub.worker import Worker, hub_jobs

__all__ = ["app_from_env", "create_app"]


def create_app(settings: HubSettings, *, limiter: RateLimiter | None = None) -> FastAPI:
    """Return a hub application for ``settings`` (migrating first when they say so).

    Parameters
    ----------
    settings
        Frozen hub settings (database URL, limits, token lifetimes).
    limiter
        Rate limiter shared by login, enrollment and ingest; in-process by default.
    """
    engine = make_engine(settings)
    if settings.migrate_on_start:
        migrate.upgrade(engine)
    app = FastAPI(
        title="medcoop hub",
        version=__version__,
        description="Multi-tenant hub: ingest of de-identified edge records, tenancy, people.",
        lifespan=_lifespan,
        docs_url=None,  # served below from an installed package: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.worker = Worker(hub_jobs(settings, app.state.session_factory))
    # woken after commits that opened alerts; polls the outbox whether or not it runs here
    notifier = app.state.worker.job("notifier")
    app.state.notifier = notifier or AlertNotifier(
        app.state.session_factory, interval_s=settings.notifier_interval_s
    )
    app.state.limiter = limiter or limiter_for(settings)
    # every audited read of pooled data on this database becomes a ledger access entry
    app.state.access_log = (
        AccessLog(engine, lambda: ledger_for(app), interval_s=settings.ledger_access_flush_s)
        .start()
        if settings.ledger_access_log
        else None
    )
    for router in load_routers():
        app.include_router(router)
    app.add_exception_handler(HubError, _hub_error)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    _mount_docs(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` with Swagger UI's files from the ``swagger-ui-bundle`` package.

    FastAPI's default page loads them from a CDN, which a hospital network or an offline
    laptop cannot reach.
    """
    import swagger_ui_bundle

    app.mount(
        "/docs/assets",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-ui-assets",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # the background jobs run here only for the embedded set-up (hub/worker.py)
    worker: Worker = app.state.worker
    if app.state.access_log is not None:
        app.state.access_log.start()  # again after an earlier shutdown of this app
    if app.state.settings.worker_in_process:
        worker.start()
    try:
        yield
    finally:
        worker.stop()
        access_log: AccessLog | None = app.state.access_log
        if access_log is not None:
            access_log.close()


def app_from_env() -> FastAPI:
    """Uvicorn factory: build the app from ``$MEDCOOP_HUB_SETTINGS``."""
    return create_app(settings_from_env())


async def _hub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HubError)
    body: dict[str, Any] = {
        "detail": exc.errors if isinstance(exc, InvalidRecordError) else exc.detail
    }
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidRecordError):
        body["record_index"] = exc.record_index
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(RECORD_BATCH_SCHEMA.get("$defs", {}))
        batch = {k: v for k, v in RECORD_BATCH_SCHEMA.items() if k != "$defs"}
        components["RecordBatch"] = batch
        app.openapi_schema = schema
    return app.openapi_schema
