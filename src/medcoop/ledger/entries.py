"""What goes into the log: canonical JSON consent and access entries, with a schema version.

No entry holds a name, an ID or a date of birth: a patient appears only as the pseudonym
the site's key derives, so erasing the key at the site erases the link to the person while
the log stays intact. Canonical JSON is sorted keys, no spaces, UTF-8, so an entry has one
byte form and its leaf hash can be recomputed by anyone.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from medcoop.ledger.errors import EntryError

__all__ = [
    "SCHEMA_VERSION",
    "AccessEntry",
    "Aggregate",
    "ConsentEntry",
    "Decision",
    "Entry",
    "Period",
    "canonical_json",
    "parse_entry",
]

SCHEMA_VERSION = 1
#: A patient's pseudonym: lower-case hex from a site key.
Pseudonym = Annotated[str, Field(pattern=r"^[0-9a-f]{16,128}$")]
#: A document's SHA-256: 64 lower-case hex digits.
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Decision(StrEnum):
    """A patient's choice for one use of their data."""

    PERMIT = "permit"
    DENY = "deny"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Frozen):
    """The days a decision applies to (``end`` open when absent)."""

    # fields in sorted order (as in every entry model): pydantic's own compact dump is
    # then the canonical form, and parse_entry can check it without a second encoder
    end: date | None = None
    start: date


class ConsentEntry(_Frozen):
    """A consent decision recorded at a site for one pseudonymous patient."""

    # the patterns are checked by pydantic-core (no Python call per entry)
    document_sha256: Sha256 | None = None
    kind: Literal["consent"] = "consent"
    period: Period
    pooling: Decision
    pseudonym: Pseudonym
    purpose: str = Field(min_length=1, max_length=200)
    recorded_at: int = Field(ge=0, description="seconds since the epoch, UTC")
    recorded_by: str = Field(min_length=1, max_length=200)
    research: Decision
    schema_version: Literal[1] = SCHEMA_VERSION  # type: ignore[assignment]
    site: str = Field(min_length=1, max_length=200)



class Aggregate(_Frozen):
    """An access that concerned many patients only through aggregates."""

    records: int = Field(ge=0)
    sites: int = Field(ge=0)


class AccessEntry(_Frozen):
    """A read of pooled data that concerns patients: who, for whom, why, and how much."""

    accessed_at: int = Field(ge=0, description="seconds since the epoch, UTC")
    aggregate: Aggregate | None = None
    kind: Literal["access"] = "access"
    organisation: str = Field(min_length=1, max_length=200)
    pseudonyms: tuple[Pseudonym, ...] = ()
    purpose: str = Field(min_length=1, max_length=200)
    schema_version: Literal[1] = SCHEMA_VERSION  # type: ignore[assignment]
    scope: str = Field(min_length=1, max_length=500)
    who: str = Field(min_length=1, max_length=200)


Entry = Annotated[ConsentEntry | AccessEntry, Field(discriminator="kind")]


class _Envelope(BaseModel):
    entry: Entry


_ENTRY: TypeAdapter[ConsentEntry | AccessEntry] = TypeAdapter(Entry)


def canonical_json(entry: ConsentEntry | AccessEntry) -> bytes:
    """Return the entry's one byte form: sorted keys, no whitespace, UTF-8."""
    data = entry.model_dump(mode="json", exclude_none=True)
    return _dumps(data)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_entry(raw: bytes) -> ConsentEntry | AccessEntry:
    """Parse a log entry; raise :class:`EntryError` unless it is canonical and valid."""
    # Fast path (the sequencer's hot loop): pydantic parses and validates the bytes, and
    # its compact dump of sorted fields is the canonical form, so equal bytes prove it.
    # Anything else takes the exact path below, which decides.
    try:
        fast = _ENTRY.validate_json(raw)
    except ValidationError:
        fast = None
    if fast is not None and fast.model_dump_json(exclude_none=True).encode() == raw:
        return fast
    try:
        data = json.loads(raw)
        entry = _Envelope.model_validate({"entry": data}).entry
    except (ValueError, ValidationError) as exc:
        raise EntryError(f"not a valid ledger entry: {exc}") from exc
    if canonical_json(entry) != raw:
        raise EntryError("entry is not in canonical JSON form")
    return entry
