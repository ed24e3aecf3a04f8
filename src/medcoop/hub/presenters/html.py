"""The hub's one Jinja environment (autoescaped) and the HTML pages it renders.

Templates live in ``medcoop/hub/presenters/templates/``; :data:`TEMPLATES` is the
environment every HTML page of the hub renders through (the web dashboard adds its
templates with :func:`add_template_package`). Filters: ``fixed`` and ``number`` print
fixed-point numbers with units spelled one way (:mod:`medcoop.output`).
"""

from __future__ import annotations

import jinja2

from medcoop.analytics.protocols import FIELDS, PublishedProtocol
from medcoop.output import DIGITS, fixed, unit_label

__all__ = ["TEMPLATES", "add_template_package", "render_protocol_sheet"]


def _number(value: float | None, unit: str = "") -> str:
    """A number with the unit's decimals, without the unit (a column states it)."""
    return fixed(value, DIGITS.get(unit_label(unit), 2))


_LOADERS: list[jinja2.BaseLoader] = [jinja2.PackageLoader("medcoop.hub.presenters", "templates")]
TEMPLATES = jinja2.Environment(
    loader=jinja2.ChoiceLoader(_LOADERS),
    autoescape=True,  # descriptions, names and notes are user text
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["fixed"] = fixed
TEMPLATES.filters["number"] = _number
TEMPLATES.filters["unit"] = unit_label


def add_template_package(package: str, folder: str = "templates") -> None:
    """Let :data:`TEMPLATES` also find templates in ``package``'s ``folder`` (searched after)."""
    _LOADERS.append(jinja2.PackageLoader(package, folder))


def render_protocol_sheet(published: PublishedProtocol) -> str:
    """A printable HTML sheet of a published protocol."""
    summary = published.summary
    rows = [
        (quantity, unit, summary.quantities[quantity])
        for quantity, unit in FIELDS
        if quantity in summary.quantities
    ]
    template = TEMPLATES.get_template("protocol_sheet.html")
    return template.render(p=published, s=summary, rows=rows)
