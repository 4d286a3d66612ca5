"""Agents and their presence."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row, page
from cti.errors import Forbidden
from cti.models import agents
from cti.services import render
from cti.services.actors import Role
from cti.services.agents import create_agent, delete_agent, set_presence, update_agent

api = Api()


@api.route("POST", "/api/v1/agents", summary="Create an agent", tag="agents", role=Role.ADMIN,
           body=s.AgentCreate, response=s.AgentOut, status=201, errors=(400, 409))
async def create(call: Call) -> dict[str, Any]:
    fields = call.body.model_dump(exclude_none=True)
    return render.agent(await services(call.request).db.write(lambda tx: create_agent(tx, fields)))


@api.route("GET", "/api/v1/agents", summary="List agents", tag="agents", role=Role.AGENT,
           query=s.AgentsQuery, response=s.list_of(s.AgentOut))
async def list_agents(call: Call) -> dict[str, Any]:
    q = call.query
    filters: list[sa.ColumnElement[bool]] = [agents.c.deleted.is_(False)]
    if q.state:
        filters.append(agents.c.state == q.state)
    if call.actor.is_agent:
        filters.append(agents.c.id == call.actor.agent_id)
    rows, nxt = await services(call.request).db.read(lambda c: page(c, agents, filters, limit=q.limit, after=q.after))
    return {"items": [render.agent(r) for r in rows], "next": nxt}


def _own_or_supervisor(call: Call, agent_id: str) -> None:
    if call.actor.is_agent and call.actor.agent_id != agent_id:
        raise Forbidden("agents may only see and change themselves", code="forbidden")


@api.route("GET", "/api/v1/agents/{id}", summary="Get an agent", tag="agents", role=Role.AGENT,
           response=s.AgentOut, errors=(403, 404))
async def get(call: Call) -> dict[str, Any]:
    agent_id = call.path("id")
    _own_or_supervisor(call, agent_id)
    return render.agent(await services(call.request).db.read(lambda c: get_row(c, agents, agent_id, "agent")))


@api.route("PATCH", "/api/v1/agents/{id}", summary="Change an agent", tag="agents", role=Role.ADMIN,
           body=s.AgentPatch, response=s.AgentOut, errors=(400, 404))
async def patch(call: Call) -> dict[str, Any]:
    agent_id, fields = call.path("id"), call.body.model_dump(exclude_unset=True)
    return render.agent(await services(call.request).db.write(lambda tx: update_agent(tx, agent_id, fields)))


@api.route("DELETE", "/api/v1/agents/{id}", summary="Delete an agent that holds no work", tag="agents",
           role=Role.ADMIN, status=204, errors=(404, 409))
async def delete(call: Call) -> None:
    agent_id, svc = call.path("id"), services(call.request)
    await svc.db.write(lambda tx: delete_agent(tx, agent_id))
    svc.tokens.forget()  # its tokens were revoked: this node stops honouring them at once


@api.route("PUT", "/api/v1/agents/{id}/state", summary="Set presence (available, away, offline)", tag="agents",
           role=Role.AGENT, body=s.AgentStateBody, response=s.AgentOut, errors=(400, 403, 404))
async def put_state(call: Call) -> dict[str, Any]:
    agent_id, state, actor = call.path("id"), call.body.state, call.actor
    _own_or_supervisor(call, agent_id)
    by = None if actor.agent_id == agent_id else actor.label
    return render.agent(await services(call.request).db.write(lambda tx: set_presence(tx, agent_id, state, by=by)))
