"""Synthetic ledger entries for tests (pseudonyms are numbers, never patient data)."""

from __future__ import annotations

from medcoop.ledger.entries import ConsentEntry, Decision, Period


def consent(n: int, *, site: str = "site-a", decision: Decision = Decision.DENY) -> ConsentEntry:
    """Return the n-th synthetic consent decision."""
    return ConsentEntry(
        site=site,
        pseudonym=f"{n:032x}",
        pooling=decision,
        research=Decision.DENY,
        purpose="dose benchmarking",
        period=Period(start="2026-01-01"),
        document_sha256="ab" * 32,
        recorded_by="registrar-7",
        recorded_at=1_780_000_000,
    )
