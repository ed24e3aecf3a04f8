"""The fast dataset builder makes exactly what pydicom's own constructors make."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from medcoop.sim import Fleet, _build
from medcoop.sim._build import SrWriter, fmt_ds, new, put
from medcoop.sim.codes import MEAN_CTDIVOL


def test_fast_path_is_active_with_the_installed_pydicom() -> None:
    assert _build._FAST, "pydicom's object layout changed; the fleet fell back to slow builds"


def test_fast_and_plain_builds_give_equal_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [list(ds) for s in Fleet(seed=3).studies(30) for ds in s.datasets]
    monkeypatch.setattr(_build, "_FAST", False)
    plain = [list(ds) for s in Fleet(seed=3).studies(30) for ds in s.datasets]
    assert fast == plain


def test_built_objects_do_not_share_state() -> None:
    first, second = _build.dataset(), _build.dataset()
    put(first, "PatientID", "A1")
    first.private_block(0x0029, "TEST", create=True).add_new(0x10, "LO", "x")
    assert "PatientID" not in second
    assert not any(element.tag.is_private for element in second)


def test_values_get_pydicom_types() -> None:
    ds = new(PatientName="Müller^Zoë", PatientWeight="70.5", SeriesNumber=3, CTDIvol="12.5")
    assert str(ds.PatientName.family_name) == "Müller"
    assert float(ds.PatientWeight) == 70.5 and ds.SeriesNumber == 3
    assert isinstance(ds.CTDIvol, float)
    with pytest.raises(KeyError, match="NotAKeyword"):
        put(Dataset(), "NotAKeyword", "x")


@pytest.mark.parametrize(
    ("value", "text"), [(12.0, "12"), (0.000123, "0.000123"), (1 / 3, "0.3333333333")]
)
def test_decimal_strings_fit_and_round_trip(value: float, text: str) -> None:
    assert fmt_ds(value) == text
    assert len(fmt_ds(value * 1e-12)) <= 16


def test_writer_spells_concepts_in_the_vendor_case() -> None:
    item = SrWriter("upper").num("CONTAINS", MEAN_CTDIVOL, 12.5, "mGy")
    concept = item.ConceptNameCodeSequence[0]
    assert (concept.CodeValue, concept.CodeMeaning) == ("113830", "MEAN CTDIVOL")
    measured = item.MeasuredValueSequence[0]
    assert measured.MeasurementUnitsCodeSequence[0].CodeValue == "mGy"
    assert float(measured.NumericValue) == 12.5
