"""The web chat's channel (``[channels.webchat]``): where agents' replies to widget visitors go.

There is no far network: a reply is the visitor's as soon as it is stored, and the visitor's open
widget reads it from the event log (``message.sent``, then live; the ``webchat`` package serves
the widget). So delivery takes the outbox item at once and the channel is always connected; the
outbox still records every reply, so the case's timeline and delivery states read as elsewhere.
"""

from __future__ import annotations

from typing import ClassVar

from connectors.base import Capability, Channel, ConnectorContext, Health, OutboundMessage, Sent
from cti.config import WebchatConfig


class WebchatChannel(Channel[WebchatConfig]):
    """Replies to web chat visitors: taken as sent (the visitor's widget shows them from the log)."""

    settings_model = WebchatConfig
    identity_kind = "webchat"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY})

    def __init__(self, ctx: ConnectorContext, settings: WebchatConfig) -> None:
        super().__init__(ctx, settings)

    async def start(self) -> None:
        await self.set_health(Health.CONNECTED)

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> Sent:
        return Sent(f"wcm:{message.message_id}")
