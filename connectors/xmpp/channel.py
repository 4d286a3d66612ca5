"""The XMPP chat channel: the company's support account talks with customers' JIDs.

A customer's chat message opens or continues an interaction (one conversation per customer on
this channel). Agent replies go back as ``chat`` messages. Chat states (XEP-0085) become
``message.chat_state`` events on the live interaction. Presence tells customers whether support
is available: ``chat`` while any agent is available, ``away`` otherwise. Stanzas the channel does
not handle (groupchat, headline, errors, bodies over the size limit) are logged, never fatal.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar, Literal

import slixmpp
from pydantic import Field

from connectors.backoff import Backoff
from connectors.base import (
    Capability,
    Channel,
    ConnectorContext,
    Health,
    InboundMessage,
    OutboundMessage,
    Sent,
    Settings,
    TemporaryFailure,
)
from connectors.tasks import TaskSet
from connectors.xmpp.session import ConnectFailed, LoginRefused, close, make_client, open_session

CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")


class XmppSettings(Settings):
    """``[connectors.xmpp]``"""

    jid: str
    password: str
    host: str = ""  # empty: DNS SRV for the JID's domain
    port: int = Field(default=5222, ge=0, le=65535)
    tls: Literal["starttls", "direct", "none"] = "starttls"
    ca_file: str = ""
    max_body_chars: int = Field(default=20_000, ge=1)
    presence_refresh_seconds: float = Field(default=15.0, gt=0)
    reconnect_max_seconds: float = Field(default=60.0, gt=0)


class XmppChannel(Channel[XmppSettings]):
    """slixmpp client logged in as the support account."""

    settings_model = XmppSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY, Capability.TYPING})
    identity_kind = "xmpp"

    def __init__(self, ctx: ConnectorContext, settings: XmppSettings) -> None:
        super().__init__(ctx, settings)
        self.config = settings
        self.client: slixmpp.ClientXMPP | None = None
        self._task: asyncio.Task[None] | None = None
        self._presence: str | None = None
        self._work = TaskSet(ctx.log)

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        self._task = asyncio.get_running_loop().create_task(self._stay_connected(), name=f"xmpp:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._work.cancel_all()

    async def send(self, message: OutboundMessage) -> Sent:
        client = self.client
        if client is None or self.health != Health.CONNECTED or not client.is_connected():
            raise TemporaryFailure("not connected to the XMPP server")
        stanza = client.make_message(mto=message.to, mbody=message.text, mtype="chat")
        stanza["id"] = message.message_id
        stanza["chat_state"] = "active"
        stanza.send()
        return Sent(external_id=message.message_id)

    async def _stay_connected(self) -> None:
        cfg = self.config
        backoff = Backoff(cfg.reconnect_max_seconds)
        while True:
            client = make_client(cfg.jid, cfg.password, tls=cfg.tls, ca_file=cfg.ca_file)
            client.add_event_handler("message", self._on_message)
            for state in CHAT_STATES:
                client.add_event_handler(f"chatstate_{state}", lambda msg, s=state: self._on_chat_state(msg, s))
            client.roster.auto_authorize = True
            client.roster.auto_subscribe = True
            backoff.session_start()
            try:
                lost = await open_session(client, cfg.host, cfg.port, on_ready=functools.partial(self._ready, client))
                await self.set_health(Health.CONNECTED)
                await self._keep_presence(client, lost)
                await self.set_health(Health.TRANSIENT_DISCONNECT, "connection lost")
            except LoginRefused as exc:
                await self.set_health(Health.BAD_CREDENTIALS, str(exc))
                backoff.hold_off()
            except ConnectFailed as exc:
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"cannot connect: {exc}"[:300])
            finally:
                self.client = None
                self._presence = None
                await close(client)
            await backoff.wait()

    async def _ready(self, client: slixmpp.ClientXMPP) -> None:
        self.client = client
        await self._announce(client)

    async def _keep_presence(self, client: slixmpp.ClientXMPP, lost: asyncio.Event) -> None:
        """Refresh presence while connected; return when the link is lost."""
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), self.config.presence_refresh_seconds)
            except TimeoutError:
                await self._announce(client)

    async def _announce(self, client: slixmpp.ClientXMPP) -> None:
        try:
            available = await self.ctx.core.agents_available()
        except Exception:
            self.ctx.log.exception("%s: could not count available agents", self.name)
            return
        show = "chat" if available else "away"
        if show != self._presence:
            status = "Support is available" if available else "No agents are available right now"
            client.send_presence(pshow=show, pstatus=status)
            self._presence = show

    def _spawn(self, coro: Any) -> None:
        self._work.spawn(coro)

    def _on_message(self, msg: slixmpp.Message) -> None:
        kind, body = msg["type"], msg["body"]
        sender = msg["from"].bare
        if kind == "error":
            self.ctx.log.warning("%s: error stanza from %s: %s", self.name, sender, msg["error"]["condition"])
            return
        if kind not in ("chat", "normal"):
            self.ctx.log.info("%s: ignored %s message from %s", self.name, kind or "untyped", sender)
            return
        if not body or not body.strip():
            return  # chat states and receipts travel in bodiless messages; handled by their own events
        if len(body) > self.config.max_body_chars:
            self.ctx.log.warning("%s: %d-character message from %s shortened", self.name, len(body), sender)
            body = body[: self.config.max_body_chars] + "\n[message shortened: over the size limit]"
        stanza_id = msg["id"]
        self._spawn(self._receive(InboundMessage(
            sender_kind="xmpp", sender=sender, text=body,
            external_id=f"{sender}/{stanza_id}" if stanza_id else None,
            metadata={"resource": msg["from"].resource} if msg["from"].resource else {})))

    async def _receive(self, message: InboundMessage) -> None:
        try:
            await self.ctx.core.receive(message)
        except Exception:
            self.ctx.log.exception("%s: message from %s not stored", self.name, message.sender)

    def _on_chat_state(self, msg: slixmpp.Message, state: str) -> None:
        if msg["type"] in ("chat", "normal") and not msg["body"]:
            self._spawn(self.ctx.core.chat_state("xmpp", msg["from"].bare, state))
