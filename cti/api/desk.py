"""Routes the agent desktop needs beyond the CTI verbs: who am I, and what waits in the queue."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.events import iso
from cti.services.actors import Role
from cti.state import State

api = Api()
INTERACTIONS = models.interactions


@api.route("GET", "/api/v1/me", summary="The token's role and agent", tag="agents", role=Role.AGENT,
           response={"type": "object", "required": ["role"], "properties": {
               "role": {"type": "string"}, "agent_id": {"type": ["string", "null"]}}})
async def me(call: Call) -> dict[str, Any]:
    return {"role": call.actor.role.value, "agent_id": call.actor.agent_id}


@api.route("GET", "/api/v1/queue", summary="What waits in the universal queue (no personal data): channel, "
           "priority and why, waiting time, SLA countdown", tag="routing", role=Role.AGENT,
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}})
async def waiting(call: Call) -> dict[str, Any]:
    svc = services(call.request)
    policy, sla = svc.policies.current, svc.config.reports.sla_seconds
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
        threshold = sla.get(row.channel, sla.get(policy.channel_class(row.channel), 60.0))
        waited = now - (row.queued_at or now)
        reason = ((row.scoring or {}).get("reply_mode") or {}).get("reason")
        items.append({"id": row.id, "channel": row.channel, "queue": row.queue, "priority": row.priority,
                      "initiation": row.initiation, "queued_at": iso(row.queued_at), "waiting": round(waited, 1),
                      "sla_left": round(threshold - waited, 1), "priority_reason": reason})
    return {"items": items}
