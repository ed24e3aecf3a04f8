"""The commerce state machines: every allowed move, and every forbidden one, refused."""

from __future__ import annotations

import itertools

import pytest

from medcoop.store.states import (
    INITIAL,
    MACHINES,
    TransitionRefused,
    actions_of,
    next_state,
    states_of,
)

SIDES = ("customer", "vendor", "system")

ALL_MOVES = [
    (subject, state, action, side)
    for subject in MACHINES
    for state, action, side in itertools.product(
        sorted(states_of(subject)), sorted(actions_of(subject)), SIDES
    )
]


@pytest.mark.parametrize(("subject", "state", "action", "side"), ALL_MOVES)
def test_every_move(subject: str, state: str, action: str, side: str) -> None:
    move = MACHINES[subject].get((state, action))
    if move is not None and side in move.by:
        assert next_state(subject, state, action, side) == move.to  # type: ignore[arg-type]
        return
    with pytest.raises(TransitionRefused) as refused:
        next_state(subject, state, action, side)  # type: ignore[arg-type]
    assert refused.value.wrong_side is (move is not None)


def test_paths_named_by_the_issue() -> None:
    def walk(subject: str, *steps: tuple[str, str]) -> list[str]:
        state, seen = INITIAL[subject], [INITIAL[subject]]
        for action, side in steps:
            state = next_state(subject, state, action, side)  # type: ignore[arg-type]
            seen.append(state)
        return seen

    assert walk("trial", ("approve", "system"), ("expire", "system")) == [
        "requested",
        "approved",
        "expired",
    ]
    assert walk("trial", ("approve", "vendor"), ("convert", "customer"))[-1] == "converted"
    assert walk("quote", ("quote", "vendor"), ("accept", "customer"))[-1] == "accepted"
    assert walk("quote", ("quote", "vendor"), ("expire", "system"))[-1] == "expired"
    assert walk(
        "service",
        ("schedule_call", "vendor"),
        ("propose", "vendor"),
        ("agree", "customer"),
        ("deliver", "vendor"),
        ("complete", "customer"),
    ) == ["inquiry", "scoping_call", "proposal", "agreement", "delivery", "completed"]


def test_final_states_have_no_way_out() -> None:
    for subject, machine in MACHINES.items():
        sources = {state for state, _ in machine}
        for final in states_of(subject) - sources:
            for action in actions_of(subject):
                with pytest.raises(TransitionRefused):
                    next_state(subject, final, action, "system")
