"""Interactions: list, get, start outbound, inbound custom-channel items, and the CTI verbs."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from cti import models
from cti.api import schemas as s
from cti.api.context import Services, services
from cti.api.framework import Api, Call, encoded_json_response
from cti.api.queries import get_row, page, require_case_access
from cti.api.reply_body import ReplyBody
from cti.call_control import VoiceControl
from cti.channels import ChannelDirectory
from cti.errors import Forbidden, InvalidInput, Unavailable, Unprocessable
from cti.services import render
from cti.services.actors import Actor, Role
from cti.services.identities import normalize_identity
from cti.services.inbound import InboundItem, ingest
from cti.services.interactions import CommandParams, apply_command
from cti.services.outbound import last_inbound, recipient_of, reply
from cti.services.outreach import start_outbound
from cti.services.parties import request_transfer
from cti.state import Command
from cti.surveys import offer as offer_survey

api = Api()
INTERACTIONS = models.interactions
ERRORS = (400, 403, 404, 409)


def channels(svc: Services) -> ChannelDirectory:
    """The channel directory of this server."""
    return svc.channels


@api.route("GET", "/api/v1/interactions", summary="List interactions", tag="interactions", role=Role.AGENT,
           query=s.InteractionsQuery, response=s.list_of(s.InteractionOut))
async def list_interactions(call: Call) -> dict[str, Any]:
    q = call.query
    filters = [getattr(INTERACTIONS.c, name) == getattr(q, name)
               for name in ("state", "channel", "agent_id", "case_id", "queue") if getattr(q, name) is not None]
    if call.actor.is_agent:
        filters.append(INTERACTIONS.c.agent_id == call.actor.agent_id)
    rows, nxt = await services(call.request).db.read(
        lambda c: page(c, INTERACTIONS, filters, limit=q.limit, after=q.after)
    )
    return {"items": [render.interaction(r) for r in rows], "next": nxt}


@api.route("GET", "/api/v1/interactions/{id}", summary="Get an interaction", tag="interactions", role=Role.AGENT,
           response=s.InteractionOut, errors=(403, 404))
async def get_interaction(call: Call) -> web.Response:
    actor, svc = call.actor, services(call.request)
    found = await svc.rendered_interactions.get(svc.db, call.path("id"))
    if actor.is_agent and found.agent_id != actor.agent_id:
        await svc.db.read(lambda conn: require_case_access(conn, actor, found.case_id))
    return encoded_json_response(found.body)


@api.route("POST", "/api/v1/inbound", summary="Custom-channel API: store an inbound message", tag="interactions",
           role=Role.SUPERVISOR, body=s.InboundBody, response=s.InboundOut, status=200, errors=(400,))
async def inbound(call: Call) -> dict[str, Any]:
    svc, b = services(call.request), call.body
    if svc.config.custom_channel(b.channel) is None:
        raise InvalidInput(f"{b.channel!r} is not a configured custom channel", code="unknown_channel",
                           details={"channel": "not configured in [[channels.custom]]"})
    kind, value = normalize_identity(b.from_.kind, b.from_.value)
    if b.queue is not None and svc.policies.current.queue(b.queue) is None:
        raise InvalidInput(f"unknown queue {b.queue!r}", code="unknown_queue", details={"queue": "unknown"})
    item = InboundItem(channel=b.channel, from_kind=kind, from_value=value, text=b.text, external_id=b.external_id,
                       thread_id=b.thread_id, subject=b.subject, name=b.name, language=b.language,
                       priority=b.priority, queue=b.queue)
    policy = svc.policies.current
    try:
        result = await svc.db.write(lambda tx: ingest(tx, item, policy))
    except IntegrityError:
        # Another node stored the same contact or message a moment ago: the retry finds it.
        result = await svc.db.write(lambda tx: ingest(tx, item, policy))
    return {"message": result.message, "interaction_id": result.interaction_id, "case_id": result.case_id,
            "contact_id": result.contact_id, "duplicate": not result.created}


@api.route("POST", "/api/v1/interactions", summary="Start an outbound interaction on any channel (MakeCall, email)",
           tag="interactions", role=Role.AGENT, body=s.InteractionCreate, status=201, errors=(400, 422, 503),
           response={"type": "object", "required": ["interaction"], "properties": {
               "interaction": {"$ref": "#/components/schemas/InteractionOut"},
               "message": {"$ref": "#/components/schemas/MessageOut"}}})
async def create_interaction(call: Call) -> dict[str, Any]:
    svc, b = services(call.request), call.body
    directory = channels(svc)
    info = directory.get(b.channel)
    if b.channel == "voice" and svc.call_control is None:
        raise Unprocessable("no voice connector is configured (see [connectors.sip] or [connectors.twilio])",
                            code="channel_not_configured", details={"channel": "voice"})
    if b.channel != "voice" and (info is None or not info.sends):
        raise Unprocessable(f"channel {b.channel!r} cannot send (not configured)", code="channel_not_configured",
                            details={"channel": b.channel})
    if isinstance(b.to, str):
        kind = directory.identity_kind(b.channel)
        if kind is None:
            raise InvalidInput("give 'to' as {kind, value} on this channel", details={"to": "needs kind"})
        kind, value = normalize_identity(kind, b.to, field="to")
    else:
        kind, value = normalize_identity(b.to.kind, b.to.value, field="to")
    policy = svc.policies.current
    text, subject, actor = b.text, b.subject, call.actor
    if text and not actor.is_agent and b.agent_id is None:
        raise InvalidInput("a first message needs an agent to own the interaction",
                           details={"agent_id": "required with text for non-agent tokens"})

    def op(tx: Any) -> dict[str, Any]:
        row = start_outbound(tx, actor=actor, channel=b.channel, kind=kind, value=value, subject=subject,
                             case_id=b.case_id, agent_id=b.agent_id, policy=policy)
        body: dict[str, Any] = {"interaction": render.interaction(row)}
        if text and info is not None:
            message = reply(tx, row["id"], actor=actor, text=text,
                            mode="private", channel=info, recipient={"kind": kind, "value": value})
            body["message"] = render.message(message)
        return body

    return await svc.db.write(op)


async def _command(call: Call, command: Command, params: CommandParams | None = None) -> dict[str, Any]:
    svc, iid, actor = services(call.request), call.path("id"), call.actor
    policy = svc.policies.current
    row = await svc.db.write(lambda tx: apply_command(tx, iid, command, actor=actor, policy=policy, params=params))
    return render.interaction(row)


def _verb(path: str, summary: str, command: Command) -> None:
    async def handler(call: Call) -> dict[str, Any]:
        return await _command(call, command)

    handler.__name__ = f"{command.value}_interaction"
    api.route("POST", f"/api/v1/interactions/{{id}}/{path}", summary=summary, tag="interactions", role=Role.AGENT,
              response=s.InteractionOut, errors=ERRORS)(handler)


_verb("accept", "Accept an offered interaction (offered -> active)", Command.ACCEPT)
_verb("hold", "Hold (a call: hold audio; written: waiting for the customer)", Command.HOLD)
_verb("resume", "Resume a held interaction", Command.RESUME)
_verb("end", "End (hang up a call, close a chat) -> wrapup", Command.END)


@api.route("POST", "/api/v1/interactions/{id}/reject", summary="Reject an offer; it goes to the next agent",
           tag="interactions", role=Role.AGENT, body=s.RejectBody, response=s.InteractionOut, errors=ERRORS)
async def reject(call: Call) -> dict[str, Any]:
    return await _command(call, Command.REJECT, CommandParams(reason=call.body.reason))


@api.route("POST", "/api/v1/interactions/{id}/wrapup", summary="Finish wrap-up with disposition and notes (and, "
           "where [surveys] asks, send the customer a satisfaction survey)",
           tag="interactions", role=Role.AGENT, body=s.WrapupBody, response=s.InteractionOut, errors=ERRORS)
async def wrapup(call: Call) -> dict[str, Any]:
    svc, iid, actor = services(call.request), call.path("id"), call.actor
    policy, params = svc.policies.current, CommandParams(disposition=call.body.disposition, notes=call.body.notes)
    public_url = svc.config.server.resolved_public_url()

    def op(tx: Any) -> Any:
        row = apply_command(tx, iid, Command.WRAPUP, actor=actor, policy=policy, params=params)
        offer_survey(tx, row, settings=svc.config.surveys, channels=svc.channels, public_url=public_url)
        return row

    return render.interaction(await svc.db.write(op))


@api.route("POST", "/api/v1/interactions/{id}/abandon", summary="Record that the customer left (queued|offered)",
           tag="interactions", role=Role.SUPERVISOR, body=s.AbandonBody, response=s.InteractionOut, errors=ERRORS)
async def abandon(call: Call) -> dict[str, Any]:
    return await _command(call, Command.ABANDON, CommandParams(reason=call.body.reason))


@api.route("POST", "/api/v1/interactions/{id}/transfer", summary="Transfer to an agent, a queue or (calls) a number",
           tag="interactions", role=Role.AGENT, body=s.TransferBody, response=s.InteractionOut,
           errors=(*ERRORS, 422, 503))
async def transfer(call: Call) -> dict[str, Any]:
    b = call.body
    if b.participant_id is not None:  # attended: the consulted party takes the caller, the agent leaves
        svc, iid, pid, actor = services(call.request), call.path("id"), b.participant_id, call.actor
        await _call_control(svc, iid, actor)
        await svc.db.write(lambda tx: request_transfer(tx, iid, pid, actor=actor))
        row = await svc.db.read(lambda c: get_row(c, INTERACTIONS, iid, "interaction"))
        return render.interaction(row)
    if b.number is not None:
        svc, iid = services(call.request), call.path("id")
        control = await _call_control(svc, iid, call.actor)
        await control.transfer_to_number(iid, b.number, actor=call.actor)
        row = await svc.db.read(lambda c: get_row(c, INTERACTIONS, iid, "interaction"))
        return render.interaction(row)  # still active: the agent keeps the caller until the number answers
    if b.agent_id is not None:
        return await _command(call, Command.TRANSFER_TO_AGENT, CommandParams(agent_id=b.agent_id))
    return await _command(call, Command.TRANSFER_TO_QUEUE, CommandParams(queue=b.queue))


@api.route("POST", "/api/v1/interactions/{id}/dtmf", summary="Send DTMF digits on a call", tag="interactions",
           role=Role.AGENT, body=s.DtmfBody, errors=(*ERRORS, 422, 503),
           response={"type": "object", "properties": {"sent": {"type": "string"}}})
async def dtmf(call: Call) -> dict[str, Any]:
    svc, iid = services(call.request), call.path("id")
    await (await _call_control(svc, iid, call.actor)).send_dtmf(iid, call.body.digits, actor=call.actor)
    return {"sent": call.body.digits.upper()}


async def _call_control(svc: Services, interaction_id: str, actor: Actor) -> VoiceControl:
    """The voice connector's handle. The command checks the interaction in its own transaction
    (404, 403, 422, 409, in that order); without a connector the same 404, 403 and 422 still come
    before the 503."""
    control = svc.call_control
    if control is not None:
        return control
    row = await svc.db.read(lambda c: get_row(c, INTERACTIONS, interaction_id, "interaction"))
    if actor.is_agent and row.agent_id != actor.agent_id:
        raise Forbidden("this interaction is not assigned to you", code="not_your_interaction")
    if row.channel != "voice":
        raise Unprocessable("this is for calls", code="channel_not_voice")
    raise Unavailable("no voice connector is configured", code="connector_unavailable")


@api.route("POST", "/api/v1/interactions/{id}/messages", summary="Reply on the interaction's own channel",
           tag="interactions", role=Role.AGENT, body=ReplyBody, response=s.MessageOut, status=202,
           errors=(*ERRORS, 422))
async def post_message(call: Call) -> dict[str, Any]:
    svc, iid, actor, b = services(call.request), call.path("id"), call.actor, call.body
    directory = channels(svc)

    def op(tx: Any) -> Any:
        channel = tx.conn.execute(sa.select(INTERACTIONS.c.channel).where(INTERACTIONS.c.id == iid)).scalar()
        info = directory.get(channel) if channel else None
        return reply(tx, iid, actor=actor, text=b.text, mode=b.mode, channel=info, approval=svc.config.approval,
                     recipient=recipient_of(tx, iid, prefer=info.identity_kind if info else None),
                     template=b.template.model_dump() if b.template else None,
                     media=b.media.model_dump(exclude_none=True) if b.media else None)

    return render.message(await svc.db.write(op))


MESSAGES_OUT = s.list_of(s.MessageOut)
MESSAGES_OUT["properties"]["templates"] = {
    "type": "object", "additionalProperties": {"type": "integer"},
    "description": "the approved templates a reply may send (mode template): name -> how many body parameters"}
MESSAGES_OUT["properties"]["sends_media"] = {
    "type": "boolean", "description": "a reply may carry a file by link (media {url, type})"}
MESSAGES_OUT["properties"]["live_marks"] = {
    "type": "boolean", "description": "the customer sees the agent typing and having read (the web chat): "
                                      "the desk sends POST .../typing and .../read"}
MESSAGES_OUT["properties"]["reply_modes"] = {
    "type": "array", "items": {"enum": ["private", "public", "template"]},
    "description": "the reply modes of this conversation now (public: the network has public replies and there "
                   "is a public post to answer)"}


@api.route("GET", "/api/v1/interactions/{id}/messages", summary="Messages of an interaction, and the reply modes "
           "it has now", tag="interactions", role=Role.AGENT, response=MESSAGES_OUT, errors=(403, 404))
async def list_messages(call: Call) -> dict[str, Any]:
    iid, actor = call.path("id"), call.actor
    directory = channels(services(call.request))

    def read(conn: Any) -> dict[str, Any]:
        row = get_row(conn, INTERACTIONS, iid, "interaction")
        if actor.is_agent and row.agent_id != actor.agent_id:
            require_case_access(conn, actor, row.case_id)
        rows = conn.execute(sa.select(models.messages).where(models.messages.c.interaction_id == iid)
                            .order_by(models.messages.c.created_at).limit(1000)).all()
        info = directory.get(row.channel)
        modes = info.reply_modes(last_inbound(conn, iid), time.time()) if info else ["private"]
        return {"items": [render.message(m) for m in rows], "next": None, "reply_modes": modes,
                "templates": dict(info.templates) if info else {},
                "live_marks": bool(info and info.identity_kind == "webchat"),
                "sends_media": bool(info and info.sends_media)}

    return await services(call.request).db.read(read)
