"""Who is acting: a signed-in person's or an API token's role and agent, or the system (router, connectors)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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

    def at_least(self, role: Role) -> bool:
        """True when this actor's role includes ``role``'s permissions."""
        return _RANK[self.role] >= _RANK[role]


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3, Role.SYSTEM: 4}
SYSTEM = Actor(Role.SYSTEM)
