"""Keyed pseudonyms, UID remapping and date shifts (``deid/pseudonym.py``)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from medcoop.deid.pseudonym import SiteKey, load_or_create_key


def test_key_file_is_created_private_and_reloaded_identically(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "site.key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == first
    assert repr(first) == "SiteKey(<secret>)"
    assert first.secret.hex() not in repr(first)


def test_bad_key_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("not hex\n")
    (tmp_path / "short").write_text("00ff\n")
    with pytest.raises(ValueError, match="hex"):
        load_or_create_key(tmp_path / "bad")
    with pytest.raises(ValueError, match="shorter"):
        load_or_create_key(tmp_path / "short")


def test_pseudonyms_are_keyed_and_stable() -> None:
    key, other = SiteKey(b"\x01" * 32), SiteKey(b"\x02" * 32)
    assert key.patient_pseudonym("MRN1") == key.patient_pseudonym(" MRN1 ")
    assert key.patient_pseudonym("MRN1") != other.patient_pseudonym("MRN1")
    assert key.patient_pseudonym("MRN1", "A") != key.patient_pseudonym("MRN1", "B")
    assert re.fullmatch(r"[0-9a-f]{64}", key.patient_pseudonym("MRN1"))


def test_remapped_uids_are_valid_2_25_uids() -> None:
    key = SiteKey(b"\x01" * 32)
    uid = key.remap_uid("1.2.3.4")
    assert uid == key.remap_uid("1.2.3.4\x00")
    assert re.fullmatch(r"2\.25\.[0-9]{1,39}", uid) and len(uid) <= 64
    assert uid != key.remap_uid("1.2.3.5")


def test_date_shifts_are_per_patient_and_within_a_year() -> None:
    key = SiteKey(b"\x01" * 32)
    shifts = {key.date_shift_days(key.patient_pseudonym(f"P{i}")) for i in range(200)}
    assert all(-365 <= s <= -1 for s in shifts) and len(shifts) > 100
