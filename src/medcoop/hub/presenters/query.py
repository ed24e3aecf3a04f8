"""Query parsing shared by the analytics routers: times without a zone, peer narrowing."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware", "narrowing"]


def aware(value: datetime | None) -> datetime | None:
    """``value`` with a zone: a time given without one is read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def narrowing(**given: str | None) -> dict[str, str]:
    """The peer-narrowing filters actually given (``country="SE", site_type=None`` → one)."""
    return {name: value for name, value in given.items() if value}
