"""What goes into the log: canonical JSON consent and access entries, with a schema version.

No entry holds a name, an ID or a date of birth: a patient appears only as the pseudonym
the site's key derives, so erasing the key at the site erases the link to the person while
the log stays intact. Canonical JSON is sorted keys, no spaces, UTF-8, so an entry has one
byte form and its leaf hash can be recomputed by anyone.
"""

from __future__ import annotations

import json
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
_PSEUDONYM = re.compile(r"[0-9a-f]{16,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Decision(StrEnum):
    """A patient's choice for one use of their data."""

    PERMIT = "permit"
    DENY = "deny"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Period(_Frozen):
    """The days a decision applies to (``end`` open when absent)."""

    start: date
    end: date | None = None


class ConsentEntry(_Frozen):
    """A consent decision recorded at a site for one pseudonymous patient."""

    kind: Literal["consent"] = "consent"
    schema_version: Literal[1] = SCHEMA_VERSION
    site: str = Field(min_length=1, max_length=200)
    pseudonym: str
    pooling: Decision
    research: Decision
    purpose: str = Field(min_length=1, max_length=200)
    period: Period
    document_sha256: str | None = None
    recorded_by: str = Field(min_length=1, max_length=200)
    recorded_at: int = Field(ge=0, description="seconds since the epoch, UTC")

    @field_validator("pseudonym")
    @classmethod
    def _pseudonym_is_hex(cls, value: str) -> str:
        if not _PSEUDONYM.fullmatch(value):
            raise ValueError("a pseudonym is lower-case hex from the site key")
        return value

    @field_validator("document_sha256")
    @classmethod
    def _hash_is_hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.fullmatch(value):
            raise ValueError("document_sha256 is 64 lower-case hex digits")
        return value


class Aggregate(_Frozen):
    """An access that concerned many patients only through aggregates."""

    records: int = Field(ge=0)
    sites: int = Field(ge=0)


class AccessEntry(_Frozen):
    """A read of pooled data that concerns patients: who, for whom, why, and how much."""

    kind: Literal["access"] = "access"
    schema_version: Literal[1] = SCHEMA_VERSION
    who: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=200)
    scope: str = Field(min_length=1, max_length=500)
    pseudonyms: tuple[str, ...] = ()
    aggregate: Aggregate | None = None
    accessed_at: int = Field(ge=0, description="seconds since the epoch, UTC")

    @field_validator("pseudonyms")
    @classmethod
    def _pseudonyms_are_hex(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not _PSEUDONYM.fullmatch(p) for p in value):
            raise ValueError("pseudonyms are lower-case hex from a site key")
        return value


Entry = Annotated[ConsentEntry | AccessEntry, Field(discriminator="kind")]


class _Envelope(BaseModel):
    entry: Entry


def canonical_json(entry: ConsentEntry | AccessEntry) -> bytes:
    """Return the entry's one byte form: sorted keys, no whitespace, UTF-8."""
    data = entry.model_dump(mode="json", exclude_none=True)
    return _dumps(data)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_entry(raw: bytes) -> ConsentEntry | AccessEntry:
    """Parse a log entry; raise :class:`EntryError` unless it is canonical and valid."""
    try:
        data = json.loads(raw)
        entry = _Envelope.model_validate({"entry": data}).entry
    except (ValueError, ValidationError) as exc:
        raise EntryError(f"not a valid ledger entry: {exc}") from exc
    if canonical_json(entry) != raw:
        raise EntryError("entry is not in canonical JSON form")
    return entry
