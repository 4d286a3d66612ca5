"""What telephony connectors and the core tell each other about calls (part of the connector SDK).

``CallEvent``: a provider's call progress, as a webhook handler hands it to the core.
``CallUpdate``: what the core did to a voice interaction, as a connector carrying the call
follows it (``Core.call_updates()``). ``connectors.base`` re-exports all four.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True)
class CallEvent:
    """A telephony provider's call progress, as a webhook handler hands it to the core.

    ``kind``: ``incoming`` (a new inbound call, answered by the provider: queue it), ``answered``
    (a leg picked up), ``ended`` (the call is over; ``outcome`` says why one that never
    connected ended: no_answer, busy, failed), ``agent_missed`` (the agent's leg did not answer).
    ``interaction_id`` is given when the provider echoes ours (outbound calls)."""

    call_id: str
    kind: str
    caller: str = ""
    name: str | None = None
    leg: str = "customer"
    interaction_id: str | None = None
    agent_id: str | None = None
    outcome: str | None = None
    duration: float | None = None


class CallUpdateKind(StrEnum):
    """What the core did to a call a telephony connector carries (the catalogue's event names)."""

    ACCEPTED = "interaction.accepted"  # an agent took it: ring her
    TRANSFERRED = "interaction.transferred"  # to a queue or another agent: release the agent's leg
    HELD = "interaction.held"
    RESUMED = "interaction.resumed"
    WRAPUP = "interaction.wrapup"  # the agent ended it: hang up
    ENDED = "interaction.ended"
    ABANDONED = "interaction.abandoned"
    COMMAND = "call.command"  # an API request on the call (DTMF, transfer to a number): ``data`` says which


@dataclass(frozen=True)
class CallUpdate:
    """One change the core made to a voice interaction, as a telephony connector follows it.
    ``data`` is the event's data (``interaction`` for the interaction.* kinds; ``action`` and its
    arguments for a command)."""

    kind: CallUpdateKind
    interaction_id: str
    agent_id: str | None
    data: dict[str, Any]


class CallUpdates(Protocol):
    """A live feed of call updates (``async for update in updates``); ``close()`` when done."""

    def __aiter__(self) -> AsyncIterator[CallUpdate]: ...

    def close(self) -> None: ...
