"""Interaction commands: every verb goes through the state table (cti/state.py) here.

``apply_command`` loads the interaction, checks the actor may act on it, asks the table for
the next state, applies the command's own field changes, writes the row and emits exactly one
interaction event carrying a snapshot of the interaction (so subscribers such as the router
and integrators need no extra read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Unpack, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import Conflict, Forbidden, InvalidInput
from cti.event_payloads import InteractionExtras, InteractionPayload
from cti.events import Event, EventType
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services import render
from cti.services.actors import Actor
from cti.services.rows import Record, fetch_one, update_row
from cti.state import OCCUPYING_STATES, Command, State, transition
from cti.storage.db import Tx

INTERACTIONS = models.interactions

# Verbs an agent may use on work offered to them, and on work assigned to them.
AGENT_OFFER_COMMANDS = {Command.ACCEPT, Command.REJECT}
AGENT_OWN_COMMANDS = {Command.HOLD, Command.RESUME, Command.TRANSFER_TO_QUEUE, Command.TRANSFER_TO_AGENT,
                      Command.END, Command.WRAPUP}


@dataclass
class CommandParams:
    """Everything a command may carry; unused fields are ignored."""

    agent_id: str | None = None
    queue: str | None = None
    routing: dict[str, Any] | None = None
    offer_timeout: float | None = None
    disposition: str | None = None
    notes: str | None = None
    reason: str | None = None


def interaction_event(event_type: EventType, row: Record, *, agent_id: str | None = None,
                      **extra: Unpack[InteractionExtras]) -> Event:
    """An interaction.* event with a snapshot of the interaction."""
    data: InteractionPayload = {"interaction": render.interaction(row), **extra}
    return Event.make(event_type, case_id=row["case_id"], interaction_id=row["id"],
                      agent_id=agent_id if agent_id is not None else row["agent_id"], queue=row["queue"],
                      data=data)


def check_actor(actor: Actor, row: Record, command: Command) -> None:
    """Agents act only on interactions offered or assigned to them."""
    if not actor.is_agent:
        return
    if command in AGENT_OFFER_COMMANDS or command in AGENT_OWN_COMMANDS:
        if row["agent_id"] == actor.agent_id:
            return
        raise Forbidden("this interaction is not offered or assigned to you", code="not_your_interaction")
    raise Forbidden(f"agents may not {command.value} interactions", code="forbidden")


def occupied_load(conn: Connection, agent_id: str, policy: RoutingPolicy) -> dict[str, int]:
    """How many interactions per capacity class the agent holds now."""
    rows = conn.execute(
        sa.select(INTERACTIONS.c.channel, sa.func.count())
        .where(INTERACTIONS.c.agent_id == agent_id, INTERACTIONS.c.state.in_([s.value for s in OCCUPYING_STATES]))
        .group_by(INTERACTIONS.c.channel)
    ).all()
    load: dict[str, int] = {}
    for channel, count in rows:
        cls = policy.channel_class(str(channel))
        load[cls] = load.get(cls, 0) + cast(int, count)
    return load


def has_room(agent: Any, load: dict[str, int], channel_class: str, policy: RoutingPolicy) -> bool:
    """True when the agent can take one more interaction of this class under the policy."""
    capacity = {**policy.default_capacity, **(agent.capacity or {})}
    if load.get(channel_class, 0) >= capacity.get(channel_class, 0):
        return False
    return not (policy.voice_blocks_written and channel_class != "voice" and load.get("voice", 0) > 0)


def _target_agent(conn: Connection, agent_id: str, row: Record, policy: RoutingPolicy, *, check_room: bool) -> Any:
    agent = conn.execute(sa.select(models.agents).where(models.agents.c.id == agent_id)).first()
    if agent is None or agent.deleted:
        raise InvalidInput(f"agent {agent_id} not found", code="agent_not_found", details={"agent_id": "unknown"})
    if check_room:
        if agent.state != "available":
            raise Conflict(f"agent {agent_id} is {agent.state}", code="agent_unavailable")
        channel_class = policy.channel_class(row["channel"])
        if not has_room(agent, occupied_load(conn, agent_id, policy), channel_class, policy):
            raise Conflict(f"agent {agent_id} has no free {channel_class} capacity", code="agent_at_capacity")
    return agent


def apply_command(tx: Tx, interaction_id: str, command: Command, *, actor: Actor, policy: RoutingPolicy,
                  params: CommandParams | None = None) -> Record:
    """Apply one command to one interaction; return the updated interaction."""
    p = params or CommandParams()
    conn, now = tx.conn, tx.now
    row = fetch_one(conn, INTERACTIONS, interaction_id, what="interaction", for_update=True)
    check_actor(actor, row, command)
    new_state, event_type = transition(command, row["state"])
    previous_agent = row["agent_id"]
    changes: dict[str, Any] = {"state": new_state.value, "updated_at": now}
    extra: InteractionExtras = {}
    event_agent: str | None = None

    if command is Command.ENQUEUE:
        changes.update(queued_at=now, queue=row["queue"] or policy.queue_for(row["channel"]))
    elif command is Command.ASSIGN:
        changes.update(agent_id=p.agent_id, accepted_at=now)
    elif command is Command.OFFER:
        assert p.agent_id is not None
        _target_agent(conn, p.agent_id, row, policy, check_room=True)
        timeout = p.offer_timeout or policy.offer_timeout
        changes.update(agent_id=p.agent_id, offered_at=now, offer_expires_at=now + timeout,
                       routing=p.routing or {})
    elif command is Command.ACCEPT:
        changes.update(accepted_at=row["accepted_at"] or now, offer_expires_at=None)
        _set_affinity(conn, row["case_id"], row["agent_id"], now + policy.affinity_seconds)
    elif command in (Command.REJECT, Command.OFFER_TIMEOUT):
        routing = dict(row["routing"] or {})
        routing["declined_by"] = sorted({*routing.get("declined_by", []), previous_agent})
        changes.update(agent_id=None, offered_at=None, offer_expires_at=None, routing=routing)
        extra["reason"] = "timeout" if command is Command.OFFER_TIMEOUT else (p.reason or "rejected")
        event_agent = previous_agent
    elif command is Command.TRANSFER_TO_QUEUE:
        queue = p.queue or row["queue"]
        if policy.queue(queue or "") is None:
            raise InvalidInput(f"unknown queue {queue!r}", code="unknown_queue", details={"queue": "unknown"})
        changes.update(agent_id=None, queue=queue, queued_at=now, offered_at=None, routing={})
        extra["to"], extra["previous_agent_id"] = {"queue": queue}, previous_agent
        event_agent = previous_agent
    elif command is Command.TRANSFER_TO_AGENT:
        assert p.agent_id is not None
        _target_agent(conn, p.agent_id, row, policy, check_room=True)
        changes.update(agent_id=p.agent_id, offered_at=now,
                       offer_expires_at=now + (p.offer_timeout or policy.offer_timeout),
                       routing={"rule": "transfer", "agent_id": p.agent_id, "reasons": ["transferred by agent"]})
        extra["to"], extra["previous_agent_id"] = {"agent_id": p.agent_id}, previous_agent
    elif command is Command.HAND_OVER:
        assert p.agent_id is not None
        _target_agent(conn, p.agent_id, row, policy, check_room=False)  # (she is on the call already)
        changes.update(agent_id=p.agent_id, offer_expires_at=None,
                       routing={"rule": "transfer", "agent_id": p.agent_id, "reasons": ["attended transfer"]})
        extra["to"], extra["previous_agent_id"] = {"agent_id": p.agent_id}, previous_agent
        if previous_agent:
            conn.execute(models.agents.update().where(models.agents.c.id == previous_agent).values(idle_since=now))
    elif command is Command.END:
        changes.update(ended_at=now)
    elif command is Command.WRAPUP:
        changes.update(disposition=p.disposition, notes=p.notes, closed_at=now)
        if row["agent_id"]:
            _set_affinity(conn, row["case_id"], row["agent_id"], now + policy.affinity_seconds)
            conn.execute(models.agents.update().where(models.agents.c.id == row["agent_id"]).values(idle_since=now))
    elif command is Command.ABANDON:
        changes.update(ended_at=now, agent_id=None, offer_expires_at=None)
        extra["reason"] = p.reason or "customer_left"
        event_agent = previous_agent

    update_row(conn, INTERACTIONS, row, changes)
    tx.emit(interaction_event(event_type, row, agent_id=event_agent, **extra))
    return row


def _set_affinity(conn: Connection, case_id: str, agent_id: str | None, until: float) -> None:
    if agent_id:
        conn.execute(models.cases.update().where(models.cases.c.id == case_id)
                     .values(affinity_agent_id=agent_id, affinity_until=until))


def new_interaction(tx: Tx, *, case_id: str, contact_id: str, channel: str, direction: str, initiation: str,
                    queue: str | None = None, priority: int = 0, language: str | None = None,
                    external_id: str | None = None, thread_key: str | None = None,
                    source_interaction_id: str | None = None, skills: dict[str, int] | None = None,
                    routing: dict[str, Any] | None = None, scoring: dict[str, Any] | None = None,
                    policy: RoutingPolicy | None = None) -> Record:
    """Insert an interaction and emit interaction.created; with a policy, enqueue it at once.

    Enqueueing goes through the state table like any command, but writes the row once."""
    row = Record(
        id=new_id("int"), case_id=case_id, contact_id=contact_id, channel=channel, direction=direction,
        initiation=initiation, state=State.CREATED.value, queue=queue, priority=priority, language=language,
        agent_id=None, external_id=external_id, thread_key=thread_key,
        source_interaction_id=source_interaction_id, skills=skills or {}, routing=routing or {}, scoring=scoring,
        disposition=None,
        notes=None, created_at=tx.now, updated_at=tx.now, queued_at=None, offered_at=None,
        offer_expires_at=None, accepted_at=None, first_response_at=None, ended_at=None, closed_at=None,
        version=0,
    )
    if policy is not None:
        row["queue"] = queue or policy.queue_for(channel)
    created = interaction_event(EventType.INTERACTION_CREATED, row)
    queued: Event | None = None
    if policy is not None:
        state, event_type = transition(Command.ENQUEUE, State.CREATED)
        row.update(state=state.value, queued_at=tx.now)
        queued = interaction_event(event_type, row)
    tx.sql.execute(_insert_interaction, row)
    tx.emit(created)
    if queued is not None:
        tx.emit(queued)
    return row


_insert_interaction = INTERACTIONS.insert()
