"""What telephony connectors and the core tell each other about calls (part of the connector SDK).

``CallEvent``: a provider's call progress, as a webhook handler hands it to the core.
``CallUpdate``: what the core did to a voice interaction, as a connector carrying the call
follows it (``Core.call_updates()``). ``connectors.base`` re-exports all four.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol


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


class CallReports(Protocol):
    """What the core offers voice connectors (SIP, Twilio): calls start, change and end, and the
    live feed of what the core does to them. Part of ``connectors.base.Core``."""

    async def start_call(self, caller_kind: str, caller: str, call_id: str, name: str | None = None) -> str:
        """An answered inbound call becomes a queued voice interaction (call.ringing); its id."""
        ...

    async def call_answered(self, interaction_id: str, call_id: str, *, leg: str, agent_id: str | None) -> None:
        """A leg (``agent`` or ``customer``) answered: call.answered."""
        ...

    async def agent_missed(self, interaction_id: str, agent_id: str) -> None:
        """The agent's phone did not answer: the agent goes away, the call back to the queue."""
        ...

    async def call_dtmf(self, interaction_id: str, call_id: str, digits: str, *, leg: str,
                        direction: Literal["received", "sent"] = "received") -> None:
        """Keys pressed on a leg, or sent to it (``direction`` "sent"): call.dtmf."""
        ...

    async def call_hold(self, interaction_id: str, held: bool) -> None:
        """The agent's own phone held (or resumed) the call: the interaction follows."""
        ...

    async def call_transferred_out(self, interaction_id: str, call_id: str, to: str) -> None:
        """The caller now talks to ``to`` (a number): call.transferred; the agent goes to wrap-up."""
        ...

    async def call_transfer_failed(self, interaction_id: str, call_id: str, to: str, reason: str) -> None:
        """``to`` did not take the call; the agent still has the caller: call.transfer_failed."""
        ...

    async def call_party(self, interaction_id: str, call_id: str, party_id: str, state: str, *,
                         reason: str | None = None) -> None:
        """A party brought into the call (``call.command`` add_party) is ``connected`` or has ``left``."""
        ...

    async def call_taken_by_party(self, interaction_id: str, call_id: str, party_id: str) -> None:
        """Attended transfer done: the customer talks to that guest now and the agent has left. A
        colleague takes the interaction; a number or SIP URI takes the call out (the agent's part
        goes to wrap-up)."""
        ...

    async def call_recording(self, interaction_id: str, call_id: str, path: str, state: str) -> None:
        """A recording ``started``, ``paused`` (nothing is kept) or ``resumed``."""
        ...

    async def call_recorded(self, interaction_id: str, call_id: str, path: str, seconds: float,
                            paused: list[list[float]] | None = None) -> None:
        """A recording of the call is complete on disk: call.recorded."""
        ...

    async def call_ended(self, interaction_id: str, call_id: str, *, by: str, started_at: float,
                         outcome: str | None = None) -> None:
        """The call is over: call.ended; the interaction is abandoned or moves to wrap-up. ``outcome``
        says why an outbound call never connected: no_answer, busy, failed or agent_unreachable."""
        ...

    async def call_target(self, interaction_id: str) -> tuple[str, str] | None:
        """(kind, value) to dial for an outbound voice interaction (MakeCall)."""
        ...

    async def agent_endpoint(self, agent_id: str) -> str | None:
        """The agent's voice endpoint (a SIP URI or ``browser``)."""
        ...

    def call_updates(self) -> CallUpdates:
        """A live feed of what the core does to voice interactions (accepts, holds, commands...)."""
        ...
