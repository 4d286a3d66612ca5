"""Who may touch what: an agent acts on the cases it works on, and on their contacts.

Every id a request names (in its path, its body or its query) goes through one of these before
anything is read out or written; supervisors and admins see everything."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import Forbidden
from cti.services.actors import Actor

INTERACTIONS = models.interactions


def agent_touches_case(conn: Connection, agent_id: str, case_id: str) -> bool:
    """True when the agent holds, was offered or handled an interaction of the case."""
    return (
        conn.execute(
            sa.select(INTERACTIONS.c.id)
            .where(INTERACTIONS.c.case_id == case_id, INTERACTIONS.c.agent_id == agent_id)
            .limit(1)
        ).first()
        is not None
        or conn.execute(
            sa.select(models.events.c.seq)
            .where(models.events.c.case_id == case_id, models.events.c.agent_id == agent_id)
            .limit(1)
        ).first()
        is not None
    )


def require_case_access(conn: Connection, actor: Actor, case_id: str) -> None:
    """Agents see only cases they work on; others see all."""
    if actor.is_agent and not agent_touches_case(conn, actor.agent_id or "", case_id):
        raise Forbidden("this case is not one of yours", code="not_your_case")


def require_contact_access(conn: Connection, actor: Actor, contact_id: str) -> None:
    """Agents see only contacts of cases they work on."""
    if not actor.is_agent:
        return
    agent_id = actor.agent_id or ""
    found = conn.execute(
        sa.select(INTERACTIONS.c.id)
        .where(INTERACTIONS.c.contact_id == contact_id, INTERACTIONS.c.agent_id == agent_id)
        .limit(1)
    ).first()
    if found is None:
        case_ids = [r.id for r in conn.execute(sa.select(models.cases.c.id)
                                               .where(models.cases.c.contact_id == contact_id)).all()]
        if not any(agent_touches_case(conn, agent_id, c) for c in case_ids):
            raise Forbidden("this contact is not one of yours", code="not_your_contact")


def require_case_reading(conn: Connection, actor: Actor, case_id: str, contact_id: str) -> None:
    """Reading a case (its timeline): an agent may read every case of a customer it serves or served,
    so that the customer's history across channels is in front of it; changing a case still needs
    ``require_case_access``."""
    if actor.is_agent and not agent_touches_case(conn, actor.agent_id or "", case_id):
        try:
            require_contact_access(conn, actor, contact_id)
        except Forbidden:
            raise Forbidden("this case is not one of yours", code="not_your_case") from None
