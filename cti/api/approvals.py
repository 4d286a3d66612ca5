"""Public replies held for approval: the list and a supervisor's decision (cti/services/approvals.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cti.api.context import services
from cti.api.framework import Api, Call
from cti.services import render
from cti.services.actors import Role
from cti.services.approvals import decide, held_replies

api = Api()
HELD_OUT = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
    "type": "object", "description": "a held reply (a message) with its interaction's queue and state"}}}}


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    text: str | None = Field(default=None, min_length=1, max_length=100_000,
                             description="approve: the reply as edited by the supervisor")
    reason: str | None = Field(default=None, max_length=1000, description="reject: why (the agent reads it)")


@api.route("GET", "/api/v1/approvals", summary="Public replies waiting for a supervisor's decision, oldest first",
           tag="stats", role=Role.SUPERVISOR, response=HELD_OUT)
async def list_held(call: Call) -> dict[str, Any]:
    return {"items": await services(call.request).db.read(held_replies)}


@api.route("POST", "/api/v1/approvals/{message_id}", summary="Approve (as written or edited) or reject a held "
           "reply", tag="stats", role=Role.SUPERVISOR, body=DecisionBody, errors=(400, 404, 409),
           response={"type": "object", "description": "the message as it is now"})
async def post_decision(call: Call) -> dict[str, Any]:
    b = call.body
    message = await services(call.request).db.write(lambda tx: decide(
        tx, call.path("message_id"), actor=call.actor, decision=b.decision, text=b.text, reason=b.reason))
    return render.message(message)
