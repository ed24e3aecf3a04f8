"""How results are printed: one tabular view, rendered as a Rich table, JSON or CSV.

A :class:`View` is a title, typed columns and raw records (numbers stay numbers). Every
view command of the ``medcoop`` CLI, the hub's and the edge's alike, builds one and hands
it to :func:`emit`, which prints a table for a person (fixed-point numbers, units spelled
one way, never wrapped when piped) or the same records as ``--json`` / ``--csv`` for a
program. The web dashboard renders the same views (``View.as_dict``). Pure: no hub, no
edge, no network; Rich is imported only when a table is printed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import typer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "CSV_OPTION",
    "DASH",
    "DIGITS",
    "JSON_OPTION",
    "UNITS",
    "Column",
    "OutputFormat",
    "View",
    "emit",
    "fixed",
    "make_console",
    "output_format",
    "percent",
    "render_csv",
    "render_json",
    "render_table",
    "unit_label",
]

#: What a missing value prints as.
DASH = "–"

#: Every spelling of a dose unit met in tables and records → the one medcoop prints.
UNITS: Mapping[str, str] = {
    "mGy": "mGy",
    "mgy": "mGy",
    "mGy.cm": "mGy·cm",
    "mGycm": "mGy·cm",
    "mGy*cm": "mGy·cm",
    "mGy cm": "mGy·cm",
    "mgycm": "mGy·cm",
    "Gy.cm2": "Gy·cm²",
    "Gycm2": "Gy·cm²",
    "Gy*cm2": "Gy·cm²",
    "Gy cm2": "Gy·cm²",
    "gycm2": "Gy·cm²",
    "mSv": "mSv",
    "kV": "kV",
    "mA": "mA",
    "mm": "mm",
    "MBq": "MBq",
    "s": "s",
    "min": "min",
}


def unit_label(unit: str | None) -> str:
    """Return the one spelling medcoop prints for ``unit`` (``mGy.cm`` → ``mGy·cm``)."""
    if not unit:
        return ""
    return UNITS.get(unit, UNITS.get(unit.replace("·", ".").replace("²", "2"), unit))


#: Decimals printed per unit: CTDIvol to 0.01 mGy, DLP to 0.1 mGy·cm, DAP to 0.01 Gy·cm².
DIGITS: Mapping[str, int] = {
    "mGy": 2,
    "mGy·cm": 1,
    "Gy·cm²": 2,
    "mSv": 2,
    "MBq": 0,
    "s": 1,
    "kV": 0,
    "mA": 0,
    "mm": 1,
}


def fixed(value: float | None, digits: int | None = None, unit: str | None = None) -> str:
    """Fixed-point text for a number: ``fixed(724.52, unit="mGy.cm")`` → ``724.5 mGy·cm``.

    Never scientific notation (a physicist reads 0.29 mGy, not 2.86e-01). ``digits``
    defaults to the unit's (:data:`DIGITS`), else 1; ``None`` and NaN print as a dash.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    label = unit_label(unit)
    places = digits if digits is not None else DIGITS.get(label, 1)
    text = f"{value:.{places}f}"
    return f"{text} {label}" if label else text


def percent(value: float | None, digits: int = 0) -> str:
    """A fraction as a percentage: ``0.8`` → ``80%``."""
    if value is None:
        return DASH
    return f"{value * 100:.{digits}f}%"


