"""Parties of a call beyond the customer and the agent: guests and monitoring supervisors.

An agent brings a **guest** into its call: a colleague (``agent_id``: rung at their phone), a
number or a SIP URI, in ``consult`` (the agent talks to the guest while the customer hears hold
audio) or ``conference`` (everybody hears everybody). A supervisor **monitors** a call:
``listen``, ``whisper`` or ``barge`` (``connectors/mixing.py`` is the table). The API stores the
party as ``ringing`` and asks the connector carrying the call (``call.command``, on whichever node
holds it); the connector reports the party ``connected`` or ``left`` (``party_state``), which the
events tell. Monitoring is told to supervisors and admins only: its command and events carry no
agent and no queue, so no agent's stream (not the monitored agent's) ever sees them, and the
case timeline leaves them out for agents (``MONITOR_EVENTS``).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from cti import models
from cti.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from cti.event_payloads import CallCommand
from cti.events import Event, EventType, iso
from cti.ids import new_id
from cti.routing.policy import RoutingPolicy
from cti.services.actors import SYSTEM, Actor
from cti.services.calls import call_event, call_transferred_out, connected_call
from cti.services.interactions import CommandParams, apply_command, has_room, occupied_load
from cti.services.rows import Record, fetch_one
from cti.state import Command
from cti.storage.db import Tx

PARTIES, INTERACTIONS, AGENTS = models.call_parties, models.interactions, models.agents
PartyKind = Literal["agent", "number", "sip", "browser"]
BROWSER = "browser"  # a party that joins from its person's browser (desk or wallboard) instead of a phone
GUEST_MODES = ("consult", "conference")
MONITOR_MODES = ("listen", "whisper", "barge")
MAX_LIVE = {"guest": 3, "supervisor": 3}  # at once on one call: every party costs a socket and a mix
MONITOR_EVENTS = frozenset({EventType.CALL_MONITOR_STARTED.value, EventType.CALL_MONITOR_CHANGED.value,
                            EventType.CALL_MONITOR_ENDED.value})


def render_party(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "interaction_id": row["interaction_id"], "role": row["role"], "kind": row["kind"],
            "target": row["target"], "mode": row["mode"], "state": row["state"], "reason": row["reason"],
            "requested_by": row["requested_by"], "created_at": iso(row["created_at"]),
            "joined_at": iso(row["joined_at"]), "left_at": iso(row["left_at"])}


def agent_target(tx: Tx, agent_id: str) -> str:
    """Where a colleague brought into a call is rung: their SIP phone, or ``browser`` (their desk
    is told, ``call.participant.ringing``, and joins through ``.../participants/{pid}/softphone``)."""
    endpoint = tx.conn.execute(sa.select(AGENTS.c.voice_endpoint).where(
        AGENTS.c.id == agent_id, AGENTS.c.deleted.is_(False))).scalar()
    if endpoint is None:
        raise NotFound(f"no agent {agent_id}", code="not_found")
    if endpoint != BROWSER and not str(endpoint).startswith("sip:"):
        raise Unprocessable("this agent has no phone and no browser softphone to ring", code="agent_unreachable")
    return str(endpoint)


def next_free_agent(tx: Tx, queue: str, policy: RoutingPolicy, *, exclude: str | None) -> str:
    """A consult to a queue rings its next free agent: available, with the queue's skills, room for
    one more call and a phone or browser to ring; the longest idle first."""
    spec = policy.queue(queue)
    if spec is None:
        raise InvalidInput(f"unknown queue {queue!r}", code="unknown_queue", details={"queue": "unknown"})
    rows = tx.conn.execute(sa.select(AGENTS).where(AGENTS.c.state == "available", AGENTS.c.deleted.is_(False))
                           .order_by(AGENTS.c.idle_since.asc().nulls_first(), AGENTS.c.id)).all()
    for agent in rows:
        skills = agent.skills or {}
        reachable = agent.voice_endpoint == BROWSER or str(agent.voice_endpoint or "").startswith("sip:")
        if agent.id == exclude or not reachable or any(skills.get(k, 0) < v for k, v in spec.skills.items()):
            continue
        if has_room(agent, occupied_load(tx.conn, agent.id, policy), "voice", policy):
            return str(agent.id)
    raise Conflict(f"nobody in {queue} is free to take a call now", code="no_agent_free", details={"queue": queue})


def invited_party(conn: Any, interaction_id: str, party_id: str, actor: Actor) -> Record:
    """The party a person's browser may join as: a colleague's own invitation (``agent_id`` = hers),
    or a supervisor's own monitor session in the browser; still ringing. 404 for anyone else's."""
    found = conn.execute(sa.select(PARTIES).where(PARTIES.c.id == party_id,
                                                  PARTIES.c.interaction_id == interaction_id)).mappings().first()
    me = actor.agent_id or actor.user_id or actor.role.value
    mine = found is not None and (
        (found["role"] == "guest" and found["kind"] == "agent" and found["target"] == actor.agent_id)
        or (found["role"] == "supervisor" and not actor.is_agent and found["requested_by"] == me))
    if found is None or not mine:
        raise NotFound(f"no invitation {party_id} for you on this call", code="not_found")
    if found["state"] != "ringing":
        raise Conflict(f"that party is {found['state']}, not ringing", code="party_not_ringing",
                       details={"state": found["state"]})
    return Record(found)


def decline_party(tx: Tx, interaction_id: str, party_id: str, *, actor: Actor) -> Record:
    """The invited colleague says no: the party leaves at once (the agent is back with the customer)."""
    party = invited_party(tx.conn, interaction_id, party_id, actor)
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    _command(tx, row, {"action": "drop_party", "party_id": party_id, "reason": "declined"}, actor=actor,
             private=party["role"] == "supervisor")
    return party


def add_party(tx: Tx, interaction_id: str, *, role: str, kind: PartyKind, target: str, dial: str, mode: str,
              actor: Actor) -> Record:
    """Ring a guest or a monitoring supervisor into a connected call (``dial``: the number or URI to ring)."""
    row = connected_call(tx, interaction_id, actor, own=role == "guest")
    live = tx.conn.execute(sa.select(sa.func.count()).where(
        PARTIES.c.interaction_id == interaction_id, PARTIES.c.role == role, PARTIES.c.state != "left")).scalar() or 0
    if live >= MAX_LIVE[role]:
        raise Conflict(f"a call has at most {MAX_LIVE[role]} {role}s at once", code="too_many_parties")
    party = Record(id=new_id("pty"), interaction_id=interaction_id, role=role, kind=kind, target=target, mode=mode,
                   state="ringing", requested_by=actor.agent_id or actor.user_id or actor.role.value, reason=None,
                   created_at=tx.now, updated_at=tx.now, joined_at=None, left_at=None)
    tx.conn.execute(PARTIES.insert(), party)
    if kind == "agent" and role == "guest":  # her desk says who asks (and, in the browser, offers to join)
        tx.emit(Event.make(EventType.CALL_PARTICIPANT_RINGING, case_id=None, interaction_id=interaction_id,
                           agent_id=target, queue=None,
                           data={"participant": render_party(party), "browser": dial == BROWSER}))
    _command(tx, row, {"action": "add_party", "party_id": party["id"], "role": role,  # type: ignore[typeddict-item]
                       "kind": kind, "to": dial, "mode": mode}, actor=actor, private=role == "supervisor")
    return party


def party_of(conn: Any, interaction_id: str, party_id: str, role: str) -> Any:
    found = conn.execute(sa.select(PARTIES).where(PARTIES.c.id == party_id, PARTIES.c.interaction_id == interaction_id,
                                                  PARTIES.c.role == role)).mappings().first()
    if found is None:
        raise NotFound(f"no {role} {party_id} on this call", code="not_found")
    return found


def change_mode(tx: Tx, interaction_id: str, party_id: str, *, role: str, mode: str, actor: Actor) -> Record:
    """Consult -> conference (or back); listen -> whisper -> barge."""
    row = connected_call(tx, interaction_id, actor, own=role == "guest")
    party = Record(party_of(tx.conn, interaction_id, party_id, role))
    if party["state"] == "left":
        raise Conflict("that party has left the call", code="party_left")
    if party["mode"] != mode:
        tx.conn.execute(sa.update(PARTIES).where(PARTIES.c.id == party_id).values(mode=mode, updated_at=tx.now))
        party.update(mode=mode, updated_at=tx.now)
        _command(tx, row, {"action": "party_mode", "party_id": party_id, "mode": mode}, actor=actor,
                 private=role == "supervisor")
        if role == "supervisor" and party["state"] == "connected":
            _tell(tx, row, EventType.CALL_MONITOR_CHANGED, party)
    return party


def drop_party(tx: Tx, interaction_id: str, party_id: str, *, role: str, actor: Actor) -> Record:
    """Hang up that party; the call goes on."""
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if role == "guest" and actor.is_agent and row["agent_id"] != actor.agent_id:
        raise Forbidden("this call is not assigned to you", code="not_your_interaction")
    party = Record(party_of(tx.conn, interaction_id, party_id, role))
    if party["state"] != "left":
        _command(tx, row, {"action": "drop_party", "party_id": party_id}, actor=actor, private=role == "supervisor")
    return party


def request_transfer(tx: Tx, interaction_id: str, party_id: str, *, actor: Actor) -> Record:
    """Attended transfer: the consulted guest (connected) takes the caller; the agent leaves."""
    row = connected_call(tx, interaction_id, actor, own=True)
    party = Record(party_of(tx.conn, interaction_id, party_id, "guest"))
    if party["state"] != "connected":
        raise Conflict("that party is not in the call (it rings, or has left)", code="party_not_connected",
                       details={"state": party["state"]})
    _command(tx, row, {"action": "transfer_to_party", "party_id": party_id}, actor=actor, private=False)
    return party


def party_state(tx: Tx, interaction_id: str, party_id: str, state: str, *, call_id: str,
                reason: str | None = None) -> None:
    """What the connector reports: the party answered (``connected``) or is gone (``left``)."""
    found = tx.conn.execute(sa.select(PARTIES).where(PARTIES.c.id == party_id)).mappings().first()
    if found is None or found["state"] == "left" or found["state"] == state:
        return
    changes: dict[str, Any] = {"state": state, "updated_at": tx.now, "reason": reason}
    changes["joined_at" if state == "connected" else "left_at"] = tx.now
    tx.conn.execute(sa.update(PARTIES).where(PARTIES.c.id == party_id).values(**changes))
    party = Record({**found, **changes})
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    if party["role"] == "supervisor":
        kind = EventType.CALL_MONITOR_STARTED if state == "connected" else EventType.CALL_MONITOR_ENDED
    else:
        kind = EventType.CALL_PARTICIPANT_JOINED if state == "connected" else EventType.CALL_PARTICIPANT_LEFT
    _tell(tx, row, kind, party, call_id=call_id)


def party_took_call(tx: Tx, interaction_id: str, party_id: str, *, call_id: str, policy: RoutingPolicy) -> None:
    """An attended transfer is done: the customer now talks to the guest, the first agent has left.
    A colleague takes the interaction itself (it stays active, now hers: ``interaction.transferred``
    to her, seen also by the agent it left); a number or SIP URI takes the call out, and the
    agent's part goes to wrap-up (as a blind transfer out)."""
    party = tx.conn.execute(sa.select(PARTIES).where(PARTIES.c.id == party_id,
                                                     PARTIES.c.interaction_id == interaction_id)).mappings().first()
    if party is None:
        return
    party_state(tx, interaction_id, party_id, "left", call_id=call_id, reason="took the call")
    row = fetch_one(tx.conn, INTERACTIONS, interaction_id, what="interaction")
    colleague = party["kind"] == "agent" and tx.conn.execute(sa.select(AGENTS.c.id).where(
        AGENTS.c.id == party["target"], AGENTS.c.deleted.is_(False))).first() is not None
    if colleague and row["state"] in ("active", "held"):  # (an agent deleted meanwhile: as a number)
        apply_command(tx, interaction_id, Command.HAND_OVER, actor=SYSTEM, policy=policy,
                      params=CommandParams(agent_id=party["target"]))
        call_event(tx, interaction_id, EventType.CALL_TRANSFERRED, {"call_id": call_id, "to": party["target"]})
    else:
        call_transferred_out(tx, interaction_id, call_id=call_id, to=party["target"], policy=policy)


