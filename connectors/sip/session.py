"""One call the SIP connector carries: its legs, its media (``bridge.py``) and its transfer state."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.sip.bridge import CallBridge
from connectors.sip.call import OutgoingCall
from connectors.sip.incoming import IncomingCall


class CallLeg(Protocol):
    """What the desk needs of a leg: a SIP call, or a browser or Twilio stream (softphone_bridge)."""

    call_id: str
    ended: asyncio.Event
    ended_by: str | None

    async def hangup(self) -> None: ...

    async def info(self, body: bytes, content_type: str) -> None: ...

    async def reinvite(self, direction: str) -> bool: ...


@dataclass
class VoiceSession:
    """The customer's leg, the agent's (or transfer target's) leg, and the call's media graph."""

    interaction_id: str
    caller: IncomingCall | OutgoingCall | CallLeg  # the customer's leg
    media: CallBridge
    started_at: float = field(default_factory=time.time)
    agent_leg: OutgoingCall | CallLeg | None = None
    transferred_to: str | None = None  # the caller was handed to this number: the agent's events no longer end it
    transferring: bool = False
    held_by_phone: bool = False  # the agent's handset holds the call (it, not we, re-INVITEs her phone)
    keys: asyncio.Lock = field(default_factory=asyncio.Lock)  # one DTMF string at a time
    browser_offers: asyncio.Queue[Any] | None = None  # the agent answers in the browser: her connections
    held: bool = False  # the agent holds the call (the customer hears hold audio)
    recordings: int = 0  # files recorded so far (a stop and a new start make another)
    parties: dict[str, Any] = field(default_factory=dict)  # guests and supervisors by party id (party_legs.py)
    done: bool = False


def is_make_call(data: dict[str, Any]) -> bool:
    interaction = data.get("interaction") or {}
    return interaction.get("channel") == "voice" and interaction.get("direction") == "outbound"


BUSY = {486, 600}
NO_ANSWER = {0, 408, 480, 487}  # 0: our own ring timeout


def failure_outcome(status: int) -> str:
    """Why the far end did not take a call, in the core's words (a callback retries on these)."""
    if status in BUSY:
        return "busy"
    if status in NO_ANSWER:
        return "no_answer"
    return "failed"


async def first_to_end(*legs: OutgoingCall) -> OutgoingCall:
    """The leg whose far end hangs up first (or that we hang up)."""
    waits = {asyncio.ensure_future(leg.ended.wait()): leg for leg in legs}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waits[next(iter(done))]
