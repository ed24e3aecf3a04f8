"""The adversarial corpus: zero identifiers out, references resolve, one pseudonym each."""

from __future__ import annotations

from io import BytesIO

import pytest

from medcoop.deid import Deidentified, Deidentifier, PixelRule, SiteKey, Withheld, load_profile
from tests.common.adversarial import adversarial_corpus, find_leaks

KEY = SiteKey(b"\x04" * 32)
RULE = PixelRule("ACME Medical", "Mobile DR 7", 8, 8, ((0, 0, 8, 2),))


@pytest.mark.parametrize("profile", ["basic", "dose-monitoring", "research-longitudinal"])
def test_no_planted_identifier_comes_out(profile: str) -> None:
    deid = Deidentifier(KEY, load_profile(profile, {"pixel_rules": [RULE]}))
    released = 0
    pseudonyms: dict[str, set[str]] = {}
    for case in adversarial_corpus(patients=8):
        result = deid.deidentify(case.dataset)
        if case.expect_withheld:
            assert isinstance(result, Withheld), case.name
            continue
        assert isinstance(result, Deidentified), (case.name, getattr(result, "reason", ""))
        pixels = result.dataset.get("PixelData", b"")
        payload = result.payload.replace(pixels, b"") if pixels else result.payload
        assert find_leaks(payload, case.patient.tokens) == set(), case.name
        pseudonyms.setdefault(case.patient.patient_id, set()).add(result.pseudonym)
        released += 1
    # Every object without rendered identity comes out: CT, RDSR, free-text CT, cleaned DX.
    assert released == 8 * 4
    assert all(len(found) == 1 for found in pseudonyms.values())
    assert len({next(iter(found)) for found in pseudonyms.values()}) == 8


def test_the_corpus_covers_every_character_set_and_class() -> None:
    cases = adversarial_corpus(patients=16)
    assert {c.patient.charset for c in cases} >= {
        "ISO_IR 100",
        "ISO_IR 192",
        "\\ISO 2022 IR 87",
        "GB18030",
    }
    kinds = {c.name.split("-", 1)[1] for c in cases}
    assert kinds == {"ct", "rdsr", "sc", "dx", "text", "screen", "us", "vl", "pdf"}
    text = next(c for c in cases if c.name == "p1-text")
    assert len(text.patient.extra) == 6  # relative, e-mail, three national IDs, reformatted ID


def test_withholding_reasons_name_the_kind_never_a_value() -> None:
    deid = Deidentifier(KEY)
    for case in adversarial_corpus(patients=4):
        result = deid.deidentify(case.dataset)
        if isinstance(result, Withheld):
            assert find_leaks(result.reason.encode(), case.patient.tokens) == set()
            assert any(word in result.reason for word in ("capture", "screen", "ultrasound",
                       "visible-light", "document", "burned-in")), result.reason


def test_leak_check_itself_finds_planted_tokens() -> None:
    case = adversarial_corpus(patients=1)[0]
    raw = case.dataset.copy()
    raw.PixelData = b""
    buffer = BytesIO()
    raw.save_as(buffer, enforce_file_format=True)
    leaks = find_leaks(buffer.getvalue(), case.patient.tokens)
    assert case.patient.family in leaks and case.patient.patient_id in leaks