def end_all(tx: Tx, interaction_id: str, *, call_id: str) -> None:
    """The call is over: every party still in it has left."""
    live: list[str] = list(tx.conn.execute(sa.select(PARTIES.c.id).where(
        PARTIES.c.interaction_id == interaction_id, PARTIES.c.state != "left")).scalars().all())
    for party_id in live:
        party_state(tx, interaction_id, party_id, "left", call_id=call_id, reason="the call ended")


def list_parties(conn: Any, interaction_id: str, *, monitors: bool) -> list[dict[str, Any]]:
    query = sa.select(PARTIES).where(PARTIES.c.interaction_id == interaction_id)
    if not monitors:
        query = query.where(PARTIES.c.role == "guest")
    return [render_party(r) for r in conn.execute(query.order_by(PARTIES.c.created_at)).mappings().all()]


def _command(tx: Tx, row: Any, command: CallCommand, *, actor: Actor, private: bool) -> None:
    """``call.command`` to the connector; ``private`` (a supervisor's monitor): no agent, no queue."""
    tx.emit(Event.make(EventType.CALL_COMMAND, case_id=row["case_id"], interaction_id=row["id"],
                       agent_id=None if private else row["agent_id"], queue=None if private else row["queue"],
                       data={**command, "by": actor.agent_id or actor.role.value}))


def _tell(tx: Tx, row: Any, kind: EventType, party: Record, *, call_id: str | None = None) -> None:
    private = party["role"] == "supervisor"  # the monitored agent and the customer are never told
    data: dict[str, Any] = {"participant": render_party(party)}
    if call_id:
        data["call_id"] = call_id
    tx.emit(Event.make(kind, case_id=row["case_id"], interaction_id=row["id"],
                       agent_id=None if private else row["agent_id"], queue=None if private else row["queue"],
                       data=data))  # type: ignore[arg-type]
