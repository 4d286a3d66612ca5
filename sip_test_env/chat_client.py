"""A customer's XMPP client for tests and the demo: sends chat messages and chat states, collects replies."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import slixmpp

from connectors.xmpp.session import close, make_client, open_session


class ChatCustomer:
    """One logged-in customer account on a test XMPP server."""

    def __init__(self, jid: str, password: str, port: int, host: str = "127.0.0.1", *, ca_file: str = "") -> None:
        self.jid, self.password, self.port, self.host, self.ca_file = jid, password, port, host, ca_file
        self.client: slixmpp.ClientXMPP | None = None
        self.inbox: asyncio.Queue[slixmpp.Message] = asyncio.Queue()
        self.presence: dict[str, tuple[str, str]] = {}

    async def __aenter__(self) -> ChatCustomer:
        client = make_client(self.jid, self.password, tls="starttls" if self.ca_file else "none",
                             ca_file=self.ca_file)
        client.add_event_handler("message", self._on_message)
        client.add_event_handler("presence", self._on_presence)
        client.roster.auto_authorize = True
        client.roster.auto_subscribe = True

        async def ready() -> None:
            client.send_presence()
            await client.get_roster()

        await open_session(client, self.host, self.port, on_ready=ready)
        self.client = client
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.client is not None:
            await close(self.client)

    def _on_message(self, msg: slixmpp.Message) -> None:
        if msg["body"]:
            self.inbox.put_nowait(msg)

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        self.presence[presence["from"].bare] = (presence["show"] or presence["type"], presence["status"])

    def say(self, to: str, text: str, *, stanza_id: str | None = None) -> str:
        """Send a chat message; returns its stanza id."""
        assert self.client is not None
        msg = self.client.make_message(mto=to, mbody=text, mtype="chat")
        msg["id"] = stanza_id or uuid.uuid4().hex
        msg.send()
        return msg["id"]

    def typing(self, to: str, state: str = "composing") -> None:
        """Send a bodiless chat-state message (XEP-0085)."""
        assert self.client is not None
        msg = self.client.make_message(mto=to, mtype="chat")
        msg["chat_state"] = state
        msg.send()

    def subscribe(self, to: str) -> None:
        """Ask to see the other side's presence."""
        assert self.client is not None
        self.client.send_presence(pto=to, ptype="subscribe")

    def send_raw(self, xml: str) -> None:
        """Send any stanza as written (for unexpected-payload tests)."""
        assert self.client is not None
        self.client.send_raw(xml)

    async def next_message(self, wait_seconds: float = 10.0) -> slixmpp.Message:
        """The next message with a body."""
        return await asyncio.wait_for(self.inbox.get(), wait_seconds)
