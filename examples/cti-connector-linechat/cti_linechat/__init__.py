"""A chat network that speaks JSON lines over TCP, as a cti-pivot connector."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import ClassVar

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


class LineChatSettings(Settings):
    host: str = "127.0.0.1"
    port: int
    reconnect_max_seconds: float = 30.0


class LineChatChannel(Channel):
    settings_model = LineChatSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY})
    identity_kind = "linechat"

    def __init__(self, ctx: ConnectorContext, settings: LineChatSettings) -> None:  # type: ignore[override]
        super().__init__(ctx, settings)
        self.config = settings
        self._writer: asyncio.StreamWriter | None = None
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def send(self, message: OutboundMessage) -> Sent:
        writer = self._writer
        if writer is None:
            raise TemporaryFailure("not connected to the chat service")
        ack = asyncio.get_running_loop().create_future()
        self._acks[message.message_id] = ack
        line = {"type": "message", "id": message.message_id, "to": message.to, "text": message.text}
        try:
            writer.write(json.dumps(line).encode() + b"\n")
            await writer.drain()
            await asyncio.wait_for(ack, 10)
        except (OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"chat service did not take the message: {exc}") from exc
        finally:
            self._acks.pop(message.message_id, None)
        return Sent(external_id=message.message_id)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.config.host, self.config.port)
            except OSError as exc:
                await self.set_health(Health.TRANSIENT_DISCONNECT, str(exc))
                await asyncio.sleep(delay)
                delay = min(self.config.reconnect_max_seconds, delay * 2)
                continue
            self._writer, delay = writer, 0.5
            await self.set_health(Health.CONNECTED)
            try:
                while line := await reader.readline():
                    await self._handle(line)
            finally:
                self._writer = None
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await self.set_health(Health.TRANSIENT_DISCONNECT, "the chat service closed the connection")

    async def _handle(self, line: bytes) -> None:
        try:
            item = json.loads(line)
            kind = item["type"]
        except (ValueError, KeyError, TypeError):
            self.ctx.log.warning("%s: unreadable line ignored: %r", self.name, line[:200])
            return
        if kind == "ack" and (ack := self._acks.get(str(item.get("id")))) and not ack.done():
            ack.set_result(None)
        elif kind == "message" and item.get("from") and item.get("text"):
            await self.ctx.core.receive(InboundMessage(
                sender_kind="linechat", sender=str(item["from"]), text=str(item["text"]),
                external_id=str(item.get("id") or uuid.uuid4())))
