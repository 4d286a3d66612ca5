"""What each event's ``data`` holds: one TypedDict per family of the catalogue (``cti/events.py``).

``Event.make`` takes one of these, so mypy checks every place that builds an event: a missing
required key or a misspelt one is a type error, not a surprise in a client. ``PAYLOADS`` says
which shape each event type carries; the OpenAPI document's ``Event.<type>`` schemas are
generated from the same classes (``cti/api/event_docs.py``), so the document cannot drift from
what the server sends. Snapshots (``interaction``, ``message``, ``case``, ``agent``) are the
API's own resources as the matching GET answers them.
"""

from __future__ import annotations

from typing import (
    Any,
    Literal,
    Required,  # (pydantic reads these on Python 3.11)
)

from typing_extensions import TypedDict

from cti.events import EventType

Snapshot = dict[str, Any]  # a resource as its GET route answers it


class Party(TypedDict):
    """Who: an identity (``kind``: phone, email, sip, browser...) and its value."""

    kind: str
    value: str


class TransferTarget(TypedDict, total=False):
    """Where a transfer went: a queue or an agent."""

    queue: str
    agent_id: str


class InteractionExtras(TypedDict, total=False):
    """What some interaction.* events add to the snapshot."""

    reason: str  # rejected (timeout, rejected), abandoned (customer_left...)
    to: TransferTarget  # transferred
    previous_agent_id: str | None  # transferred


class InteractionPayload(InteractionExtras, total=False):
    """interaction.*: the interaction after the change."""

    interaction: Required[Snapshot]


class DeliveryFacts(TypedDict):
    """message.retrying: how delivery is going."""

    attempts: int
    error: str
    retry_at: str | None


class ApprovalFacts(TypedDict, total=False):
    """message.approval_requested|approved|rejected: why it was held and who decided."""

    reasons: list[str]  # requested: all, agent (the agent needs approval), word:<the word matched>
    by: str  # approved, rejected: who decided (supervisor:<user or token id>)
    reason: str  # rejected: why (for the agent)
    edited: bool  # approved: the supervisor changed the text
    original_text: str  # approved and edited: what the agent wrote


MessagePayload = TypedDict("MessagePayload", {
    "message": Required[Snapshot],
    "approval": ApprovalFacts,  # approval_requested, approved, rejected
    "from": Party,  # received: the sender
    "metadata": dict[str, Any],  # received: what the network said about it (mention, followers...)
    "delivery": DeliveryFacts,  # retrying
}, total=False)
MessagePayload.__doc__ = """message.received|queued|retrying|sent|failed: the message."""


ChatState = Literal["composing", "paused", "active", "inactive", "gone"]  # XEP-0085's states
ChatStatePayload = TypedDict("ChatStatePayload", {
    "state": ChatState,
    "from": Party,
    "channel": str,
})
ChatStatePayload.__doc__ = """message.chat_state: the customer is typing (or stopped)."""

CallPayload = TypedDict("CallPayload", {
    "call_id": Required[str],
    "from": Party,  # ringing: the caller
    "leg": str,  # answered, dtmf: agent or customer
    "by": str,  # ended: customer, agent, server, transfer_target
    "duration": float,  # ended: seconds since the call started
    "outcome": str,  # ended: why a call that never connected ended (no_answer, busy, failed, media_lost...)
    "digits": str,  # dtmf
    "direction": Literal["received", "sent"],  # dtmf
    "to": str,  # transferred, transfer_failed: the number
    "reason": str,  # transfer_failed
    "path": str,  # recorded: the WAV file
    "seconds": float,  # recorded: its length
    "recording_id": str,  # recorded, recording.*: the recording (GET /api/v1/recordings/{id})
    "paused": list[list[float]],  # recorded: the paused stretches (from, to) in seconds of the recording's run
}, total=False)
CallPayload.__doc__ = """call.*: the call's facts (``call_id`` is the SIP Call-ID or the provider's id)."""


class CallCommand(TypedDict, total=False):
    """What the API asks the connector carrying a call to do."""

    action: Required[Literal["dtmf", "transfer", "add_party", "party_mode", "drop_party", "transfer_to_party",
                             "recording"]]
    op: Literal["start", "pause", "resume", "stop"]  # recording
    digits: str  # dtmf
    to: str  # transfer, add_party: the number or SIP URI to ring
    party_id: str  # add_party, party_mode, drop_party
    role: Literal["guest", "supervisor"]  # add_party
    kind: Literal["agent", "number", "sip", "browser"]  # add_party (an agent takes the interaction when handed it)
    mode: str  # add_party, party_mode: consult | conference | listen | whisper | barge
    reason: str  # drop_party: why the party goes (declined by the colleague; default "dropped")


