"""The edge node's domain errors: each carries the evidence an operator needs, never a patient's."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EdgeError",
    "EnrollmentError",
    "StorageFullError",
]


class EdgeError(Exception):
    """Base class of the edge node's errors."""


class ConfigError(EdgeError):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class EnrollmentError(EdgeError):
    """The hub could not be reached or refused the enrollment code."""


class StorageFullError(EdgeError):
    """The edge's storage is below its free-space floor or the disk is full."""

    def __init__(self, path: str, free_bytes: int | None, floor_bytes: int) -> None:
        free = "unknown" if free_bytes is None else f"{free_bytes} bytes"
        super().__init__(
            f"storage at {path} is full (free: {free}, floor: {floor_bytes} bytes): "
            "refusing new objects until space is freed"
        )
        self.path = path
        self.free_bytes = free_bytes
        self.floor_bytes = floor_bytes
