"""The store's domain errors, each with its HTTP meaning and the evidence it carries."""

from __future__ import annotations

from collections.abc import Sequence

from medcoop.hub.errors import ConflictError, InvalidRecordError, PermissionDeniedError
from medcoop.store.manifest import ManifestProblem

__all__ = [
    "ManifestRefusedError",
    "RunRefusedError",
    "TransitionError",
    "VendorNotApprovedError",
]


class ManifestRefusedError(InvalidRecordError):
    """A manifest (or service description) was refused at publish: every problem, with
    its location, is the response's ``detail``."""

    def __init__(self, problems: Sequence[ManifestProblem]) -> None:
        super().__init__([{"location": p.location, "message": p.message} for p in problems])
        self.problems = tuple(problems)


class TransitionError(ConflictError):
    """An action that the object's state does not allow (``subject`` in ``state``)."""

    def __init__(self, subject: str, state: str, action: str) -> None:
        super().__init__(f"a {subject} that is {state} cannot be {action}")
        self.subject = subject
        self.state = state
        self.action = action


class VendorNotApprovedError(PermissionDeniedError):
    """The organisation is not (or no longer) an approved vendor of the store."""

    def __init__(self, why: str = "this organisation is not an approved store vendor") -> None:
        super().__init__(why)


class RunRefusedError(ConflictError):
    """Usage was recorded against an entitlement that does not allow a run (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no run allowed: {reason}")
        self.reason = reason
