"""The pivot part of the CTI API: mint (and send) links, list and revoke them, follow callbacks."""

from __future__ import annotations

import time
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row, page
from cti.api.schemas import Page
from cti.errors import Forbidden, Unprocessable
from cti.services.actors import Role
from pivot.callbacks import render_callback
from pivot.links import MintRequest, mint_link, render_link, revoke_link
from pivot.pages import site

api = Api()
PIVOT_LINKS, CALLBACKS, INTERACTIONS = models.pivot_links, models.callbacks, models.interactions

LINK_DOC = {"type": "object", "required": ["id", "status", "to", "case_id", "expires_at"], "properties": {
    "id": {"type": "string"}, "status": {"enum": ["active", "used", "expired", "revoked"]},
    "url": {"type": "string", "description": "only in the answer that minted the link (the token is not stored)"},
    "to": {"type": "string"}, "channel": {"type": "string"}, "case_id": {"type": "string"},
    "expires_at": {"type": "string"}, "uses": {"type": "integer"}, "max_uses": {"type": "integer"}}}
CALLBACK_DOC = {"type": "object", "required": ["id", "state", "number_masked", "case_id"], "properties": {
    "id": {"type": "string"}, "state": {"enum": ["scheduled", "routing", "dialing", "connected", "completed",
                                                  "failed"]},
    "number": {"type": "string"}, "number_masked": {"type": "string"}, "case_id": {"type": "string"},
    "attempts": {"type": "integer"}, "history": {"type": "array"}}}


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": item},
                                                                    "next": {"type": ["string", "null"]}}}


class PivotBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["callback", "voice", "email", "chat"] = "callback"
    send: bool = False
    mode: Literal["private", "public"] = "private"
    expires_in: int | None = Field(default=None, ge=60, le=30 * 86_400, description="seconds (default 24 h)")
    max_uses: int | None = Field(default=None, ge=1, le=100, description="redeems allowed (default 1)")


class PivotLinksQuery(Page):
    case_id: str | None = Field(default=None, max_length=40)
    source_interaction_id: str | None = Field(default=None, max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)


class CallbacksQuery(Page):
    state: Literal["scheduled", "routing", "dialing", "connected", "completed", "failed"] | None = None
    case_id: str | None = Field(default=None, max_length=40)
    agent_id: str | None = Field(default=None, max_length=40)


@api.route("POST", "/api/v1/interactions/{id}/pivot", summary="Mint a pivot link (and send it to the customer)",
           tag="pivot", role=Role.AGENT, body=PivotBody, status=201, errors=(400, 403, 404, 409, 422),
           response={"type": "object", "required": ["pivot_link"], "properties": {
               "pivot_link": LINK_DOC, "message": {"$ref": "#/components/schemas/MessageOut"}}})
async def pivot_interaction(call: Call) -> dict[str, Any]:
    svc, b, iid, actor = services(call.request), call.body, call.path("id"), call.actor
    request = MintRequest(to=b.to, send=b.send, mode=b.mode, expires_in=b.expires_in, max_uses=b.max_uses)
    directory, public_url = svc.channels, svc.config.server.resolved_public_url()
    settings = site(call.request).settings
    if b.to == "chat" and directory.first_of_kind("webchat") is None:
        raise Unprocessable("a pivot to chat needs the web chat ([channels.webchat]), and none is configured",
                            code="pivot_target_unavailable", details={"to": "[channels.webchat]"})

    def op(tx: Any) -> dict[str, Any]:
        channel = tx.conn.execute(sa.select(INTERACTIONS.c.channel).where(INTERACTIONS.c.id == iid)).scalar()
        return mint_link(tx, iid, request, actor=actor, config=settings, public_url=public_url,
                         reach=svc.voice_reach, approval=svc.config.approval,
                         channel=directory.get(channel) if channel else None)

    return await svc.db.write(op)


@api.route("GET", "/api/v1/pivot-links", summary="List pivot links", tag="pivot", role=Role.AGENT,
           query=PivotLinksQuery, response=_page_of(LINK_DOC))
async def list_pivot_links(call: Call) -> dict[str, Any]:
    q, now = call.query, time.time()
    filters = [
        getattr(PIVOT_LINKS.c, name) == getattr(q, name)
        for name in ("case_id", "source_interaction_id", "agent_id")
        if getattr(q, name) is not None
    ]
    if call.actor.is_agent:
        filters.append(PIVOT_LINKS.c.agent_id == call.actor.agent_id)
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, PIVOT_LINKS, filters, limit=q.limit, after=q.after)
    )
    return {"items": [render_link(r, now) for r in rows], "next": nxt}


@api.route("GET", "/api/v1/pivot-links/{id}", summary="Inspect a pivot link", tag="pivot", role=Role.AGENT,
           response=LINK_DOC, errors=(403, 404))
async def get_pivot_link(call: Call) -> dict[str, Any]:
    row = await services(call.request).db.read(lambda c: get_row(c, PIVOT_LINKS, call.path("id"), "pivot_link"))
    if call.actor.is_agent and row.agent_id != call.actor.agent_id:
        raise Forbidden("this link is not yours", code="not_your_pivot_link")
    return render_link(row, time.time())


@api.route("DELETE", "/api/v1/pivot-links/{id}", summary="Revoke a pivot link", tag="pivot", role=Role.AGENT,
           response=LINK_DOC, errors=(403, 404))
async def revoke_pivot_link(call: Call) -> dict[str, Any]:
    link_id, actor = call.path("id"), call.actor
    return await services(call.request).db.write(lambda tx: revoke_link(tx, link_id, actor=actor))


@api.route("GET", "/api/v1/callbacks", summary="Callbacks with their attempts and state", tag="pivot",
           role=Role.AGENT, query=CallbacksQuery, response=_page_of(CALLBACK_DOC))
async def list_callbacks(call: Call) -> dict[str, Any]:
    q = call.query
    filters = [getattr(CALLBACKS.c, name) == getattr(q, name) for name in ("state", "case_id", "agent_id")
               if getattr(q, name) is not None]
    if call.actor.is_agent:
        filters.append(CALLBACKS.c.agent_id == call.actor.agent_id)
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, CALLBACKS, filters, limit=q.limit, after=q.after)
    )
    return {"items": [render_callback(r) for r in rows], "next": nxt}


@api.route("GET", "/api/v1/callbacks/{id}", summary="One callback", tag="pivot", role=Role.AGENT,
           response=CALLBACK_DOC, errors=(403, 404))
async def get_callback(call: Call) -> dict[str, Any]:
    row = await services(call.request).db.read(lambda c: get_row(c, CALLBACKS, call.path("id"), "callback"))
    if call.actor.is_agent and row.agent_id != call.actor.agent_id:
        raise Forbidden("this callback is not yours", code="not_your_callback")
    return render_callback(row)
