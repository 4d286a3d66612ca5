"""Calls with more than two people: guests (consult, conference) and supervisor monitoring.

The rules and the events are in ``cti/services/parties.py``; who hears whom is
``connectors/mixing.py``; the connector carrying the call rings the party and mixes it in.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti import models
from cti.api.context import Services, services
from cti.api.framework import Api, Call
from cti.api.queries import get_row
from cti.call_control import target_of
from cti.errors import Forbidden, InvalidInput, NotFound, Unavailable, Unprocessable
from cti.services.actors import Actor, Role
from cti.services.parties import (
    BROWSER,
    PartyKind,
    add_party,
    agent_target,
    change_mode,
    decline_party,
    drop_party,
    list_parties,
    next_free_agent,
    party_of,
    render_party,
)

api = Api()
PARTY_OUT = {"type": "object", "required": ["id", "role", "kind", "target", "mode", "state"], "properties": {
    "id": {"type": "string"}, "role": {"enum": ["guest", "supervisor"]},
    "kind": {"enum": ["agent", "number", "sip", "browser"]},
    "target": {"type": "string"}, "mode": {"type": "string"},
    "state": {"enum": ["ringing", "connected", "left"]}, "reason": {"type": ["string", "null"]}}}
INTERACTIONS = models.interactions


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParticipantBody(_Body):
    agent_id: str | None = Field(default=None, min_length=1, max_length=40, description="a colleague (rung)")
    number: str | None = Field(default=None, min_length=1, max_length=40, description="an extension or E.164 number")
    sip_uri: str | None = Field(default=None, min_length=5, max_length=200, pattern=r"^sip:[^\s<>\"]+$")
    queue: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="the next free agent of this queue (longest idle) is rung")
    mode: Literal["consult", "conference"] = "consult"

    @model_validator(mode="after")
    def _exactly_one(self) -> ParticipantBody:
        if sum(x is not None for x in (self.agent_id, self.number, self.sip_uri, self.queue)) != 1:
            raise ValueError("give exactly one of agent_id, number, sip_uri or queue")
        return self


class ModeBody(_Body):
    mode: Literal["consult", "conference"]


class MonitorBody(_Body):
    mode: Literal["listen", "whisper", "barge"] = "listen"
    endpoint: str | None = Field(default=None, min_length=5, max_length=200, pattern=r"^(sip:[^\s<>\"]+|browser)$",
                                 description="the supervisor's phone, or browser (then the page joins through "
                                 ".../participants/{pid}/softphone); default: the supervisor's own voice endpoint")


class MonitorModeBody(_Body):
    mode: Literal["listen", "whisper", "barge"]


def require_voice(svc: Services) -> None:
    if svc.call_control is None:
        raise Unavailable("no voice connector is configured", code="connector_unavailable")


@api.route("POST", "/api/v1/interactions/{id}/participants", summary="Bring a colleague, the next free agent of a "
           "queue, a number or a SIP URI into your call: consult (the customer hears hold audio) or conference",
           tag="calls", role=Role.AGENT, body=ParticipantBody, status=201, errors=(403, 404, 409, 422, 503),
           response={"type": "object", "required": ["participant"], "properties": {"participant": PARTY_OUT}})
async def post_participant(call: Call) -> dict[str, Any]:
    svc, iid, b, actor = services(call.request), call.path("id"), call.body, call.actor
    await own_call(svc, iid, actor)
    require_voice(svc)
    kind: PartyKind = "agent" if b.agent_id or b.queue else "sip" if b.sip_uri else "number"
    dial = None if kind == "agent" else target_of(b.sip_uri or b.number)
    policy = svc.policies.current

    def op(tx: Any) -> dict[str, Any]:
        colleague = b.agent_id or (next_free_agent(tx, b.queue, policy, exclude=actor.agent_id) if b.queue else None)
        target = colleague or b.sip_uri or b.number
        to = dial or agent_target(tx, str(colleague))
        return dict(add_party(tx, iid, role="guest", kind=kind, target=str(target), dial=to, mode=b.mode, actor=actor))

    return {"participant": render_party(await svc.db.write(op))}


@api.route("GET", "/api/v1/interactions/{id}/participants", summary="The parties of the call and their state "
           "(supervisors also see who monitors it)", tag="calls", role=Role.AGENT, errors=(403, 404),
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array",
                                                                                       "items": PARTY_OUT}}})
async def get_participants(call: Call) -> dict[str, Any]:
    svc, iid, actor = services(call.request), call.path("id"), call.actor
    await own_call(svc, iid, actor)
    return {"items": await svc.db.read(lambda c: list_parties(c, iid, monitors=not actor.is_agent))}


@api.route("PATCH", "/api/v1/interactions/{id}/participants/{pid}", summary="Join a consulted party to the "
           "customer (mode conference), or back to consult", tag="calls", role=Role.AGENT, body=ModeBody,
           errors=(403, 404, 409, 422), response={"type": "object", "properties": {"participant": PARTY_OUT}})
async def patch_participant(call: Call) -> dict[str, Any]:
    svc, iid, pid, actor = services(call.request), call.path("id"), call.path("pid"), call.actor
    await own_call(svc, iid, actor)
    mode = call.body.mode
    party = await svc.db.write(lambda tx: change_mode(tx, iid, pid, role="guest", mode=mode, actor=actor))
    return {"participant": render_party(party)}


@api.route("DELETE", "/api/v1/interactions/{id}/participants/{pid}", summary="Hang up that party; the call goes on",
           tag="calls", role=Role.AGENT, status=204, errors=(403, 404), raw=True)
async def delete_participant(call: Call) -> web.StreamResponse:
    svc, iid, pid, actor = services(call.request), call.path("id"), call.path("pid"), call.actor
    await own_call(svc, iid, actor)
    await svc.db.write(lambda tx: drop_party(tx, iid, pid, role="guest", actor=actor))
    return web.Response(status=204)


@api.route("POST", "/api/v1/interactions/{id}/participants/{pid}/decline", summary="The colleague asked into a "
           "call says no (the asking agent is back with the customer at once)", tag="calls", role=Role.AGENT,
           status=204, errors=(404, 409), raw=True)
async def decline_participant(call: Call) -> web.StreamResponse:
    svc, iid, pid, actor = services(call.request), call.path("id"), call.path("pid"), call.actor
    await svc.db.write(lambda tx: decline_party(tx, iid, pid, actor=actor))
    return web.Response(status=204)


@api.route("POST", "/api/v1/interactions/{id}/monitor", summary="Supervisor: listen to a call, whisper to its "
           "agent or barge in (nobody is told)", tag="calls", role=Role.SUPERVISOR, body=MonitorBody, status=201,
           errors=(400, 404, 409, 422, 503),
           response={"type": "object", "required": ["monitor"], "properties": {"monitor": PARTY_OUT}})
async def post_monitor(call: Call) -> dict[str, Any]:
    svc, iid, b, actor = services(call.request), call.path("id"), call.body, call.actor
    await own_call(svc, iid, actor)  # 404 and 422 come before 503
    require_voice(svc)

    def op(tx: Any) -> dict[str, Any]:
        endpoint = b.endpoint or (agent_target(tx, actor.agent_id) if actor.agent_id else None)
        if endpoint is None:
            raise InvalidInput("say where to ring you: endpoint (a SIP URI), or use a token linked to your agent "
                               "with a phone", code="endpoint_required")
        kind: PartyKind = "browser" if endpoint == BROWSER else "sip"
        return dict(add_party(tx, iid, role="supervisor", kind=kind, target=endpoint, dial=endpoint, mode=b.mode,
                              actor=actor))

    return {"monitor": render_party(await svc.db.write(op))}


@api.route("PATCH", "/api/v1/interactions/{id}/monitor", summary="Supervisor: change your monitor mode",
           tag="calls", role=Role.SUPERVISOR, body=MonitorModeBody, errors=(404, 409),
           response={"type": "object", "properties": {"monitor": PARTY_OUT}})
async def patch_monitor(call: Call) -> dict[str, Any]:
    svc, iid, actor, mode = services(call.request), call.path("id"), call.actor, call.body.mode
    pid = await _my_monitor(svc, iid, actor)
    party = await svc.db.write(lambda tx: change_mode(tx, iid, pid, role="supervisor", mode=mode, actor=actor))
    return {"monitor": render_party(party)}


@api.route("DELETE", "/api/v1/interactions/{id}/monitor", summary="Supervisor: stop monitoring", tag="calls",
           role=Role.SUPERVISOR, status=204, errors=(404,), raw=True)
async def delete_monitor(call: Call) -> web.StreamResponse:
    svc, iid, actor = services(call.request), call.path("id"), call.actor
    pid = await _my_monitor(svc, iid, actor)
    await svc.db.write(lambda tx: drop_party(tx, iid, pid, role="supervisor", actor=actor))
    return web.Response(status=204)


async def own_call(svc: Services, interaction_id: str, actor: Actor) -> None:
    """404 for an unknown call, 403 for another agent's, 422 for a written conversation: in that order."""
    row = await svc.db.read(lambda c: get_row(c, INTERACTIONS, interaction_id, "interaction"))
    if actor.is_agent and row.agent_id != actor.agent_id:
        raise Forbidden("this call is not assigned to you", code="not_your_interaction")
    if row.channel != "voice":
        raise Unprocessable("this is for calls", code="channel_not_voice")


async def _my_monitor(svc: Services, interaction_id: str, actor: Actor) -> str:
    """The caller's own live monitor session on this call."""
    me = actor.agent_id or actor.user_id or actor.role.value

    def find(conn: Any) -> str:
        for party in list_parties(conn, interaction_id, monitors=True):
            if party["role"] == "supervisor" and party["state"] != "left" and party["requested_by"] == me:
                return str(party_of(conn, interaction_id, party["id"], "supervisor")["id"])
        raise NotFound("you are not monitoring this call", code="not_monitoring")

    return await svc.db.read(find)

