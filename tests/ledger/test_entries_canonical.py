"""The fast parse path of entries: pydantic's compact dump is the canonical form."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from medcoop.ledger.entries import (
    AccessEntry,
    Aggregate,
    ConsentEntry,
    Decision,
    Period,
    canonical_json,
    parse_entry,
)

TEXT = st.text(min_size=1, max_size=40)  # any Unicode: escapes must agree too
HEX = st.text(alphabet="0123456789abcdef", min_size=16, max_size=64)


@settings(max_examples=200, deadline=None)
@given(site=TEXT, purpose=TEXT, who=TEXT, pseudonym=HEX, records=st.integers(0, 10**9),
       end=st.none() | st.dates(), deny=st.booleans())
def test_pydantic_dump_equals_the_canonical_form(
    site: str, purpose: str, who: str, pseudonym: str, records: int, end: object, deny: bool
) -> None:
    decision = Decision.DENY if deny else Decision.PERMIT
    consent = ConsentEntry(site=site, pseudonym=pseudonym, pooling=decision, research=decision,
                           purpose=purpose, period=Period(start="2026-01-01", end=end),
                           recorded_by=who, recorded_at=records)
    access = AccessEntry(who=who, organisation=site, purpose=purpose, scope=purpose,
                         pseudonyms=(pseudonym,), aggregate=Aggregate(records=records, sites=1),
                         accessed_at=records)
    for entry in (consent, access):
        raw = canonical_json(entry)
        assert entry.model_dump_json(exclude_none=True).encode() == raw
        assert parse_entry(raw) == entry
        # the same content, keys unsorted: valid for pydantic, refused as not canonical
        data = entry.model_dump(mode="json", exclude_none=True)
        reordered = json.dumps(dict(reversed(list(data.items()))), separators=(",", ":"),
                               ensure_ascii=False).encode()
        spaced = raw.replace(b'":', b'": ', 1)
        for other in (spaced, reordered):
            try:
                parse_entry(other)
            except Exception as exc:  # EntryError
                assert "canonical" in str(exc) or "valid" in str(exc)
            else:
                raise AssertionError(f"non-canonical entry accepted: {other[:60]!r}")
