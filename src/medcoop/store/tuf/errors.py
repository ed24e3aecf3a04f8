"""The supply chain's errors: each carries the evidence a person needs to act on it."""

from __future__ import annotations

__all__ = [
    "KeyFileError",
    "PublishRefusedError",
    "RepositoryError",
    "SupplyChainError",
]


class SupplyChainError(Exception):
    """Base class of the store's TUF errors."""


class KeyFileError(SupplyChainError):
    """A key file is missing, unreadable, of the wrong kind or would be overwritten."""


class RepositoryError(SupplyChainError):
    """The hub's TUF repository is missing, inconsistent, or an operator step failed."""


class PublishRefusedError(SupplyChainError):
    """The hub refused an upload; ``reasons`` lists every failed check, in order."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("publish refused: " + "; ".join(reasons))
        self.reasons = reasons
