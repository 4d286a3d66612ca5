"""What an agent's desk says about a written conversation besides replies: typing, having read the
customer's messages, and the files customers sent.

``typing`` and ``read`` become events (``message.chat_state`` from the agent, ``message.read`` of
the customer's message) that channels able to show them pass on: the web chat widget shows "Anna is
typing" and "Read". Only the agent holding the interaction may say either. An attachment is served
to whoever may read its case, as a download (never rendered by the browser as a page).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import Field

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row, require_case_access
from cti.api.schemas import Body
from cti.errors import Forbidden, NotFound
from cti.events import Event, EventType
from cti.services import render
from cti.services.actors import Actor, Role
from cti.services.rows import Record, fetch_one, update_row
from cti.storage.db import Tx

api = Api()
INTERACTIONS, MESSAGES = models.interactions, models.messages
ERRORS = (400, 403, 404)


class TypingMark(Body):
    state: Literal["composing", "paused"]


class ReadMark(Body):
    message_id: str = Field(pattern=r"^msg_[0-9a-f]{27}$", description="the newest customer message the agent has seen")


def _held_by(tx: Tx, interaction_id: str, actor: Actor) -> Any:
    row = get_row(tx.conn, INTERACTIONS, interaction_id, "interaction")
    if actor.is_agent and row.agent_id != actor.agent_id:
        raise Forbidden("this interaction is not assigned to you", code="not_your_interaction")
    return row


@api.route("POST", "/api/v1/interactions/{id}/typing", summary="The agent is typing (or stopped): message.chat_state",
           tag="interactions", role=Role.AGENT, body=TypingMark, status=204, errors=ERRORS)
async def agent_typing(call: Call) -> None:
    iid, actor, state = call.path("id"), call.actor, call.body.state

    def op(tx: Tx) -> None:
        row = _held_by(tx, iid, actor)
        tx.emit(Event.make(EventType.MESSAGE_CHAT_STATE, case_id=row.case_id, interaction_id=row.id,
                           agent_id=row.agent_id, queue=row.queue,
                           data={"state": state, "from": {"kind": "agent", "value": row.agent_id or "supervisor"},
                                 "channel": row.channel}))

    await services(call.request).db.write(op)


@api.route("POST", "/api/v1/interactions/{id}/read", summary="The agent has read the customer's messages up to "
           "this one: message.read (once per message)", tag="interactions", role=Role.AGENT, body=ReadMark,
           status=204, errors=ERRORS)
async def agent_read(call: Call) -> None:
    iid, actor, message_id = call.path("id"), call.actor, call.body.message_id

    def op(tx: Tx) -> None:
        _held_by(tx, iid, actor)
        message = fetch_one(tx.conn, MESSAGES, message_id, what="message")
        if message["interaction_id"] != iid or message["direction"] != "inbound":
            raise NotFound("no such customer message on this interaction", code="message_not_found")
        meta = dict(message["meta"] or {})
        if meta.get("read_at"):
            return
        meta["read_at"] = tx.now
        update_row(tx.conn, MESSAGES, message, {"meta": meta})
        row = tx.conn.execute(sa.select(INTERACTIONS.c.agent_id, INTERACTIONS.c.queue)
                              .where(INTERACTIONS.c.id == iid)).first()
        tx.emit(Event.make(EventType.MESSAGE_READ, case_id=message["case_id"], interaction_id=iid,
                           agent_id=row.agent_id if row else None, queue=row.queue if row else None,
                           data={"message": render.message(Record({**message, "meta": meta}))}))

    await services(call.request).db.write(op)


@api.route("GET", "/api/v1/messages/{id}/attachments/{n}", summary="Download a file a customer sent",
           tag="interactions", role=Role.AGENT, raw=True, errors=(403, 404))
async def attachment(call: Call) -> web.StreamResponse:
    svc, message_id, actor = services(call.request), call.path("id"), call.actor
    number = call.path("n")
    if not re.fullmatch(r"[0-9]{1,3}", number):
        raise NotFound("no such attachment", code="attachment_not_found")

    def read(conn: Any) -> Any:
        message = get_row(conn, MESSAGES, message_id, "message")
        require_case_access(conn, actor, message.case_id)
        return message

    message = await svc.db.read(read)
    files = message.attachments or []
    index = int(number)
    stored = files[index].get("stored") if index < len(files) else None
    path = await asyncio.to_thread(_kept_file, svc.config.server.data_dir, stored)
    if path is None:
        raise NotFound("this attachment's content was not kept", code="attachment_not_found")
    name = re.sub(r"[^\w.\- ]+", "_", str(files[index].get("filename") or "file"))[:120] or "file"
    return web.FileResponse(path, headers={
        "Content-Type": "application/octet-stream", "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox", "Cache-Control": "private"})


def _kept_file(data_dir: str, stored: str | None) -> Path | None:
    """The attachment's file, when it is one under the data folder's attachments."""
    if not stored:
        return None
    root = Path(data_dir).resolve()
    path = (root / stored).resolve()
    return path if path.is_relative_to(root / "attachments") and path.is_file() else None
