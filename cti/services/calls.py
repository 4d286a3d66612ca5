"""Voice calls as interactions: the write ops a voice connector calls (any telephony, SIP or Twilio).

An inbound call becomes a voice interaction on the caller's open case (or a new case), queued
through the routing policy, with ``call.ringing``. When the agent's leg answers: ``call.answered``.
When either side hangs up: ``call.ended`` (with who and how long) and the interaction moves on:
abandoned while still waiting, to wrap-up once an agent had it. Every call event carries the
SIP Call-ID (or the provider's call id) as ``data.call_id``.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from cti import models
from cti.errors import Conflict, Forbidden, Unprocessable
from cti.event_payloads import CallCommand, CallPayload
from cti.events import Event, EventType
from cti.hooks import CallHooks
from cti.routing.policy import RoutingPolicy
from cti.services import render
from cti.services.actors import SYSTEM, Actor
from cti.services.agents import set_presence
from cti.services.cases import latest_open_case, open_case
from cti.services.contacts import find_or_create_contact
from cti.services.interactions import apply_command, new_interaction
from cti.services.rows import Record, fetch_one
from cti.state import Command, State
from cti.storage.db import Tx

CASES, INTERACTIONS = models.cases, models.interactions


def start_inbound_call(tx: Tx, *, caller_kind: str, caller: str, call_id: str, policy: RoutingPolicy,
                       name: str | None = None) -> Record:
    """A new voice interaction for an answered inbound call, queued at once. One call id is one
    interaction: a provider's retry or a replayed request (Twilio's signatures carry no
    timestamp) finds the call stored the first time."""
    existing = tx.conn.execute(
        sa.select(INTERACTIONS)
        .where(
            INTERACTIONS.c.channel == "voice",
            INTERACTIONS.c.direction == "inbound",
            INTERACTIONS.c.external_id == call_id,
        )
        .limit(1)
    ).first()
    if existing is not None:
        return Record(existing._mapping)
    contact_id = find_or_create_contact(tx, caller_kind, caller, name)
    case_id = latest_open_case(tx, contact_id) or open_case(tx, contact_id, f"Call from {caller}")["id"]
    row = new_interaction(tx, case_id=case_id, contact_id=contact_id, channel="voice", direction="inbound",
                          initiation="inbound", external_id=call_id, thread_key=f"call:{call_id}", policy=policy)
    tx.emit(Event.make(EventType.CALL_RINGING, case_id=case_id, interaction_id=row["id"], queue=row["queue"],
                       data={"call_id": call_id, "from": {"kind": caller_kind, "value": caller}}))
    return row


def call_answered(tx: Tx, interaction_id: str, *, call_id: str, leg: str, agent_id: str | None,
                  hooks: CallHooks = CallHooks()) -> None:
    """A leg answered (``leg``: agent or customer); the call listeners are told."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    tx.emit(Event.make(EventType.CALL_ANSWERED, case_id=row["case_id"], interaction_id=interaction_id,
                       agent_id=agent_id or row["agent_id"], queue=row["queue"],
                       data={"call_id": call_id, "leg": leg}))
    hooks.leg_answered(tx, row, leg)


def agent_missed(tx: Tx, interaction_id: str, *, agent_id: str, policy: RoutingPolicy) -> dict[str, Any]:
    """Ring-no-answer: the agent's phone did not take the call. The agent is set away (as contact
    centers do, so the next call does not ring an empty desk) and the call goes back to the queue
    for the next agent."""
    set_presence(tx, agent_id, "away", by="system: the phone did not answer")
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if row["state"] in (State.ACTIVE.value, State.HELD.value) and row["agent_id"] == agent_id:
        row = apply_command(tx, interaction_id, Command.TRANSFER_TO_QUEUE, actor=SYSTEM, policy=policy)
    return render.interaction(row)


def call_dtmf(tx: Tx, interaction_id: str, *, call_id: str, digits: str, leg: str,
              direction: Literal["received", "sent"] = "received") -> None:
    """Keys pressed on a call (RFC 4733 or SIP INFO), or sent by the server on the agent's
    behalf (``direction`` "sent"): call.dtmf."""
    call_event(tx, interaction_id, EventType.CALL_DTMF, {"call_id": call_id, "digits": digits, "leg": leg,
                                                         "direction": direction})


def call_event(tx: Tx, interaction_id: str, event_type: EventType, data: CallPayload) -> None:
    """A call event on the interaction (its case, agent and queue)."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    tx.emit(Event.make(event_type, case_id=row["case_id"], interaction_id=interaction_id,
                       agent_id=row["agent_id"], queue=row["queue"], data=data))


def connected_call(tx: Tx, interaction_id: str, actor: Actor, *, own: bool = True) -> Record:
    """A connected call (active or held) that takes commands; with ``own``, an agent's own only.
    404, 403, 422, 409, in that order: nothing about others' work is told."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if own and actor.is_agent and row["agent_id"] != actor.agent_id:
        raise Forbidden("this call is not assigned to you", code="not_your_interaction")
    if row["channel"] != "voice":
        raise Unprocessable("this is for calls", code="channel_not_voice")
    if row["state"] not in (State.ACTIVE.value, State.HELD.value):
        raise Conflict(f"the call is {row['state']}, not connected", code="call_not_connected",
                       details={"state": row["state"]})
    return row


