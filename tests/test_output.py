"""``medcoop.output``: fixed-point numbers, one spelling per unit, tables, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console

from medcoop.output import (
    Column,
    OutputFormat,
    View,
    emit,
    fixed,
    make_console,
    percent,
    render_csv,
    unit_label,
)


def test_units_are_spelled_one_way_whatever_the_source_says() -> None:
    for spelling in ("mGy.cm", "mGycm", "mGy*cm", "mGy·cm"):
        assert unit_label(spelling) == "mGy·cm"
    for spelling in ("Gy.cm2", "Gycm2", "Gy·cm²"):
        assert unit_label(spelling) == "Gy·cm²"
    assert unit_label("mGy") == "mGy" and unit_label(None) == ""


def test_numbers_are_fixed_point_with_the_units_decimals() -> None:
    assert fixed(0.000286, unit="mGy") == "0.00 mGy"
    assert fixed(0.286, unit="mGy") == "0.29 mGy"
    assert fixed(724.52, unit="mGy.cm") == "724.5 mGy·cm"
    assert fixed(123456789.0, unit="mGy.cm") == "123456789.0 mGy·cm"  # never 1.23e+08
    assert fixed(1.234, unit="Gy.cm2") == "1.23 Gy·cm²"
    assert fixed(None, unit="mGy") == "–" and fixed(float("nan")) == "–"
    assert fixed(2.0, 3) == "2.000"
    assert percent(0.8) == "80%" and percent(None) == "–"


def _view() -> View:
    columns = (
        Column("name", "name"),
        Column("dose", "dose", justify="right", unit_key="unit"),
        Column("unit", "unit", hidden=True),
    )
    records = [
        {"name": "a very long protocol name, " * 4, "dose": 724.52, "unit": "mGy.cm"},
        {"name": "b", "dose": None, "unit": "mGy"},
    ]
    return View("Doses", columns, records, notes=("a note",))


def test_a_table_shows_cells_with_units_and_hides_what_only_programs_need() -> None:
    view = _view()
    assert view.cells() == [["a very long protocol name, " * 4, "724.5 mGy·cm"], ["b", "–"]]
    console = Console(record=True, width=200)
    emit(view, OutputFormat.TABLE, console)
    text = console.export_text()
    assert "724.5 mGy·cm" in text and "a note" in text and "unit" not in text.split("\n")[1]


def test_json_and_csv_carry_raw_numbers_and_every_column() -> None:
    view = _view()
    console = Console(record=True, width=60)
    emit(view, OutputFormat.JSON, console)
    data = json.loads(console.export_text())
    assert data["rows"][0]["dose"] == 724.52 and data["rows"][0]["unit"] == "mGy.cm"
    assert [c["key"] for c in data["columns"]] == ["name", "dose", "unit"]
    rows = list(csv.DictReader(io.StringIO(render_csv(view))))
    assert rows[0]["dose"] == "724.52" and rows[1]["dose"] == "" and rows[1]["unit"] == "mGy"


def test_two_views_as_json_are_an_array() -> None:
    console = Console(record=True, width=60)
    emit([_view(), _view()], OutputFormat.JSON, console)
    assert len(json.loads(console.export_text())) == 2


def test_a_piped_console_does_not_fold_tables(capsys) -> None:  # type: ignore[no-untyped-def]
    console = make_console()  # pytest captures stdout: not a terminal
    assert not console.is_terminal and console.width >= 200
    emit(_view(), OutputFormat.TABLE, console)
    lines = capsys.readouterr().out.splitlines()
    assert any("a very long protocol name, " * 4 in line for line in lines)


def test_paging_is_printed_under_the_table() -> None:
    view = View("Alerts", (Column("a", "a"),), [{"a": 1}, {"a": 2}], page=(20, 2, 45))
    console = Console(record=True, width=60)
    emit(view, OutputFormat.TABLE, console)
    assert "21–22 of 45" in console.export_text()
    assert view.as_dict()["page"] == {"offset": 20, "limit": 2, "total": 45}
