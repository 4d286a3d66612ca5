"""Who is acting: a signed-in person's or an API token's role and agent, or the system (router, connectors)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cti import models
from cti.errors import InvalidInput


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The principal behind a request."""

    role: Role
    agent_id: str | None = None
    token_id: str | None = None
    expires_at: float | None = None  # when the token (or session) behind it stops working (None: never)
    user_id: str | None = None  # a person signed in with a session (None: an API token)

    @property
    def is_agent(self) -> bool:
        """True for agent tokens, which act only on their own work."""
        return self.role is Role.AGENT

    @property
    def label(self) -> str:
        """Who, as the audit trail names them: ``supervisor:<user, agent or token id>``."""
        return f"{self.role.value}:{self.user_id or self.agent_id or self.token_id or 'token'}"

    def at_least(self, role: Role) -> bool:
        """True when this actor's role includes ``role``'s permissions."""
        return _RANK[self.role] >= _RANK[role]


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.SYSTEM: 4}


def check_role(conn: Connection, role: str, agent_id: str | None, *, holder: str) -> None:
    """A role a token or a person may hold; an agent one names a live agent (InvalidInput naming the field)."""
    if role not in (Role.ADMIN, Role.SUPERVISOR, Role.AGENT):
        raise InvalidInput("role must be admin, supervisor or agent", details={"role": "invalid"})
    if role == Role.AGENT:
        if not agent_id:
            raise InvalidInput(f"an agent {holder} needs agent_id", details={"agent_id": "required for role agent"})
        agent = conn.execute(sa.select(models.agents.c.deleted).where(models.agents.c.id == agent_id)).first()
        if agent is None or agent.deleted:
            raise InvalidInput(f"agent {agent_id} not found", details={"agent_id": "unknown agent"})
SYSTEM = Actor(Role.SYSTEM)
