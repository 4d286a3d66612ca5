"""Agents: create, update, delete, presence."""

from __future__ import annotations

from typing import Any, Unpack

import sqlalchemy as sa

from cti import models
from cti.errors import Conflict
from cti.event_payloads import AgentExtras
from cti.events import Event, EventType
from cti.ids import new_id
from cti.services import render
from cti.services.people import disable_agent_users
from cti.services.rows import Record, fetch_one, not_found, update_row
from cti.services.tokens import revoke_agent_tokens
from cti.state import OCCUPYING_STATES
from cti.storage.db import Tx

AGENTS = models.agents
PRESENCE_STATES = ("available", "away", "offline")


def _agent_event(event_type: EventType, row: Record, **extra: Unpack[AgentExtras]) -> Event:
    return Event.make(event_type, agent_id=row["id"], data={"agent": render.agent(row), **extra})


def create_agent(tx: Tx, fields: dict[str, Any]) -> Record:
    """Insert an agent (offline until they sign in) and emit agent.updated."""
    row = Record(
        id=fields.get("id") or new_id("agt"), name=fields["name"], skills=fields.get("skills") or {},
        capacity=fields.get("capacity") or {}, voice_endpoint=fields.get("voice_endpoint"),
        rating=fields.get("rating") or 0.0, needs_approval=bool(fields.get("needs_approval")),
        state=fields.get("state") or "offline", state_changed_at=tx.now,
        idle_since=tx.now, deleted=False, created_at=tx.now, updated_at=tx.now,
    )
    existing = tx.conn.execute(sa.select(AGENTS.c.id).where(AGENTS.c.id == row["id"])).first()
    if existing is not None:
        raise Conflict(f"agent {row['id']} exists", code="agent_exists")
    tx.conn.execute(AGENTS.insert(), row)
    tx.emit(_agent_event(EventType.AGENT_UPDATED, row, created=True))
    return row


def get_live_agent(tx: Tx, agent_id: str) -> Record:
    """The agent, or NotFound when missing or deleted."""
    row = fetch_one(tx.conn, AGENTS, agent_id, what="agent", for_update=True)
    if row["deleted"]:
        raise not_found("agent", agent_id)
    return row


def update_agent(tx: Tx, agent_id: str, fields: dict[str, Any]) -> Record:
    """Change name, skills, capacity, voice endpoint or rating."""
    row = get_live_agent(tx, agent_id)
    defaults: dict[str, Any] = {"skills": {}, "capacity": {}, "rating": 0.0, "voice_endpoint": None,
                                "needs_approval": False}
    changes = {k: (defaults.get(k) if v is None else v) for k, v in fields.items()
               if k in ("name", "skills", "capacity", "voice_endpoint", "rating", "needs_approval")}
    changes["updated_at"] = tx.now
    update_row(tx.conn, AGENTS, row, changes)
    tx.emit(_agent_event(EventType.AGENT_UPDATED, row))
    return row


def delete_agent(tx: Tx, agent_id: str) -> Record:
    """Soft-delete an agent that holds no work."""
    row = get_live_agent(tx, agent_id)
    busy = tx.conn.execute(sa.select(sa.func.count()).select_from(models.interactions).where(
        models.interactions.c.agent_id == agent_id,
        models.interactions.c.state.in_([s.value for s in OCCUPYING_STATES]))).scalar_one()
    if busy:
        raise Conflict(f"agent {agent_id} still holds {busy} interaction(s)", code="agent_busy")
    update_row(tx.conn, AGENTS, row, {"deleted": True, "state": "offline", "updated_at": tx.now})
    revoke_agent_tokens(tx, agent_id)  # a token never outlives its agent
    disable_agent_users(tx, agent_id)  # nor does a person's sign-in as that agent
    tx.emit(_agent_event(EventType.AGENT_UPDATED, row, deleted=True))
    return row


def set_presence(tx: Tx, agent_id: str, state: str, *, by: str | None = None) -> Record:
    """available / away / offline; emits agent.state_changed when it changes (``by``: who did it,
    when not the agent herself; the event log is the audit trail)."""
    row = get_live_agent(tx, agent_id)
    previous = row["state"]
    if previous == state:
        return row
    changes: dict[str, Any] = {"state": state, "state_changed_at": tx.now, "updated_at": tx.now}
    if state == "available":
        changes["idle_since"] = tx.now
    update_row(tx.conn, AGENTS, row, changes)
    if by is None:
        tx.emit(_agent_event(EventType.AGENT_STATE_CHANGED, row, previous=previous))
    else:
        tx.emit(_agent_event(EventType.AGENT_STATE_CHANGED, row, previous=previous, by=by))
    return row