def request_call_command(tx: Tx, interaction_id: str, command: CallCommand, *, actor: Actor) -> None:
    """``call.command``: the connector carrying the call (on whichever node holds it) acts on it.
    Only a connected call (active or held) takes commands, and an agent only on their own call."""
    row = connected_call(tx, interaction_id, actor)
    tx.emit(Event.make(EventType.CALL_COMMAND, case_id=row["case_id"], interaction_id=interaction_id,
                       agent_id=row["agent_id"], queue=row["queue"],
                       data={**command, "by": actor.agent_id or actor.role.value}))


def call_hold(tx: Tx, interaction_id: str, *, held: bool, policy: RoutingPolicy) -> None:
    """The agent's handset held or resumed the call: the interaction follows when it can."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if held and row["state"] == State.ACTIVE.value:
        apply_command(tx, interaction_id, Command.HOLD, actor=SYSTEM, policy=policy)
    elif not held and row["state"] == State.HELD.value:
        apply_command(tx, interaction_id, Command.RESUME, actor=SYSTEM, policy=policy)


def call_transferred_out(tx: Tx, interaction_id: str, *, call_id: str, to: str, policy: RoutingPolicy) -> None:
    """The caller now talks to ``to``: call.transferred, and the agent's part moves to wrap-up."""
    call_event(tx, interaction_id, EventType.CALL_TRANSFERRED, {"call_id": call_id, "to": to})
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if row["state"] in (State.ACTIVE.value, State.HELD.value):
        apply_command(tx, interaction_id, Command.END, actor=SYSTEM, policy=policy)


def call_ended(tx: Tx, interaction_id: str, *, call_id: str, by: str, started_at: float,
               policy: RoutingPolicy, outcome: str | None = None,
               hooks: CallHooks = CallHooks()) -> dict[str, Any]:
    """The call is over: call.ended, and the interaction abandoned (still waiting) or to wrap-up.
    ``outcome`` says why a call that never connected ended (no_answer, busy, failed,
    agent_unreachable); the call listeners are told (a callback's attempt is retried or failed)."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    state = State(row["state"])
    if state not in (State.QUEUED, State.OFFERED, State.ACTIVE, State.HELD) and tx.conn.execute(
            sa.select(models.events.c.seq).where(models.events.c.interaction_id == interaction_id,
                                                 models.events.c.type == EventType.CALL_ENDED.value)
            .limit(1)).first() is not None:
        return render.interaction(row)  # told already (a successor ending what a dead process carried)
    if state in (State.QUEUED, State.OFFERED):
        row = apply_command(tx, interaction_id, Command.ABANDON, actor=SYSTEM, policy=policy)
    elif state in (State.ACTIVE, State.HELD):
        row = apply_command(tx, interaction_id, Command.END, actor=SYSTEM, policy=policy)
    ended: CallPayload = {"call_id": call_id, "by": by, "duration": round(tx.now - started_at, 3)}
    if outcome:
        ended["outcome"] = outcome
    tx.emit(Event.make(EventType.CALL_ENDED, case_id=row["case_id"], interaction_id=interaction_id,
                       agent_id=row["agent_id"], queue=row["queue"],
                       data=ended))
    if hooks.listeners:
        hooks.call_ended(tx, Record(row), outcome=outcome, policy=policy)
        row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")  # (a listener may have moved it on)
    return render.interaction(row)


def interaction_of_call(conn: Any, call_id: str) -> str | None:
    """The voice interaction of a provider's call id (inbound calls keep it as their external id)."""
    return conn.execute(
        sa.select(INTERACTIONS.c.id)
        .where(INTERACTIONS.c.channel == "voice", INTERACTIONS.c.external_id == call_id)
        .order_by(INTERACTIONS.c.created_at.desc())
        .limit(1)
    ).scalar()


def agent_voice_endpoint(conn: Any, agent_id: str) -> str | None:
    """Where to ring an agent (a SIP URI or ``browser``)."""
    AGENTS = models.agents
    return conn.execute(sa.select(AGENTS.c.voice_endpoint).where(AGENTS.c.id == agent_id)).scalar()


def call_target(conn: Any, interaction_id: str, hooks: CallHooks = CallHooks()) -> tuple[str, str] | None:
    """(kind, value) to dial for an outbound voice interaction: what a call listener names (a
    callback dials the number the customer gave), else the contact's phone identity, then SIP."""
    IDENTITIES = models.identities
    named = hooks.dial_target(conn, interaction_id)
    if named is not None:
        return named
    contact_id = conn.execute(sa.select(INTERACTIONS.c.contact_id).where(INTERACTIONS.c.id == interaction_id)).scalar()
    rows = conn.execute(sa.select(IDENTITIES.c.kind, IDENTITIES.c.value).where(IDENTITIES.c.contact_id == contact_id,
                                                                 IDENTITIES.c.kind.in_(("phone", "sip")))).all()
    ranked = sorted(rows, key=lambda r: (r.kind != "phone",))
    return (ranked[0].kind, ranked[0].value) if ranked else None
