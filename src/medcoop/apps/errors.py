"""The app runtime's errors: each carries the evidence a run record or an author needs."""

from __future__ import annotations

__all__ = ["AppError", "AppOutputError", "EntryPointError", "InvalidReportError"]


class AppError(Exception):
    """Base of the app runtime's errors."""


class EntryPointError(AppError):
    """An app's entry point cannot be loaded (malformed, missing module or callable)."""


class AppOutputError(AppError):
    """What an app wrote is missing, too large, malformed or outside its output folder."""


class InvalidReportError(AppError):
    """A DICOM SR an app built is not a valid report of the study it was given."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid SR: " + "; ".join(problems))
        self.problems = problems
