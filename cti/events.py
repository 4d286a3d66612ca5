"""The event catalogue: every event type the server emits, and the one Event shape.

Event type names are part of the public contract (docs/api.md). Modules never spell an event
name as a string: they use EventType members, and build events with ``Event.make``.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from cti.event_payloads import EventPayload


class EventType(StrEnum):
    INTERACTION_CREATED = "interaction.created"
    INTERACTION_QUEUED = "interaction.queued"
    INTERACTION_OFFERED = "interaction.offered"
    INTERACTION_ACCEPTED = "interaction.accepted"
    INTERACTION_REJECTED = "interaction.rejected"
    INTERACTION_HELD = "interaction.held"
    INTERACTION_RESUMED = "interaction.resumed"
    INTERACTION_TRANSFERRED = "interaction.transferred"
    INTERACTION_WRAPUP = "interaction.wrapup"
    INTERACTION_ENDED = "interaction.ended"
    INTERACTION_ABANDONED = "interaction.abandoned"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_QUEUED = "message.queued"  # a reply waits in the outbox for its channel
    MESSAGE_RETRYING = "message.retrying"  # a delivery attempt failed; the next one is due at data.retry_at
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_DELIVERED = "message.delivered"  # the network says it reached the customer's device
    MESSAGE_READ = "message.read"  # the network says the customer read it
    MESSAGE_CHAT_STATE = "message.chat_state"
    MESSAGE_APPROVAL_REQUESTED = "message.approval_requested"  # a public reply waits for a supervisor's decision
    MESSAGE_APPROVED = "message.approved"  # a supervisor let it go (as written, or edited): it is queued to send
    MESSAGE_REJECTED = "message.rejected"  # a supervisor stopped it, with a reason: it is never sent
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    CALL_DTMF = "call.dtmf"
    CALL_ENDED = "call.ended"
    CALL_COMMAND = "call.command"  # the API asked the call's connector to act (send DTMF, transfer out)
    CALL_TRANSFERRED = "call.transferred"  # the caller was connected to a number (blind transfer out)
    CALL_TRANSFER_FAILED = "call.transfer_failed"  # the number did not take it; the agent still has the caller
    CALL_RECORDED = "call.recorded"  # a recording of the call is on disk (data.recording_id)
    CALL_RECORDING_STARTED = "call.recording.started"
    CALL_RECORDING_PAUSED = "call.recording.paused"  # nothing is kept until call.recording.resumed
    CALL_RECORDING_RESUMED = "call.recording.resumed"
    CALL_PARTICIPANT_RINGING = "call.participant.ringing"  # to the colleague brought in (in the browser: she joins)
    CALL_PARTICIPANT_JOINED = "call.participant.joined"  # a guest answered and is in the call (consult or conference)
    CALL_PARTICIPANT_LEFT = "call.participant.left"  # a guest hung up, was dropped, or never answered
    CALL_MONITOR_STARTED = "call.monitor.started"  # supervisors only: a supervisor listens, whispers or barges
    CALL_MONITOR_CHANGED = "call.monitor.changed"
    CALL_MONITOR_ENDED = "call.monitor.ended"
    CASE_CREATED = "case.created"
    CASE_UPDATED = "case.updated"
    CASE_NOTE_ADDED = "case.note_added"  # an internal note: for the people on the case, never the customer
    CONTACT_CREATED = "contact.created"
    CONTACT_LINKED = "contact.linked"
    CONTACT_UPDATED = "contact.updated"  # name, language or attributes changed (by a person or an import)
    PIVOT_CREATED = "pivot.created"
    PIVOT_OPENED = "pivot.opened"
    PIVOT_REDEEMED = "pivot.redeemed"
    PIVOT_EXPIRED = "pivot.expired"
    PIVOT_CONNECTED = "pivot.connected"  # the customer reached an agent through the link (browser call)
    CALLBACK_SCHEDULED = "callback.scheduled"
    CALLBACK_DIALING = "callback.dialing"
    CALLBACK_CONNECTED = "callback.connected"
    CALLBACK_FAILED = "callback.failed"
    AGENT_STATE_CHANGED = "agent.state_changed"
    AGENT_UPDATED = "agent.updated"
    CONNECTOR_HEALTH = "connector.health"
    SLA_BREACHED = "sla.breached"  # an interaction waited past its channel's threshold (once per interaction)
    SURVEY_ANSWERED = "survey.answered"  # the customer rated the service (1-5, a comment)
    ROUTING_UPDATED = "routing.updated"


@dataclass(frozen=True, slots=True)
class Event:
    """One event. ``seq`` is 0 until the event log assigns it at commit. ``data`` is one of the
    payloads of ``cti/event_payloads.py`` (``PAYLOADS`` says which for each type)."""

    type: EventType
    ts: float
    data: dict[str, Any] = field(default_factory=dict)
    case_id: str | None = None
    interaction_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    seq: int = 0

    @classmethod
    def make(
        cls,
        type: EventType,
        *,
        data: EventPayload | None = None,
        case_id: str | None = None,
        interaction_id: str | None = None,
        agent_id: str | None = None,
        queue: str | None = None,
        ts: float | None = None,
    ) -> Event:
        """Build an event stamped now."""
        return cls(
            type=type,
            ts=time.time() if ts is None else ts,
            data=cast(dict[str, Any], data) if data is not None else {},
            case_id=case_id,
            interaction_id=interaction_id,
            agent_id=agent_id,
            queue=queue,
        )

    def with_seq(self, seq: int) -> Event:
        """The same event with its log sequence number."""
        return Event(self.type, self.ts, self.data, self.case_id, self.interaction_id, self.agent_id,
                     self.queue, seq)

    def to_json(self) -> dict[str, Any]:
        """The wire shape: {seq, type, ts, case_id?, interaction_id?, agent_id?, data}."""
        body: dict[str, Any] = {"seq": self.seq, "type": self.type.value, "ts": iso(self.ts)}
        if self.case_id:
            body["case_id"] = self.case_id
        if self.interaction_id:
            body["interaction_id"] = self.interaction_id
        if self.agent_id:
            body["agent_id"] = self.agent_id
        if self.queue:
            body["queue"] = self.queue
        body["data"] = self.data
        return body


LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z: later instants (a bad stored value) render as this


@functools.lru_cache(maxsize=8192)
def _iso(ts: float) -> str:
    ts = min(max(ts, 0.0), LATEST) if ts == ts else 0.0  # (NaN -> the epoch)
    secs = int(ts)
    millis = round((ts - secs) * 1000)
    if millis == 1000:
        secs, millis = secs + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds, or None (cached: the same instants recur)."""
    return None if ts is None else _iso(ts)


def type_matches(event_type: str, patterns: list[str] | None) -> bool:
    """True when ``patterns`` is empty or one pattern (``interaction.*`` or exact) matches."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
