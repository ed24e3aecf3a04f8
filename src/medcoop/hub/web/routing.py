"""How a dashboard page answers: templates, the page route class, static files.

:class:`PageRoute` turns what the API would answer as JSON into pages: no session (or an
expired one) redirects to the sign-in page, a :class:`~medcoop.hub.errors.HubError`
becomes an error page with its own status (403 without the permission, 404 for another
tenant's object, exactly as in the API) and bad query or form input becomes a 400 page
that says which field was wrong. Nothing is changed in either case: the error is raised
before the service's transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import plotly
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from medcoop.hub.api.deps import CSRF_COOKIE, CSRF_FIELD
from medcoop.hub.errors import AuthenticationError, HubError
from medcoop.hub.services.accounts import Permission, Principal

__all__ = ["NAV", "PageRoute", "page", "static_file"]

log = logging.getLogger(__name__)
_HERE = Path(__file__).parent
_STATIC = _HERE / "static"
#: Files the dashboard serves: its own, and plotly.js from the installed package (no CDN).
STATIC_FILES: dict[str, Path] = {
    "app.css": _STATIC / "app.css",
    "print.css": _STATIC / "print.css",
    "app.js": _STATIC / "app.js",
    "charts.js": _STATIC / "charts.js",
    "ledger.js": _STATIC / "ledger.js",
    "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
}
_TITLES = {400: "Bad input", 403: "Not allowed", 404: "Not found", 409: "Conflict"}

ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


ENV.filters["when"] = _when
ENV.filters["num"] = _num
ENV.globals["Permission"] = Permission
_STUDIES = Permission.READ_STUDIES
#: The main navigation: each page's link is shown to those holding its permission.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/overview", "Overview", _STUDIES),
    ("/dose", "Dose", _STUDIES),
    ("/alerts", "Alerts", _STUDIES),
    ("/utilization", "Utilization", _STUDIES),
    ("/benchmarks", "Peer benchmarks", _STUDIES),
    ("/protocols", "Protocols", _STUDIES),
    ("/apps", "Apps", _STUDIES),
    ("/admin", "Administration", Permission.READ_DIRECTORY),
    ("/installs", "Installs", Permission.READ_DIRECTORY),
    ("/store", "Store", Permission.STORE_BROWSE),
    ("/store/orders", "Orders", Permission.STORE_READ_ORDERS),
    ("/store/vendor", "Vendor console", Permission.STORE_SELL),
    ("/ledger", "Ledger", _STUDIES),
)
ENV.globals["nav"] = NAV


def page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` with the caller, the CSRF token and ``context``."""
    principal: Principal | None = getattr(request.state, "principal", None)
    context.setdefault("notice", None)
    html = ENV.get_template(template).render(
        request=request,
        path=request.url.path,
        principal=principal,
        csrf_field=CSRF_FIELD,
        csrf_token=request.cookies.get(CSRF_COOKIE, ""),
        printed_at=_when(datetime.now(UTC)),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _validation_message(exc: RequestValidationError | ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if isinstance(exc, RequestValidationError):
            loc = loc[1:]  # "query", "body", "path"
        where = ".".join(str(part) for part in loc) or "input"
        messages.append(f"{where}: {error.get('msg', 'invalid value')}")
    return messages


class PageRoute(APIRoute):
    """An endpoint that answers pages, errors included (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthenticationError:
                target = request.url.path
                if request.url.query and request.method == "GET":
                    target += "?" + request.url.query
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            except (RequestValidationError, ValidationError) as exc:
                return page(
                    request,
                    "error.html",
                    status_code=400,
                    title="Bad input",
                    messages=_validation_message(exc),
                )
            except HubError as exc:
                status = exc.status_code
                return page(
                    request,
                    "error.html",
                    status_code=status,
                    title=_TITLES.get(status, "Not possible"),
                    messages=[str(exc.detail)],
                )

        return answer


def static_file(name: str) -> Response:
    """Return one of :data:`STATIC_FILES` (cached for a day), else a 404."""
    path = STATIC_FILES.get(name)
    if path is None:
        return Response("not found", status_code=404, media_type="text/plain")
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=86400"})