class PartyPayload(TypedDict, total=False):
    """call.participant.ringing|joined|left and call.monitor.started|changed|ended: one party of the call."""

    call_id: str
    participant: Required[Snapshot]  # id, role, kind, target, mode, state, reason
    browser: bool  # call.participant.ringing: the invited colleague joins from her browser


class CallCommandPayload(CallCommand, total=False):
    """call.command: what the API asked the call's connector to do, and who asked."""

    by: Required[str]  # the agent id, or the role that asked


class CasePayload(TypedDict, total=False):
    """case.created|updated: the case."""

    case: Required[Snapshot]
    changed: list[str]  # updated: the fields that changed


class ContactPayload(TypedDict):
    """contact.created|linked: the contact and the identity it gained."""

    contact_id: str
    identity: dict[str, Any]


class CaseNotePayload(TypedDict):
    """case.note_added: an internal note (never sent to the customer)."""

    note: Snapshot


class ContactUpdatedPayload(TypedDict):
    """contact.updated: the contact after the change, and which fields changed."""

    contact: Snapshot
    changed: list[str]


class PivotExtras(TypedDict, total=False):
    """What some pivot.* events add."""

    sent: bool  # created: sent to the customer on the channel
    reason: str  # expired: expired or revoked
    voice: bool  # redeemed: for a browser voice session
    interaction_id: str  # redeemed for voice: the call's interaction
    callback_id: str  # redeemed for a callback
    since_link_sent: float  # connected: seconds from the link's minting to the agent answering


class PivotPayload(PivotExtras, total=False):
    """pivot.*: the link (never its URL) and the channel it was sent on."""

    pivot_link: Required[Snapshot]
    channel: Required[str]


class CallbackExtras(TypedDict, total=False):
    """What some callback.* events add."""

    reason: str  # failed, scheduled for a retry: the last attempt's outcome
    attempt: int  # dialing, connected
    when: Literal["now", "later", "retry"]  # scheduled
    since_link_sent: float | None  # connected: seconds since the link was sent


class CallbackPayload(CallbackExtras, total=False):
    """callback.*: the callback (number masked)."""

    callback: Required[Snapshot]


class AgentExtras(TypedDict, total=False):
    """What some agent.* events add."""

    previous: str  # state_changed: the state before
    by: str  # state_changed: who set it, when not the agent herself (a supervisor, the system)
    created: bool  # updated: the agent was created
    deleted: bool  # updated: the agent was deleted


class AgentPayload(AgentExtras, total=False):
    """agent.*: the agent."""

    agent: Required[Snapshot]


class ConnectorPayload(TypedDict):
    """connector.health: a connector's link to its network."""

    connector: str
    health: Literal["starting", "connected", "transient_disconnect", "bad_credentials", "error"]
    detail: str


class SlaPayload(TypedDict):
    """sla.breached: the interaction has waited longer than its channel's service-level threshold."""

    channel: str
    threshold_seconds: float
    waited_seconds: float  # at the moment it was noticed
    state: str  # the interaction's state then (queued, offered; for written channels also active, held)


class SurveyPayload(TypedDict):
    """survey.answered: the customer's rating of an interaction."""

    survey_id: str
    rating: int  # 1 (very unhappy) .. 5 (very happy)
    comment: str | None
    channel: str


class RoutingPayload(TypedDict):
    """routing.updated: the routing policy now in force."""

    policy: dict[str, Any]


EventPayload = (InteractionPayload | MessagePayload | ChatStatePayload | CallPayload | CallCommandPayload
                | PartyPayload
                | CasePayload | CaseNotePayload | ContactPayload | ContactUpdatedPayload
                | PivotPayload | CallbackPayload | AgentPayload | ConnectorPayload
                | RoutingPayload | SlaPayload | SurveyPayload)

_FAMILIES: dict[str, type[Any]] = {
    "interaction": InteractionPayload, "message": MessagePayload, "call": CallPayload, "case": CasePayload,
    "contact": ContactPayload, "pivot": PivotPayload, "callback": CallbackPayload, "agent": AgentPayload,
    "connector": ConnectorPayload, "routing": RoutingPayload, "sla": SlaPayload, "survey": SurveyPayload,
}
_SPECIAL: dict[EventType, type[Any]] = {
    EventType.MESSAGE_CHAT_STATE: ChatStatePayload, EventType.CALL_COMMAND: CallCommandPayload,
    EventType.CONTACT_UPDATED: ContactUpdatedPayload, EventType.CASE_NOTE_ADDED: CaseNotePayload,
    **{t: PartyPayload for t in EventType if t.value.startswith(("call.participant.", "call.monitor."))},
}
PAYLOADS: dict[EventType, type[Any]] = {
    event_type: _SPECIAL.get(event_type) or _FAMILIES[event_type.value.split(".", 1)[0]] for event_type in EventType
}
