"""Custom channels (``[[channels.custom]]``): replies go out as signed POSTs to the channel's URL.

Inbound arrives through ``POST /api/v1/inbound``. This connector only delivers. It has no
standing link, so health follows the last delivery: connected after a 2xx, transient_disconnect
while the receiver is unreachable or failing, and connected again when it answers.
"""

from __future__ import annotations

from typing import ClassVar

from connectors.base import (
    Capability,
    Channel,
    ConnectorContext,
    Health,
    OutboundMessage,
    PermanentFailure,
    Sent,
    TemporaryFailure,
)
from cti.config import CustomChannelConfig
from cti.delivery import post_signed


class CustomChannel(Channel[CustomChannelConfig]):
    """Delivers to a custom channel's outbound URL."""

    settings_model = CustomChannelConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY})

    def __init__(self, ctx: ConnectorContext, settings: CustomChannelConfig) -> None:
        super().__init__(ctx, settings)
        self.config = settings

    async def start(self) -> None:
        await self.set_health(Health.CONNECTED if self.config.outbound_url else Health.ERROR,
                              "" if self.config.outbound_url else "no outbound_url configured")

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> Sent:
        if not self.config.outbound_url:
            raise PermanentFailure(f"channel {self.name} has no outbound_url")
        outcome, detail, external_id, _ = await post_signed(
            self.ctx.http, self.config.outbound_url, self.config.secret, message.raw,
            delivery_id=message.delivery_id, timeout_seconds=self.config.timeout)
        if outcome == "ok":
            await self.set_health(Health.CONNECTED)
            return Sent(external_id)
        if outcome == "failed":
            await self.set_health(Health.CONNECTED)  # it answered: the link is up, the item is refused
            raise PermanentFailure(detail)
        await self.set_health(Health.TRANSIENT_DISCONNECT, detail)
        raise TemporaryFailure(detail)
