"""Routes the agent desktop needs beyond the CTI verbs: who am I, and what waits in the queue."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.api.context import Services, services
from cti.api.framework import Api, Call
from cti.events import iso
from cti.services.actors import Role
from cti.state import State

api = Api()
INTERACTIONS = models.interactions


@api.route("GET", "/api/v1/me", summary="Who is calling: role, agent, and the service-level thresholds the desk "
           "counts down", tag="agents", role=Role.AGENT,
           response={"type": "object", "required": ["role"], "properties": {
               "role": {"type": "string"}, "agent_id": {"type": ["string", "null"]},
               "user_id": {"type": ["string", "null"]},
               "sla_seconds": {"type": "object", "additionalProperties": {"type": "number"},
                               "description": "by channel: the first answer is due this long after queueing"}}})
async def me(call: Call) -> dict[str, Any]:
    svc = services(call.request)
    return {"role": call.actor.role.value, "agent_id": call.actor.agent_id, "user_id": call.actor.user_id,
            "sla_seconds": {name: sla_threshold(svc, name) for name in {"voice", *svc.channels.names()}}}


def sla_threshold(svc: Services, channel: str) -> float:
    """Seconds from queueing to the first answer that still meet the service level ([reports] sla_seconds)."""
    sla = svc.config.reports.sla_seconds
    return float(sla.get(channel, sla.get(svc.policies.current.channel_class(channel), 60.0)))


def why(scoring: dict[str, Any]) -> list[dict[str, Any]]:
    """The factors that raised an item's priority, largest first: [{"factor", "points"}] (the desk words them)."""
    found = (scoring.get("factors") or {}).items()
    factors = [(name, f.get("points") or 0) for name, f in found if isinstance(f, dict)]
    return [{"factor": name, "points": points} for name, points in sorted(factors, key=lambda f: -f[1]) if points > 0]


@api.route("GET", "/api/v1/queue", summary="What waits in the universal queue (no personal data): channel, "
           "priority and why, waiting time, SLA countdown", tag="routing", role=Role.AGENT,
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}})
async def waiting(call: Call) -> dict[str, Any]:
    svc = services(call.request)
    rows = await svc.db.read(
        lambda c: c.execute(
            sa.select(
                INTERACTIONS.c.id,
                INTERACTIONS.c.channel,
                INTERACTIONS.c.queue,
                INTERACTIONS.c.priority,
                INTERACTIONS.c.queued_at,
                INTERACTIONS.c.scoring,
                INTERACTIONS.c.initiation,
            )
            .where(INTERACTIONS.c.state == State.QUEUED.value)
            .order_by(INTERACTIONS.c.priority.desc(), INTERACTIONS.c.queued_at)
            .limit(200)
        ).all()
    )
    now = time.time()
    items = []
    for row in rows:
        threshold = sla_threshold(svc, row.channel)
        waited = now - (row.queued_at or now)
        scoring = row.scoring or {}
        reason = (scoring.get("reply_mode") or {}).get("reason")
        items.append({"id": row.id, "channel": row.channel, "queue": row.queue, "priority": row.priority,
                      "initiation": row.initiation, "queued_at": iso(row.queued_at), "waiting": round(waited, 1),
                      "sla_left": round(threshold - waited, 1), "sla_seconds": threshold, "priority_reason": reason,
                      "why": why(scoring)})
    return {"items": items}
