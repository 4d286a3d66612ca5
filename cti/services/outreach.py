"""Agent-initiated interactions (POST /api/v1/interactions): same shape on every channel."""

from __future__ import annotations

import sqlalchemy as sa

from cti import models
from cti.errors import InvalidInput
from cti.routing.policy import RoutingPolicy
from cti.services.access import require_case_access
from cti.services.actors import SYSTEM, Actor
from cti.services.cases import open_case
from cti.services.contacts import find_or_create_contact
from cti.services.interactions import CommandParams, apply_command, new_interaction
from cti.services.rows import Record, fetch_one
from cti.state import Command
from cti.storage.db import Tx


def start_outbound(tx: Tx, *, actor: Actor, channel: str, kind: str, value: str, subject: str | None,
                   case_id: str | None, agent_id: str | None, policy: RoutingPolicy,
                   initiation: str = "outbound", source_interaction_id: str | None = None) -> Record:
    """Create an outbound interaction: active for its agent, or queued when no agent is named."""
    if case_id is not None:  # an id the caller names: theirs to use, checked before anything is written
        fetch_one(tx.conn, models.cases, case_id, what="case")
        require_case_access(tx.conn, actor, case_id)
    contact_id = find_or_create_contact(tx, kind, value)
    if case_id is not None:
        case = fetch_one(tx.conn, models.cases, case_id, what="case")
        if case["contact_id"] != contact_id:
            raise InvalidInput("the case belongs to another contact", code="case_contact_mismatch",
                               details={"case_id": "belongs to another contact"})
    else:
        case_id = open_case(tx, contact_id, subject)["id"]
    owner = actor.agent_id if actor.is_agent else agent_id
    if owner is not None:
        agent = tx.conn.execute(sa.select(models.agents.c.deleted).where(models.agents.c.id == owner)).first()
        if agent is None or agent.deleted:
            raise InvalidInput(f"agent {owner} not found", code="agent_not_found", details={"agent_id": "unknown"})
    row = new_interaction(tx, case_id=case_id, contact_id=contact_id, channel=channel, direction="outbound",
                          initiation=initiation, thread_key=f"contact:{contact_id}",
                          source_interaction_id=source_interaction_id,
                          policy=None if owner else policy)
    if owner is not None:
        row = apply_command(tx, row["id"], Command.ASSIGN, actor=SYSTEM, policy=policy,
                            params=CommandParams(agent_id=owner))
    return row
