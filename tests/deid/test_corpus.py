"""OpenREM's public test files: de-identified under dose-monitoring, dose content intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from medcoop.deid import (
    Deidentified,
    Deidentifier,
    SiteKey,
    identifying_values,
    load_profile,
    verify_no_residuals,
)

pytestmark = pytest.mark.corpus
MAX_SIZE_BYTES = 100_000  # the few multi-megabyte files would take most of the test budget


def test_openrem_files_are_released_clean_with_their_dose_content(corpus_dir: Path) -> None:
    deid = Deidentifier(SiteKey(b"\x06" * 32), load_profile("dose-monitoring"))
    small = [p for p in sorted(corpus_dir.glob("*.dcm")) if p.stat().st_size < MAX_SIZE_BYTES]
    files = small[::2]  # every other one: all modalities, half the time
    assert len(files) >= 15
    released = 0
    for path in files:
        source = dcmread(path)
        values = identifying_values(source, include_institution=True)
        numbers_before = sum(1 for e in source.iterall() if e.tag == 0x0040A30A)  # NumericValue
        result = deid.deidentify(source)
        if not isinstance(result, Deidentified):
            continue
        released += 1
        out = result.dataset
        assert out.PatientIdentityRemoved == "YES"
        assert sum(1 for e in out.iterall() if e.tag == 0x0040A30A) == numbers_before, path.name
        retained = frozenset(
            str(out.get(k, "")) for k in ("Manufacturer", "ManufacturerModelName", "StationName")
        )
        hits = verify_no_residuals(values, result.payload, dates_retained=True, retained=retained)
        assert hits == [], (path.name, hits)
    assert released >= len(files) - 2
