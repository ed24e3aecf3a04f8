"""Errors of the edge's app installs; each names what went wrong in words a person can act on."""

from __future__ import annotations

__all__ = ["AppInstallError", "AppNotEntitledError", "AppRefusedError", "NotInstalledError"]


class AppInstallError(Exception):
    """An app could not be installed, upgraded or removed (nothing was changed)."""


class NotInstalledError(AppInstallError):
    """The app is not installed on this edge."""


class AppNotEntitledError(AppInstallError):
    """The hub says this site holds no (or no longer a) entitlement to the app."""


class AppRefusedError(AppInstallError):
    """A package failed verification and was refused.

    ``code`` is one of ``rollback``, ``frozen``, ``bad-signature``, ``not-delegated``,
    ``hash-or-length``, ``mismatch`` (signed facts disagree) or ``repository``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"package refused ({code}): {message}")
        self.code = code
        self.message = message