def _plain(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return fixed(value, 2)
    return str(value)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a view.

    Attributes
    ----------
    key : str
        The record key; also the JSON key and the CSV header.
    header : str
        What the table's header says (units in it when the cells carry none).
    format : callable, optional
        Raw value → the table's text (fixed-point numbers; dashes for ``None``).
    justify : {"left", "right"}
        Numbers are right-aligned.
    style : callable, optional
        Raw value → a Rich style for the cell (``"bold red"`` for a DRL exceeded), or ``None``.
    unit_key : str, optional
        The record key holding this value's unit: the cell prints as :func:`fixed` with it
        (``format`` is then not used), so a column may mix mGy and mGy·cm rows.
    """

    key: str
    header: str
    format: Callable[[Any], str] = _plain
    justify: Literal["left", "right"] = "left"
    style: Callable[[Any], str | None] | None = None
    unit_key: str | None = None
    #: Only in ``--json`` and ``--csv`` (a unit the table's cells already print, an id).
    hidden: bool = False

    def text(self, record: Mapping[str, Any]) -> str:
        """The cell's text for ``record``."""
        value = record.get(self.key)
        if self.unit_key is not None:
            return fixed(value, unit=record.get(self.unit_key))
        return self.format(value)


@dataclass(frozen=True, slots=True)
class View:
    """A titled table of raw records, printed the same way by every front end."""

    title: str
    columns: tuple[Column, ...]
    records: list[dict[str, Any]]
    #: Lines printed under the table (caveats, a rank, where the numbers come from).
    notes: tuple[str, ...] = ()
    #: The paging the records are one page of: (first item, items, total), or ``None``.
    page: tuple[int, int, int] | None = field(default=None)

    def cells(self) -> list[list[str]]:
        """Every record as the table's text, column by column."""
        shown = self.shown()
        return [[c.text(r) for c in shown] for r in self.records]

    def shown(self) -> tuple[Column, ...]:
        """The columns a table prints (all but the hidden)."""
        return tuple(c for c in self.columns if not c.hidden)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: title, column keys and headers, raw records, notes, page."""
        out: dict[str, Any] = {
            "title": self.title,
            "columns": [{"key": c.key, "header": c.header} for c in self.columns],
            "rows": [{c.key: _jsonable(r.get(c.key)) for c in self.columns} for r in self.records],
            "notes": list(self.notes),
        }
        if self.page is not None:
            offset, limit, total = self.page
            out["page"] = {"offset": offset, "limit": limit, "total": total}
        return out


class OutputFormat(StrEnum):
    """How a view command prints: a table for people, JSON or CSV for programs."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


#: The ``--json`` and ``--csv`` flags every view command takes (hub and edge alike).
JSON_OPTION: Any = typer.Option(False, "--json", help="Print the records as JSON.")
CSV_OPTION: Any = typer.Option(False, "--csv", help="Print the records as CSV.")


def output_format(as_json: bool, as_csv: bool) -> OutputFormat:
    """The output ``--json`` / ``--csv`` ask for (a table when neither)."""
    if as_json and as_csv:
        raise typer.BadParameter("give --json or --csv, not both")
    if as_json:
        return OutputFormat.JSON
    return OutputFormat.CSV if as_csv else OutputFormat.TABLE


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def render_json(views: Sequence[View]) -> str:
    """One view as a JSON object, several as an array of them."""
    data = [v.as_dict() for v in views]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False)


def render_csv(view: View) -> str:
    """The view's raw records as CSV, headed by the column keys (numbers unformatted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in view.columns])
    for record in view.records:
        row = []
        for column in view.columns:
            value = _jsonable(record.get(column.key))
            if isinstance(value, list):
                value = " / ".join("" if v is None else str(v) for v in value)
            row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue()


def render_table(view: View, console: Console) -> None:
    """Print ``view`` as a Rich table with its notes (cells never wrap)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=view.title)
    shown = view.shown()
    for column in shown:
        table.add_column(column.header, justify=column.justify, no_wrap=True)
    for record in view.records:
        row = []
        for column in shown:
            value = record.get(column.key)
            style = column.style(value) if column.style else None
            row.append(Text(column.text(record), style=style or ""))
        table.add_row(*row)
    console.print(table)
    if view.page is not None:
        offset, limit, total = view.page
        last = min(offset + limit, total)
        console.print(f"{offset + 1 if total else 0}–{last} of {total}", highlight=False)
    for note in view.notes:
        console.print(Text(note, style="yellow"))


def make_console() -> Console:
    """A console for a view command: full width on a terminal, never wrapping when piped.

    Piped into a file or ``less``, Rich would fold tables to 80 columns; a wide virtual
    width keeps each row on one line.
    """
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=400, soft_wrap=True)
    return console


def emit(views: View | Sequence[View], output: OutputFormat, console: Console) -> None:
    """Print views as ``output`` says (CSV: one block per view, separated by a blank line)."""
    shown = [views] if isinstance(views, View) else list(views)
    if output is OutputFormat.JSON:
        text = render_json(shown)
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
    elif output is OutputFormat.CSV:
        text = "\n".join(render_csv(v) for v in shown)
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True, end="")
    else:
        for view in shown:
            render_table(view, console)
