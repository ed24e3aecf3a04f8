"""The hub's domain errors; :mod:`medcoop.hub.api.errors` maps each to one HTTP answer.

Services raise these and never build HTTP responses; each error carries its evidence.
Messages never contain identifying values or secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "GoneError",
    "HubError",
    "InvalidRecordError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
]


class HubError(Exception):
    """Base of every hub domain error; ``status_code`` is its HTTP meaning."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AuthenticationError(HubError):
    """No valid credential: unknown, expired or revoked token, wrong password."""

    status_code = 401


class PermissionDeniedError(HubError):
    """Authenticated, but the principal's roles do not allow the action."""

    status_code = 403


class NotFoundError(HubError):
    """No such object in the caller's tenant (other tenants' objects look the same)."""

    status_code = 404

    def __init__(self, kind: str, object_id: object) -> None:
        super().__init__(f"{kind} {object_id} not found")
        self.kind = kind
        self.object_id = object_id


class ConflictError(HubError):
    """The object already exists (e.g. an e-mail address or a site name)."""

    status_code = 409


class GoneError(HubError):
    """A one-time secret (enrollment code, invitation) was already used or has expired."""

    status_code = 410


class PayloadTooLargeError(HubError):
    """A request body or batch exceeds the configured limits."""

    status_code = 413


class InvalidRecordError(HubError):
    """A batch failed validation; ``record_index`` names the bad record when there is one."""

    status_code = 422

    def __init__(self, detail: object, record_index: int | None = None) -> None:
        super().__init__(str(detail))
        self.errors = detail
        self.record_index = record_index


class RateLimitedError(HubError):
    """Too many requests; try again after ``retry_after_s`` seconds."""

    status_code = 429

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s
