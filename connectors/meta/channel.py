"""The Meta connector: one webhook for Messenger, Instagram and comments; replies through the
Send API (private replies to comments by ``comment_id``), and public comment replies.

Every reply is planned by ``wire.reply_plan`` from the conversation's newest inbound item: a
message within 24 h goes as RESPONSE, within 7 days as MESSAGE_TAG HUMAN_AGENT, later not at
all (the API answers 422 ``messaging_window_closed`` before anything is queued, suggesting a
pivot link); a comment gets a private reply (once, within 7 days) or a public comment reply.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any, ClassVar

import aiohttp
from pydantic import Field

from connectors.base import (
    Capability,
    Channel,
    ConnectorContext,
    Health,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    Sent,
    Settings,
    TemporaryFailure,
)
from connectors.meta import wire
from connectors.webhooks import HubWebhook, json_call


class MetaSettings(Settings):
    """``[connectors.meta]``"""

    app_secret: str  # signs webhooks
    verify_token: str  # echoed by the subscription check
    page_token: str  # the Page access token (Messenger, Instagram messaging, comments)
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v25.0"
    timeout: float = Field(default=10.0, gt=0)


class MetaWebhook(HubWebhook):
    """Subscription checks, signature checks and event parsing (runs on every node)."""

    what = "a Meta webhook delivery"

    def __init__(self, settings: MetaSettings) -> None:
        super().__init__(settings.app_secret, settings.verify_token)

    def events(self, payload: Any) -> list[InboundMessage]:
        return wire.parse_events(payload)


class MetaChannel(Channel[MetaSettings]):
    """One Page (with its linked Instagram account)."""

    settings_model = MetaSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUBLIC_REPLY, Capability.PRIVATE_REPLY})
    identity_kind = "facebook"

    def __init__(self, ctx: ConnectorContext, settings: MetaSettings) -> None:
        super().__init__(ctx, settings)
        self.config = settings

    @classmethod
    def webhook(cls, settings: MetaSettings, name: str) -> MetaWebhook:
        return MetaWebhook(settings)

    @classmethod
    def reply_problem(cls, settings: Settings, mode: str | None, last_inbound: dict[str, Any] | None,
                      now: float) -> tuple[str, str] | None:
        return wire.reply_plan(mode, last_inbound, now).get("refused")

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        try:
            status, _ = await self._call("GET", "/me", params={"fields": "id,name"})
        except TemporaryFailure as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, str(exc))
            return
        await self.set_health(Health.BAD_CREDENTIALS if status in (400, 401, 403) else Health.CONNECTED,
                              f"GET /me answered {status}" if status != 200 else "")

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> Sent:
        plan = wire.reply_plan(message.mode, message.raw.get("last_inbound"), time.time())
        if "refused" in plan:
            raise PermanentFailure(plan["refused"][1])
        if plan["route"] == "comment_reply":
            comment = urllib.parse.quote(str(plan["comment_id"]), safe="")  # data never becomes path structure
            path = f"/{comment}/{'replies' if message.to_kind == 'instagram' else 'comments'}"
            status, body = await self._call("POST", path, json_body={"message": message.text})
            return self._sent(status, body, "comment", (body or {}).get("id"))
        recipient = {"comment_id": plan["comment_id"]} if plan["route"] == "private_reply" else {"id": message.to}
        payload: dict[str, Any] = {"recipient": recipient, "message": {"text": message.text},
                                   "messaging_type": plan.get("messaging_type", "RESPONSE")}
        if plan.get("tag"):
            payload["tag"] = plan["tag"]
        status, body = await self._call("POST", "/me/messages", json_body=payload)
        return self._sent(status, body, "mid", (body or {}).get("message_id"))

    def _sent(self, status: int, body: Any, prefix: str, external: Any) -> Sent:
        if status == 200:
            return Sent(f"{prefix}:{external}" if external else None)
        error = (body or {}).get("error") or {} if isinstance(body, dict) else {}
        detail = f"{error.get('message') or 'HTTP ' + str(status)} (code {error.get('code')})"
        if status == 429 or error.get("code") in (4, 17, 32, 613):  # rate limits
            raise TemporaryFailure(f"rate limited by Meta: {detail}", retry_after=60.0)
        if status >= 500 or error.get("is_transient"):
            raise TemporaryFailure(f"Meta answered {status}: {detail}")
        raise PermanentFailure(f"Meta refused it: {detail}")

    async def _call(self, method: str, path: str, *, json_body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> tuple[int, Any]:
        url = f"{self.config.api_base.rstrip('/')}/{self.config.api_version}{path}"
        try:
            status, body = await json_call(self.ctx.http, method, url, token=self.config.page_token,
                                           seconds=self.config.timeout, json_body=json_body, params=params)
            if status >= 500:
                await self.set_health(Health.TRANSIENT_DISCONNECT, f"Meta answered {status}")
            else:
                await self.set_health(Health.CONNECTED)
            return status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, f"Meta unreachable: {exc}")
            raise TemporaryFailure(f"Meta unreachable: {exc}") from exc
