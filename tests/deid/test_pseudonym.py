"""Keyed pseudonyms, UID remapping and date shifts (``deid/pseudonym.py``)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from pydicom import Dataset

from medcoop.deid import Deidentified, Deidentifier
from medcoop.deid.pseudonym import SiteKey, load_or_create_key
from tests.common.adversarial import adversarial_corpus


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


def _object(patient_id: str, issuer: str | None) -> Dataset:
    ds = adversarial_corpus(patients=1)[1].dataset  # an RDSR
    ds.PatientID = patient_id
    if issuer is None:
        del ds.IssuerOfPatientID
    else:
        ds.IssuerOfPatientID = issuer
    return ds


def _pseudonym_of(key: SiteKey, ds: Dataset) -> str:
    result = Deidentifier(key).deidentify(ds)
    assert isinstance(result, Deidentified), result
    return result.pseudonym


def test_a_report_without_issuer_joins_its_images_under_the_site_default_issuer() -> None:
    key = SiteKey(b"\x01" * 32, default_issuer="RIS-A")
    with_issuer = _pseudonym_of(key, _object("4471902", "RIS-A"))
    assert _pseudonym_of(key, _object("4471902", None)) == with_issuer
    assert _pseudonym_of(key, _object("4471902", "")) == with_issuer
    # Without a configured default the two stay apart (no guess is made).
    plain = SiteKey(b"\x01" * 32)
    assert _pseudonym_of(plain, _object("4471902", None)) != _pseudonym_of(
        plain, _object("4471902", "RIS-A")
    )


def test_the_same_id_at_two_issuers_is_two_patients() -> None:
    key = SiteKey(b"\x01" * 32, default_issuer="RIS-A")
    first = _pseudonym_of(key, _object("4471902", "RIS-A"))
    second = _pseudonym_of(key, _object("4471902", "OTHER-HOSPITAL"))
    assert first != second
    assert key.patient_pseudonym("4471902", "OTHER-HOSPITAL") == second


def test_the_key_file_carries_the_default_issuer(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "site.key", default_issuer="RIS-A")
    assert key.patient_pseudonym("42", "") == key.patient_pseudonym("42", "RIS-A")
