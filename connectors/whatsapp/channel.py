"""The WhatsApp Business Cloud API connector: one business phone number.

In: the webhook (every node) checks the subscription and the signature and turns messages into
inbound messages (deduplicated by their ``wamid``) and statuses into delivery updates (a reply's
``sent``, ``delivered``, ``read``, or ``failed`` with WhatsApp's error). Out: text replies within the
customer-service window, and outside it only the approved templates configured here
(``templates = {order_update = {language = "en_US", parameters = 1}}``), sent with the agent's
parameters (``POST .../messages {"mode": "template", "template": {"name", "parameters"}}``), and
files by link (``{"media": {"url", "type", "filename"?}}``: WhatsApp fetches the HTTPS URL itself;
the text becomes the caption).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import (
    CallEvent,
    Capability,
    Channel,
    DeliveryUpdate,
    Health,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    Sent,
    Settings,
    TemporaryFailure,
    WebhookTools,
)
from connectors.webhooks import HubWebhook, json_call
from connectors.whatsapp import wire
from connectors.whatsapp.media import fetch_media


class Template(BaseModel):
    """An approved message template: its language code and how many body parameters it takes."""

    model_config = ConfigDict(extra="forbid")
    language: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    parameters: int = Field(default=0, ge=0, le=10)


class WhatsAppSettings(Settings):
    """``[connectors.whatsapp]``"""

    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    access_token: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)  # signs webhooks
    verify_token: str = Field(min_length=1)
    api_base: str = "https://graph.facebook.com"
    api_version: str = Field(default="v21.0", pattern=r"^v[0-9]{1,3}\.[0-9]$")
    templates: dict[str, Template] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)


class WhatsAppWebhook(HubWebhook):
    what = "a WhatsApp webhook delivery"

    def __init__(self, settings: WhatsAppSettings) -> None:
        super().__init__(settings.app_secret, settings.verify_token)
        self.settings, self.phone_number_id = settings, settings.phone_number_id

    async def complete(self, items: Sequence[InboundMessage | CallEvent | DeliveryUpdate],
                       tools: WebhookTools) -> Sequence[InboundMessage | CallEvent | DeliveryUpdate]:
        """Each media message's file, fetched through the media URL flow and kept with the message."""
        return [await fetch_media(item, self.settings, tools)
                if isinstance(item, InboundMessage) and "media" in item.metadata else item for item in items]

    def events(self, payload: Any) -> list[InboundMessage | DeliveryUpdate]:
        return wire.parse(payload, self.phone_number_id)


class WhatsAppChannel(Channel[WhatsAppSettings]):
    settings_model = WhatsAppSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PRIVATE_REPLY, Capability.ATTACHMENTS})
    identity_kind = "whatsapp"

    @classmethod
    def webhook(cls, settings: WhatsAppSettings, name: str) -> WhatsAppWebhook:
        return WhatsAppWebhook(settings)

    @classmethod
    def templates(cls, settings: WhatsAppSettings) -> dict[str, int]:
        return {name: spec.parameters for name, spec in settings.templates.items()}

    @classmethod
    def reply_problem(cls, settings: Settings, mode: str | None, last_inbound: dict[str, Any] | None,
                      now: float) -> tuple[str, str] | None:
        return wire.window_problem(mode, last_inbound, now)

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        try:
            status, _ = await self._call("GET", f"/{self.settings.phone_number_id}",
                                            params={"fields": "display_phone_number"})
        except TemporaryFailure as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, str(exc))
            return
        await self.set_health(Health.BAD_CREDENTIALS if status in (400, 401, 403) else Health.CONNECTED,
                              f"GET the phone number answered {status}" if status != 200 else "")

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> Sent:
        template = message.raw.get("template")
        spec = None
        if template is not None:
            spec = self.settings.templates.get(str(template.get("name")))
            if spec is None:
                raise PermanentFailure(f"no template {template.get('name')!r} is configured for WhatsApp")
            if len(template.get("parameters") or []) != spec.parameters:
                raise PermanentFailure(f"template {template['name']!r} takes {spec.parameters} parameter(s)")
        else:
            problem = wire.window_problem(message.mode, message.raw.get("last_inbound"), time.time())
            if problem is not None:
                raise PermanentFailure(problem[1])
        body = wire.message_body(message.to, message.text, template, spec.model_dump() if spec else None,
                                 message.raw.get("media"))
        status, answer = await self._call("POST", f"/{self.settings.phone_number_id}/messages", json_body=body)
        if status == 200:
            sent = ((answer or {}).get("messages") or [{}])[0].get("id")
            return Sent(f"wamid:{sent}" if sent else None)
        error = (answer or {}).get("error") or {} if isinstance(answer, dict) else {}
        detail = f"{error.get('message') or 'HTTP ' + str(status)} (code {error.get('code')})"
        if status == 429 or error.get("code") in (4, 80007, 130429, 131048, 131056):  # rate and pair limits
            raise TemporaryFailure(f"rate limited by WhatsApp: {detail}", retry_after=60.0)
        if status >= 500:
            raise TemporaryFailure(f"WhatsApp answered {status}: {detail}")
        raise PermanentFailure(f"WhatsApp refused it: {detail}")

    async def _call(self, method: str, path: str, *, json_body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> tuple[int, Any]:
        url = f"{self.settings.api_base.rstrip('/')}/{self.settings.api_version}{path}"
        try:
            status, body = await json_call(self.ctx.http, method, url, token=self.settings.access_token,
                                           seconds=self.settings.timeout, json_body=json_body, params=params)
            await self.set_health(Health.TRANSIENT_DISCONNECT if status >= 500 else Health.CONNECTED,
                                  f"WhatsApp answered {status}" if status >= 500 else "")
            return status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, f"WhatsApp unreachable: {exc}")
            raise TemporaryFailure(f"WhatsApp unreachable: {exc}") from exc

