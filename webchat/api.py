"""The web chat's HTTP routes (``/chat/...``): the widget script, sessions, the conversation over
plain HTTP, typing and read marks, and the ways on from a chat (email, a callback).

Every route but the script and ``/chat/v1/status`` acts for one visitor, named by the visitor
token (``Authorization: Bearer``); what a token reaches is that visitor's conversation only. The
live conversation is the WebSocket (``webchat/socket.py``); attachments and voice have their own
modules. Visitors' texts are stored as plain text and shown as text everywhere (the widget and
the desk set ``textContent``), never as HTML.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import Field

from connectors.base import Attachment, DeliveryUpdate, InboundMessage, Received
from cti import models
from cti.api.context import Services, services
from cti.api.framework import Api, Call
from cti.api.schemas import Body
from cti.errors import InvalidInput, NotFound, RateLimited, Unprocessable
from cti.events import EventType
from cti.services import render
from cti.services.actors import SYSTEM
from pivot.callbacks import request_callback
from pivot.hours import parse_choice
from pivot.links import MintRequest, find_link, mint_link
from pivot.numbers import NumberRefused, check_callback_number
from pivot.pages import PIVOT_SITE
from webchat import i18n
from webchat.email import continue_by_email
from webchat.frames import message_frame, replay
from webchat.site import availability, site, visitor_of
from webchat.visitors import (
    Start,
    Visitor,
    case_of,
    email_for,
    moved_to_case,
    start_pivot_visitor,
    start_visitor,
)

api = Api()
TAG = "web chat (visitors)"
CLIENT_ID = r"^[A-Za-z0-9_-]{1,64}$"
MESSAGE_ID = re.compile(r"^msg_[0-9a-f]{27}$")
MESSAGES, INTERACTIONS, EVENTS = models.messages, models.interactions, models.events


class SessionBody(Body):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    pivot_token: str | None = Field(default=None, max_length=100, description="a pivot link to chat: continue its case")


class ChatMessageBody(Body):
    text: str = Field(min_length=1, max_length=20_000)
    client_id: str = Field(pattern=CLIENT_ID, description="the widget's own id: a resend is stored once")


class SinceQuery(Body):
    since: int = Field(default=0, ge=0)


class TypingBody(Body):
    state: Literal["composing", "paused"]


class ReadBody(Body):
    id: str = Field(pattern=MESSAGE_ID.pattern, description="the agent's message the visitor has seen")


class ChatEmailBody(Body):
    email: str = Field(min_length=3, max_length=254)
    text: str | None = Field(default=None, max_length=20_000, description="the question, when not written yet")


class ChatCallbackBody(Body):
    phone: str = Field(min_length=3, max_length=40)
    when: str = Field(default="now", max_length=40, description="now, or one of the offered times (ISO 8601)")


@api.route("GET", "/chat/widget.js", summary="The embeddable chat widget (one script tag on an allowed page)",
           tag=TAG, role=None, raw=True)
async def widget_script(call: Call) -> web.StreamResponse:
    widget = site(call.request).widget
    request = call.request
    headers = {"Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "public, max-age=300",
               "ETag": widget.etag, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding",
               "Cross-Origin-Resource-Policy": "cross-origin"}
    if request.headers.get("If-None-Match") == widget.etag:
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=widget.gzipped, headers={**headers, "Content-Encoding": "gzip"})
    return web.Response(body=widget.body, headers=headers)


async def preflight(call: Call) -> web.StreamResponse:
    """CORS preflight: an allowed page may send what the widget sends (the headers: ``site.add_cors``)."""
    site(call.request).check_origin(call.request, required=True)
    return web.Response(status=204)


def _preflight_of(path: str) -> Any:
    async def handler(call: Call) -> web.StreamResponse:
        return await preflight(call)

    handler.__name__ = f"preflight_{path}"  # (each operation has its own id)
    return handler


for _path in ("sessions", "status", "messages", "typing", "read", "email", "callback", "voice", "attachments"):
    api.route("OPTIONS", f"/chat/v1/{_path}", summary="CORS preflight for the widget's requests", tag=TAG,
              role=None, raw=True, errors=(403,))(_preflight_of(_path))


@api.route("GET", "/chat/v1/status", summary="Whether someone can chat now, and the other ways on", tag=TAG,
           role=None, errors=(404,))
async def status(call: Call) -> dict[str, Any]:
    site(call.request).check_origin(call.request)
    return await availability(call.request)


@api.route("POST", "/chat/v1/sessions", summary="Start (or, with the visitor's token, resume) a conversation; "
           "the page's Origin must be allowed", tag=TAG, role=None, body=SessionBody, status=201,
           errors=(400, 403, 404, 410, 429))
async def start_session(call: Call) -> dict[str, Any]:
    request, body = call.request, call.body
    chat, svc = site(request), services(request)
    origin = chat.check_origin(request, required=True)
    if request.headers.get("Authorization"):
        visitor = await visitor_of(request)  # (resume: the same conversation, the same token)
        return {"visitor_token": request.headers["Authorization"][7:].strip(), "conversation_id": visitor.id,
                "resumed": True, **await availability(request)}
    wait = chat.sessions.take(chat.client(request), time.monotonic())
    if wait is not None:
        raise RateLimited("too many conversations started from this address; wait a while", retry_after=wait)
    start = Start(origin=origin, name=(body.name or "").strip() or None, email=(body.email or "").strip() or None,
                  language=body.language)
    days = chat.settings.visitor_days
    if body.pivot_token:
        link = await svc.db.read_point(lambda c: find_link(c, body.pivot_token))
        if link is None:
            raise NotFound("no such link", code="pivot_link_not_found")
        policy, name = svc.policies.current, chat.settings.name
        token, visitor = await svc.db.write(lambda tx: start_pivot_visitor(tx, link.id, start, channel=name,
                                                                           days=days, policy=policy))
    else:
        token, visitor = await svc.db.write(lambda tx: start_visitor(tx, start, days=days))
    return {"visitor_token": token, "conversation_id": visitor.id, "resumed": False, **await availability(request)}


async def post_message(request: web.Request, visitor: Visitor, text: str, client_id: str,
                       attachments: tuple[Attachment, ...] = ()) -> Received:
    """Store a visitor's message (once per client_id) on their conversation (its frame reaches the
    visitor's sockets through the stream; ``stored_frame`` builds it for an HTTP answer)."""
    chat, svc = site(request), services(request)
    limit = chat.settings.max_message_chars
    if len(text) > limit:
        raise InvalidInput(f"a message is at most {limit} characters", code="message_too_long",
                           details={"text": "too long"})
    if not text.strip() and not attachments:
        raise InvalidInput("the message is empty", details={"text": "required"})
    chat.limit_message(visitor.id, chat.client(request))
    case_id = await svc.db.read_point(lambda c: case_of(c, visitor.id))
    received = await svc.connectors.gateway(chat.settings.name).receive(InboundMessage(
        sender_kind="webchat", sender=visitor.id, text=text, external_id=f"{visitor.id}:{client_id}",
        thread_id=visitor.id, case_hint=case_id, attachments=attachments))
    if received.case_id != case_id:
        await svc.db.write(lambda tx: moved_to_case(tx, visitor.id, received.case_id))
        chat.hub.move(visitor.id, received.case_id)
    return received


