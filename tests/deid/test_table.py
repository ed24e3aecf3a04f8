"""The packaged Table E.1-1 matches the shared PS3.15 2026c extract; actions resolve."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from medcoop.deid._generate import COLUMNS, generate
from medcoop.deid.profile import OPTION_COLUMNS, load_profile
from medcoop.deid.table import (
    COMBINED_CHOICE,
    DATA_DIR,
    compile_actions,
    load_rows,
    resolve,
    table_edition,
)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_packaged_table_matches_the_shared_source_row_for_row(reference_dir: Path) -> None:
    source = _read(reference_dir / "ps3.15-e1-1" / "table_e1_1.csv")
    packaged = _read(DATA_DIR / "table_e1_1.csv")
    assert len(packaged) == len(source) == 656
    for ours, theirs in zip(packaged, source, strict=True):
        assert ours == {column: theirs[column] for column in COLUMNS}


def test_generator_reproduces_the_packaged_files(reference_dir: Path, tmp_path: Path) -> None:
    assert generate(reference_dir / "ps3.15-e1-1", tmp_path) == 656
    for name in ("table_e1_1.csv", "table_e1_1.json"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes()


def test_edition_and_source_hash_are_recorded() -> None:
    meta = json.loads((DATA_DIR / "table_e1_1.json").read_text())
    assert table_edition() == "2026c"
    assert meta["source_sha256"].startswith("77d60b85")


def test_basic_profile_action_counts_match_the_standard() -> None:
    counts = Counter(row.basic for row in load_rows())
    assert counts == {
        "X": 416,
        "D": 93,
        "U": 55,
        "Z": 42,
        "X/D": 23,
        "X/Z": 11,
        "X/Z/D": 8,
        "Z/D": 6,
        "X/Z/U*": 2,
    }


@pytest.mark.parametrize("code", sorted(COMBINED_CHOICE))
def test_combined_codes_resolve_as_documented(code: str) -> None:
    basic = load_profile("basic")
    rows = [row for row in load_rows() if row.basic == code]
    assert rows
    assert {resolve(row, basic) for row in rows} == {COMBINED_CHOICE[code]}


@pytest.mark.parametrize("option", sorted(OPTION_COLUMNS))
def test_every_option_overrides_its_column(option: str) -> None:
    column = OPTION_COLUMNS[option]
    profile = load_profile("basic", overrides={option: True})
    table = compile_actions(profile)
    overridden = [row for row in load_rows() if row.options[column] and row.tag_id]
    assert overridden or option == "retain_safe_private"
    for row in overridden:
        if "x" in row.tag_id:
            continue
        action = table.by_tag[int(row.tag_id, 16)]
        others = {
            row.options[c]
            for o, c in OPTION_COLUMNS.items()
            if getattr(profile, o) and row.options[c]
        }
        assert action == ("C" if "C" in others else "K")


def test_clean_wins_over_keep_when_two_options_disagree() -> None:
    profile = load_profile(
        "basic", {"retain_device_identity": True, "retain_long_modified_dates": True}
    )
    calibration_date = 0x00181200  # Date of Last Calibration: device K, modified dates C
    assert compile_actions(profile).by_tag[calibration_date] == "C"
    only_device = load_profile("basic", {"retain_device_identity": True})
    assert compile_actions(only_device).by_tag[calibration_date] == "K"


def test_tag_families_and_private_rows() -> None:
    basic = compile_actions(load_profile("basic"))
    assert basic.action_for(0x50020010) == "X"
    assert basic.action_for(0x60023000) == "X"
    assert basic.action_for(0x60004000) == "X"
    assert basic.action_for(0x60000010) is None  # overlay rows: not listed, kept
    assert basic.private == "X"
    assert compile_actions(load_profile("dose-monitoring")).private == "C"
    graphics = compile_actions(load_profile("basic", {"clean_graphics": True}))
    assert graphics.action_for(0x60004000) == "C"
