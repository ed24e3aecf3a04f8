"""The dose table: an organisation's studies, one row each, with their dose totals.

:func:`study_query` is the API's query parsing (filters → :class:`StudyQuery`);
:func:`studies_view` prints a page of rows (the API's JSON) with units from the column
names (``_mgy`` → mGy, ``_mgycm`` → mGy·cm, ``_gycm2`` → Gy·cm²), so a column added to
``analytics.query.ROW_COLUMNS`` is shown without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from medcoop.analytics.query import ROW_COLUMNS, StudyQuery
from medcoop.hub.presenters.query import aware
from medcoop.output import DASH, DIGITS, Column, View, fixed

__all__ = ["column_unit", "studies_view", "study_query"]

#: Column-name endings → unit (longest first) and decimals.
_SUFFIXES: tuple[tuple[str, str, int | None], ...] = (
    ("_mgycm", "mGy·cm", None),
    ("_gycm2", "Gy·cm²", None),
    ("_mgy", "mGy", None),
    ("_msv", "mSv", None),
    ("_mbq", "MBq", None),
    ("_years", "y", 0),
    ("_kg", "kg", 0),
    ("_cm", "cm", 1),
    ("_s", "s", 1),
)
#: Columns the table leaves to --json and --csv (long keys).
_HIDDEN = frozenset({"study_uid", "site_id", "device_key"})


def study_query(
    *,
    site_id: Any = None,
    study_from_at: datetime | None = None,
    study_to_at: datetime | None = None,
    **filters: Any,
) -> StudyQuery:
    """The study query of the API's parameters (times without a zone read as UTC)."""
    return StudyQuery(
        site_id=str(site_id) if site_id else None,
        from_at=aware(study_from_at),
        to_at=aware(study_to_at),
        **filters,
    )


def column_unit(name: str) -> tuple[str, int | None] | None:
    """The unit and decimals a row column's name states, or ``None``."""
    for suffix, unit, digits in _SUFFIXES:
        if name.endswith(suffix):
            return unit, digits
    return None


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else DASH


def _formatter(name: str) -> Column:
    found = column_unit(name)
    header = name.replace("_", " ")
    if found is None:
        if name == "study_at":
            return Column(name, "study at (UTC)", _when)
        return Column(name, header, hidden=name in _HIDDEN)
    unit, digits = found
    places = DIGITS.get(unit, 1) if digits is None else digits
    stem = header.rsplit(" ", 1)[0]
    return Column(name, f"{stem} ({unit})", lambda v: fixed(v, places), "right")


def studies_view(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str = "Studies",
    offset: int = 0,
    total: int | None = None,
    columns: Sequence[str] = ROW_COLUMNS,
) -> View:
    """A page of study rows (the API's JSON) as the dose table."""
    records = [dict(row) for row in rows]
    whole = len(records) if total is None else total
    view_columns = tuple(_formatter(name) for name in columns)
    return View(title, view_columns, records, page=(offset, len(records), whole))