async def stored_frame(svc: Services, received: Received) -> dict[str, Any]:
    """The frame of a stored visitor message, with its event's seq (the HTTP routes answer it)."""
    message_id, interaction_id = received.message_id, received.interaction_id

    def read(conn: Any) -> tuple[Any, int]:
        row = conn.execute(sa.select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
        seqs = conn.execute(sa.select(EVENTS.c.seq, EVENTS.c.data).where(
            EVENTS.c.interaction_id == interaction_id, EVENTS.c.type == EventType.MESSAGE_RECEIVED.value)
            .order_by(EVENTS.c.seq.desc()).limit(50)).all()
        seq = next((r.seq for r in seqs if ((r.data or {}).get("message") or {}).get("id") == message_id), 0)
        return row, seq

    row, seq = await svc.db.read(read)
    return message_frame(seq, render.message(row), None) or {}


@api.route("POST", "/chat/v1/messages", summary="Send a message (plain HTTP; client_id makes a resend idempotent)",
           tag=TAG, role=None, body=ChatMessageBody, status=201, errors=(400, 401, 403, 404, 429))
async def send_message(call: Call) -> dict[str, Any]:
    site(call.request).check_origin(call.request)
    visitor = await visitor_of(call.request)
    received = await post_message(call.request, visitor, call.body.text, call.body.client_id)
    return await stored_frame(services(call.request), received)


@api.route("GET", "/chat/v1/messages", summary="The conversation after since= (plain HTTP)", tag=TAG, role=None,
           query=SinceQuery, errors=(400, 401, 403, 404))
async def read_messages(call: Call) -> dict[str, Any]:
    chat, svc = site(call.request), services(call.request)
    chat.check_origin(call.request)
    visitor = await visitor_of(call.request)
    upto = svc.bus.last_seq
    items = []
    if visitor.case_id:  # (read with the token: current)
        for event in await replay(svc.db, visitor.case_id, call.query.since, upto):
            frame = await chat.translator.frame(event)
            if frame is not None:
                items.append(frame)
    return {"items": items, "seq": max(upto, call.query.since)}


@api.route("POST", "/chat/v1/typing", summary="The visitor is typing (or stopped)", tag=TAG, role=None,
           body=TypingBody, status=204, errors=(400, 401, 403, 404))
async def typing(call: Call) -> None:
    site(call.request).check_origin(call.request)
    await visitor_typing(call.request, await visitor_of(call.request), call.body.state)


async def visitor_typing(request: web.Request, visitor: Visitor, state: str) -> None:
    chat = site(request)
    await services(request).connectors.gateway(chat.settings.name).chat_state("webchat", visitor.id, state)


@api.route("POST", "/chat/v1/read", summary="The visitor has seen an agent's message (message.read)", tag=TAG,
           role=None, body=ReadBody, status=204, errors=(400, 401, 403, 404))
async def read_mark(call: Call) -> None:
    site(call.request).check_origin(call.request)
    await visitor_read(call.request, await visitor_of(call.request), call.body.id)


async def visitor_read(request: web.Request, visitor: Visitor, message_id: str) -> None:
    """Mark an agent's message read, when it is on the visitor's own conversation (else 404)."""
    chat, svc = site(request), services(request)
    if not MESSAGE_ID.match(message_id):
        raise InvalidInput("not a message id", details={"id": "shape"})
    row = await svc.db.read(lambda c: c.execute(sa.select(MESSAGES.c.case_id, MESSAGES.c.external_id).where(
        MESSAGES.c.id == message_id, MESSAGES.c.channel == chat.settings.name,
        MESSAGES.c.direction == "outbound")).first())
    case_id = await svc.db.read_point(lambda c: case_of(c, visitor.id))
    if row is None or row.case_id != case_id or not row.external_id:
        raise NotFound("no such message in this conversation", code="message_not_found")
    await svc.connectors.gateway(chat.settings.name).delivery_update(DeliveryUpdate(row.external_id, "read"))


async def live_interaction(svc: Services, visitor: Visitor, channel: str) -> str:
    """The visitor's newest chat interaction (its pivots hang on it); 409 before the first message."""
    found = await svc.db.read(lambda c: c.execute(sa.select(INTERACTIONS.c.id).where(
        INTERACTIONS.c.channel == channel, INTERACTIONS.c.thread_key == visitor.id)
        .order_by(INTERACTIONS.c.created_at.desc()).limit(1)).scalar())
    if found is None:
        raise Unprocessable("write a first message, then choose how to go on", code="conversation_not_started")
    return str(found)


@api.route("POST", "/chat/v1/email", summary="Continue by email (nobody can chat now): the case goes on by email",
           tag=TAG, role=None, body=ChatEmailBody, status=201, errors=(400, 401, 403, 404, 422, 429))
async def to_email(call: Call) -> dict[str, Any]:
    request, body = call.request, call.body
    chat, svc = site(request), services(request)
    chat.check_origin(request)
    visitor = await visitor_of(request)
    email = svc.channels.first_of_kind("email")
    if email is None:
        raise Unprocessable("email is not configured here", code="channel_not_configured", details={"channel": "email"})
    if body.text and body.text.strip():
        await post_message(request, visitor, body.text, f"email-{int(time.time())}")
    case_id = await svc.db.read_point(lambda c: case_of(c, visitor.id))
    if not case_id:
        raise Unprocessable("write your question first", code="conversation_not_started")
    policy = svc.policies.current
    text = i18n.text(visitor.language, "email_first", company=chat.settings.company_name)

    def op(tx: Any) -> dict[str, Any]:
        address = email_for(tx, visitor, body.email)
        row = continue_by_email(tx, visitor, case_id, address=address, email=email, chat_channel=chat.settings.name,
                                policy=policy, text=text)
        return {"interaction_id": row["id"], "email": address}

    return await svc.db.write(op)


@api.route("POST", "/chat/v1/callback", summary="Ask for a callback on the same case (phone, when=now|a time)",
           tag=TAG, role=None, body=ChatCallbackBody, status=201, errors=(400, 401, 403, 404, 409, 422, 429))
async def to_callback(call: Call) -> dict[str, Any]:
    request, body = call.request, call.body
    chat, svc = site(request), services(request)
    chat.check_origin(request)
    visitor = await visitor_of(request)
    pivot = request.app[PIVOT_SITE]
    if not svc.voice_reach.calls:
        raise Unprocessable("callbacks need a voice connector, and none is configured",
                            code="pivot_target_unavailable")
    try:
        number = check_callback_number(body.phone, pivot.settings).e164
    except NumberRefused as exc:
        raise InvalidInput(str(exc), code=exc.code, details={"phone": exc.code}) from exc
    due_at = None if body.when == "now" else parse_choice(body.when, pivot.settings, time.time())
    if body.when != "now" and due_at is None:
        raise InvalidInput("not one of the offered times", code="invalid_time", details={"when": "not offered"})
    interaction_id = await live_interaction(svc, visitor, chat.settings.name)
    client, public_url = pivot.client(request), svc.config.server.resolved_public_url()

    def op(tx: Any) -> dict[str, Any]:
        link = mint_link(tx, interaction_id, MintRequest(to="callback", max_uses=1), actor=SYSTEM,
                         config=pivot.settings, public_url=public_url, channel=None, reach=svc.voice_reach)
        callback = request_callback(tx, link["pivot_link"]["id"], number=number, due_at=due_at, client=client,
                                    config=pivot.settings)
        return {"callback_id": callback["id"], "number": number, "scheduled": due_at is not None}

    return await svc.db.write(op)
