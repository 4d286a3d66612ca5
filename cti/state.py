"""The interaction state machine: one table, every channel.

    created -> queued -> offered -> active <-> held
                           |          |
                (reject/timeout)      v
                   -> queued       wrapup -> ended
    queued|offered -> abandoned (the customer left)
    active|held -> queued (transfer to a queue) or offered (transfer to an agent)
    active|held -> active (hand over: an attended transfer to the colleague already on the call)

For a call ``active`` is bridged audio and ``held`` is on hold; for written channels
``active`` is an agent working it and ``held`` is waiting for the customer. Each row of
TRANSITIONS is (command, from-state) -> (to-state, event type): every accepted command moves
exactly one interaction and emits exactly one event. Anything not in the table is refused.
"""

from __future__ import annotations

from enum import StrEnum

from cti.errors import Conflict
from cti.events import EventType


class State(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    HELD = "held"
    WRAPUP = "wrapup"
    ENDED = "ended"
    ABANDONED = "abandoned"


class Command(StrEnum):
    ENQUEUE = "enqueue"
    ASSIGN = "assign"  # an agent starts an outbound interaction: it is theirs at once
    OFFER = "offer"
    ACCEPT = "accept"
    REJECT = "reject"
    OFFER_TIMEOUT = "offer_timeout"
    HOLD = "hold"
    RESUME = "resume"
    TRANSFER_TO_QUEUE = "transfer_to_queue"
    TRANSFER_TO_AGENT = "transfer_to_agent"
    HAND_OVER = "hand_over"  # attended transfer: the consulted agent already talks to the customer
    END = "end"
    WRAPUP = "wrapup"
    ABANDON = "abandon"


S, C, E = State, Command, EventType

TRANSITIONS: dict[tuple[Command, State], tuple[State, EventType]] = {
    (C.ENQUEUE, S.CREATED): (S.QUEUED, E.INTERACTION_QUEUED),
    (C.ASSIGN, S.CREATED): (S.ACTIVE, E.INTERACTION_ACCEPTED),
    (C.OFFER, S.QUEUED): (S.OFFERED, E.INTERACTION_OFFERED),
    (C.ACCEPT, S.OFFERED): (S.ACTIVE, E.INTERACTION_ACCEPTED),
    (C.REJECT, S.OFFERED): (S.QUEUED, E.INTERACTION_REJECTED),
    (C.OFFER_TIMEOUT, S.OFFERED): (S.QUEUED, E.INTERACTION_REJECTED),
    (C.HOLD, S.ACTIVE): (S.HELD, E.INTERACTION_HELD),
    (C.RESUME, S.HELD): (S.ACTIVE, E.INTERACTION_RESUMED),
    (C.TRANSFER_TO_QUEUE, S.ACTIVE): (S.QUEUED, E.INTERACTION_TRANSFERRED),
    (C.TRANSFER_TO_QUEUE, S.HELD): (S.QUEUED, E.INTERACTION_TRANSFERRED),
    (C.TRANSFER_TO_AGENT, S.ACTIVE): (S.OFFERED, E.INTERACTION_TRANSFERRED),
    (C.TRANSFER_TO_AGENT, S.HELD): (S.OFFERED, E.INTERACTION_TRANSFERRED),
    (C.HAND_OVER, S.ACTIVE): (S.ACTIVE, E.INTERACTION_TRANSFERRED),
    (C.HAND_OVER, S.HELD): (S.ACTIVE, E.INTERACTION_TRANSFERRED),
    (C.END, S.ACTIVE): (S.WRAPUP, E.INTERACTION_WRAPUP),
    (C.END, S.HELD): (S.WRAPUP, E.INTERACTION_WRAPUP),
    (C.WRAPUP, S.WRAPUP): (S.ENDED, E.INTERACTION_ENDED),
    (C.ABANDON, S.QUEUED): (S.ABANDONED, E.INTERACTION_ABANDONED),
    (C.ABANDON, S.OFFERED): (S.ABANDONED, E.INTERACTION_ABANDONED),
}

TERMINAL_STATES = frozenset({State.ENDED, State.ABANDONED})
# States in which an interaction occupies an agent's capacity.
OCCUPYING_STATES = frozenset({State.OFFERED, State.ACTIVE, State.HELD, State.WRAPUP})


def transition(command: Command, current: State | str) -> tuple[State, EventType]:
    """Return (next state, event type) or raise Conflict(invalid_transition)."""
    row = TRANSITIONS.get((command, State(current)))
    if row is None:
        raise Conflict(
            f"cannot {command.value} an interaction that is {State(current).value}",
            code="invalid_transition",
            details={"command": command.value, "state": State(current).value},
        )
    return row


def allowed_commands(current: State | str) -> list[Command]:
    """Commands the table accepts from this state (for clients and docs)."""
    state = State(current)
    return [command for (command, source) in TRANSITIONS if source == state]
