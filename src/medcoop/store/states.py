"""The store's commerce state machines, as data: which action moves what, and who may.

Each machine maps ``(state, action)`` to a :class:`Move`: the state it leads to and the
sides that may take it (``customer``: the hospital; ``vendor``; ``system``: the
platform's own clock and rules, e.g. an expiry or an automatic approval).
:func:`next_state` is the one check every service function makes before it changes a
state; anything not in the table is refused.

- trial: requested → approved (vendor, or system when the offer approves automatically)
  | declined (vendor) | cancelled (customer); approved → expired (system: time or study
  cap) | converted (customer: an order of the same listing);
- quote: requested → quoted (vendor: price, terms, validity) | refused (vendor);
  quoted → accepted (customer: becomes an order) | declined (customer) | expired (system);
- order: active → cancelled (customer) | ended (system: a subscription's period is over);
- entitlement: active → expired (system) | converted (system: its trial became an order)
  | revoked (system: its order was cancelled);
- service: inquiry → scoping_call (vendor) → proposal (vendor) → agreement (customer)
  → delivery (vendor) → completed (customer); declined by either side before agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "INITIAL",
    "MACHINES",
    "Move",
    "Side",
    "TransitionRefused",
    "actions_of",
    "next_state",
    "states_of",
]

Side = Literal["customer", "vendor", "system"]


@dataclass(frozen=True, slots=True)
class Move:
    """Where an action leads, and who may take it."""

    to: str
    by: frozenset[Side]


def _m(to: str, *by: Side) -> Move:
    return Move(to, frozenset(by))


MACHINES: Final[dict[str, dict[tuple[str, str], Move]]] = {
    "trial": {
        ("requested", "approve"): _m("approved", "vendor", "system"),
        ("requested", "decline"): _m("declined", "vendor"),
        ("requested", "cancel"): _m("cancelled", "customer"),
        ("approved", "expire"): _m("expired", "system"),
        ("approved", "convert"): _m("converted", "customer"),
    },
    "quote": {
        ("requested", "quote"): _m("quoted", "vendor"),
        ("requested", "refuse"): _m("refused", "vendor"),
        ("quoted", "accept"): _m("accepted", "customer"),
        ("quoted", "decline"): _m("declined", "customer"),
        ("quoted", "expire"): _m("expired", "system"),
    },
    "order": {
        ("active", "cancel"): _m("cancelled", "customer"),
        ("active", "end"): _m("ended", "system"),
    },
    "entitlement": {
        ("active", "expire"): _m("expired", "system"),
        ("active", "convert"): _m("converted", "system"),
        ("active", "revoke"): _m("revoked", "system"),
    },
    "service": {
        ("inquiry", "schedule_call"): _m("scoping_call", "vendor"),
        ("scoping_call", "propose"): _m("proposal", "vendor"),
        ("proposal", "agree"): _m("agreement", "customer"),
        ("agreement", "deliver"): _m("delivery", "vendor"),
        ("delivery", "complete"): _m("completed", "customer"),
        ("inquiry", "decline"): _m("declined", "customer", "vendor"),
        ("scoping_call", "decline"): _m("declined", "customer", "vendor"),
        ("proposal", "decline"): _m("declined", "customer", "vendor"),
    },
}

#: The state each kind of object starts in.
INITIAL: Final[dict[str, str]] = {
    "trial": "requested",
    "quote": "requested",
    "order": "active",
    "entitlement": "active",
    "service": "inquiry",
}


class TransitionRefused(Exception):
    """``action`` is not allowed on a ``subject`` in ``state`` (by ``side``)."""

    def __init__(self, subject: str, state: str, action: str, side: Side, *, wrong_side: bool):
        self.subject, self.state, self.action, self.side = subject, state, action, side
        self.wrong_side = wrong_side
        why = f"the {side} may not" if wrong_side else "nobody may"
        super().__init__(f"{why} {action} a {subject} that is {state}")


def states_of(subject: str) -> set[str]:
    """Every state of a machine."""
    machine = MACHINES[subject]
    return {s for s, _a in machine} | {m.to for m in machine.values()}


def actions_of(subject: str) -> set[str]:
    """Every action of a machine."""
    return {a for _s, a in MACHINES[subject]}


def next_state(subject: str, state: str, action: str, side: Side) -> str:
    """The state ``action`` by ``side`` leads to from ``state``; else raise
    :class:`TransitionRefused` (``wrong_side`` tells a forbidden actor from a forbidden
    move)."""
    move = MACHINES[subject].get((state, action))
    if move is None:
        raise TransitionRefused(subject, state, action, side, wrong_side=False)
    if side not in move.by:
        raise TransitionRefused(subject, state, action, side, wrong_side=True)
    return move.to
