"""What the visitor's widget receives: the event log, seen from the visitor's side.

The conversation is the web chat part of the visitor's case: its messages (``message.received``
from the visitor, ``message.sent`` from agents), an agent joining (``interaction.accepted``) or
leaving (``interaction.transferred``), the chat or a call ending (``interaction.wrapup``), the
agent typing (``message.chat_state`` from an agent) and reading (``message.read`` of the
visitor's message), and an agent's invitation to talk (a pivot link sent on the chat: the widget
offers its own buttons, no link needed). Every frame but typing carries the event's ``seq``: a
widget that reconnects with ``since=`` gets what it missed from the log, in order, and nothing
twice. Nothing else of the case (notes, other channels, internal events) ever becomes a frame.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cti import models
from cti.bus import row_to_event
from cti.events import Event, EventType
from cti.storage.db import Database
from pivot.links import STORED_TOKEN

EVENTS, AGENTS = models.events, models.agents
SHOWN = (EventType.MESSAGE_RECEIVED, EventType.MESSAGE_SENT, EventType.MESSAGE_READ, EventType.INTERACTION_ACCEPTED,
         EventType.INTERACTION_TRANSFERRED, EventType.INTERACTION_WRAPUP, EventType.PIVOT_CREATED)
REPLAY_LIMIT = 500
INVITES = ("voice", "callback")


def client_id_of(external_id: str | None) -> str | None:
    """The widget's own id of a visitor message (kept in its external id ``<visitor>:<client id>``)."""
    if not external_id or ":" not in external_id:
        return None
    return external_id.split(":", 1)[1]


def message_frame(seq: int, message: dict[str, Any], agent_name: str | None) -> dict[str, Any] | None:
    inbound = message["direction"] == "inbound"
    text = message.get("text") or ""
    if not inbound and (f"/p/{STORED_TOKEN}" in text or f"/s/{STORED_TOKEN}" in text):
        return None  # a link whose token is kept only for its network: the widget offers its own buttons

    frame: dict[str, Any] = {"type": "message", "seq": seq, "id": message["id"],
                             "from": "visitor" if inbound else "agent", "text": text,
                             "at": message["created_at"]}
    if inbound:
        frame["client_id"] = client_id_of(message.get("external_id"))
    else:
        frame["agent"] = agent_name
    attachments = message.get("attachments") or []
    if attachments:
        frame["attachments"] = [{"filename": a.get("filename"), "content_type": a.get("content_type"),
                                 "size": a.get("size"), "kept": bool(a.get("stored"))} for a in attachments]
    return frame


class Translator:
    """Turns one visitor's events into frames (agents' first names read once and remembered)."""

    def __init__(self, db: Database, channel: str) -> None:
        self.db, self.channel = db, channel
        self._names: dict[str, str] = {}

    async def name(self, agent_id: str | None) -> str | None:
        if not agent_id:
            return None
        if agent_id not in self._names:
            full = await self.db.read(lambda c: c.execute(sa.select(AGENTS.c.name).where(AGENTS.c.id == agent_id))
                                      .scalar())
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[agent_id] = (full or "").split(" ")[0]
        return self._names[agent_id] or None

    async def frame(self, event: Event) -> dict[str, Any] | None:
        kind, data = event.type, event.data or {}
        if kind in (EventType.MESSAGE_RECEIVED, EventType.MESSAGE_SENT):
            message = data.get("message") or {}
            if message.get("channel") != self.channel:
                return None
            return message_frame(event.seq, message, await self.name(message.get("agent_id") or event.agent_id)
                                 if kind is EventType.MESSAGE_SENT else None)
        if kind is EventType.MESSAGE_READ:
            message = data.get("message") or {}
            if message.get("channel") != self.channel or message.get("direction") != "inbound":
                return None
            return {"type": "read", "seq": event.seq, "id": message["id"]}
        if kind is EventType.MESSAGE_CHAT_STATE:
            sender = data.get("from") or {}
            if data.get("channel") != self.channel or sender.get("kind") != "agent":
                return None
            return {"type": "typing", "state": data.get("state")}
        if kind is EventType.PIVOT_CREATED:
            link = data.get("pivot_link") or {}
            if not data.get("sent") or link.get("channel") != self.channel or link.get("to") not in INVITES:
                return None  # (only an agent's invitation: the widget's own links are not sent)
            return {"type": "invite", "seq": event.seq, "to": link["to"], "agent": await self.name(event.agent_id)}
        snapshot = data.get("interaction") or {}
        if kind is EventType.INTERACTION_WRAPUP and snapshot.get("channel") == "voice":
            return {"type": "call_ended", "seq": event.seq}  # (a call on the visitor's case: theirs)
        if snapshot.get("channel") != self.channel:
            return None
        if kind is EventType.INTERACTION_ACCEPTED:
            return {"type": "agent_joined", "seq": event.seq, "name": await self.name(snapshot.get("agent_id"))}
        if kind is EventType.INTERACTION_TRANSFERRED:
            return {"type": "agent_left", "seq": event.seq}
        if kind is EventType.INTERACTION_WRAPUP:  # (the agent closed the chat, or the call ended)
            return {"type": "ended", "seq": event.seq}
        return None


async def replay(db: Database, case_id: str, since: int, upto: int) -> list[Event]:
    """The case's events the widget shows, after ``since`` up to ``upto`` (the bus's delivered end)."""
    types = [t.value for t in SHOWN]
    rows = await db.read(lambda c: c.execute(
        sa.select(EVENTS).where(EVENTS.c.case_id == case_id, EVENTS.c.seq > since, EVENTS.c.seq <= upto,
                                EVENTS.c.type.in_(types))
        .order_by(EVENTS.c.seq.desc()).limit(REPLAY_LIMIT)).all())
    return [row_to_event(r) for r in reversed(rows)]
