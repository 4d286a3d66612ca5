"""The X connector: Account Activity webhooks (or polling the v2 mentions timeline) in; @replies
and DMs out through the v2 API, honouring x-rate-limit-* and 429 (the reply waits in the outbox
until the window resets).

Replies choose by the API's ``mode``: ``public`` answers the customer's latest tweet
(``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``; at most 280 weighted characters),
anything else is a DM (``POST /2/dm_conversations/with/{id}/messages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import urllib.parse
from typing import Any, ClassVar, Literal

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
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
)
from connectors.webhooks import SignedJsonWebhook
from connectors.x import wire


class XSettings(Settings):
    """``[connectors.x]``"""

    consumer_secret: str  # signs webhooks and CRC answers
    bearer_token: str  # an OAuth 2.0 user-context token of the support account (tweet.write, dm.write)
    account_id: str  # the support account's user id (its own tweets and DMs are skipped)
    api_base: str = "https://api.twitter.com"
    mode: Literal["webhook", "poll"] = "webhook"  # poll: the v2 mentions timeline (no enterprise webhook)
    poll_seconds: float = Field(default=60.0, gt=0)
    timeout: float = Field(default=10.0, gt=0)


class XWebhook(SignedJsonWebhook):
    """CRC answers, signature checks and event parsing (runs on every node)."""

    header, what = "x-twitter-webhooks-signature", "an Account Activity event"

    def challenge(self, request: WebhookRequest) -> WebhookReply | None:
        token = request.query.get("crc_token")
        if token is None:
            return None
        if not wire.crc_token_valid(token):
            raise WebhookRejected(400, "invalid_crc_token", "a CRC token is 8-128 characters of base64")
        return WebhookReply(200, json.dumps(wire.crc_response(self.secret, token)), "application/json")

    def signature_valid(self, body: bytes, signature: str) -> bool:
        return wire.signature_valid(self.secret, body, signature)

    def events(self, payload: Any) -> list[InboundMessage]:
        return wire.parse_events(payload)


class XChannel(Channel[XSettings]):
    """One X account."""

    settings_model = XSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUBLIC_REPLY, Capability.PRIVATE_REPLY})
    identity_kind = "x"

    def __init__(self, ctx: ConnectorContext, settings: XSettings) -> None:
        super().__init__(ctx, settings)
        self.config = settings
        self._poller: asyncio.Task[None] | None = None

    @classmethod
    def webhook(cls, settings: XSettings, name: str) -> XWebhook:
        return XWebhook(settings.consumer_secret)

    @classmethod
    def reply_problem(cls, settings: Settings, mode: str | None, last_inbound: dict[str, Any] | None,
                      now: float) -> tuple[str, str] | None:
        if mode == "public" and not str((last_inbound or {}).get("external_id") or "").startswith("tweet:"):
            return "no_tweet_to_answer", "a public reply answers the customer's tweet, and this conversation has none"
        return None

    async def start(self) -> None:
        await self.set_health(Health.STARTING)
        await self._check_credentials()
        if self.config.mode == "poll":
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name=f"x-poll:{self.name}")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def _check_credentials(self) -> None:
        try:
            status, _, _ = await self._call("GET", "/2/users/me")
        except TemporaryFailure as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, str(exc))
            return
        if status in (401, 403):
            await self.set_health(Health.BAD_CREDENTIALS, f"GET /2/users/me answered {status}")
        else:
            await self.set_health(Health.CONNECTED)

    async def send(self, message: OutboundMessage) -> Sent:
        if message.mode == "public":
            tweet = str(message.in_reply_to or "")
            if not tweet.startswith("tweet:"):
                raise PermanentFailure("a public reply needs a tweet to answer")
            if wire.weighted_length(message.text) > wire.MAX_WEIGHT:
                raise PermanentFailure(f"a tweet is at most {wire.MAX_WEIGHT} weighted characters")
            status, body, headers = await self._call("POST", "/2/tweets", {
                "text": message.text, "reply": {"in_reply_to_tweet_id": tweet.removeprefix("tweet:")}})
            kind = "tweet"
        else:
            if not wire.X_ID.match(str(message.to)):
                raise PermanentFailure("a DM goes to an X user id (digits)")
            participant = urllib.parse.quote(str(message.to), safe="")  # data never becomes path structure
            status, body, headers = await self._call("POST", f"/2/dm_conversations/with/{participant}/messages",
                                                     {"text": message.text})
            kind = "dm"
        data = (body or {}).get("data") or {}
        if status in (200, 201):
            await self.set_health(Health.CONNECTED)
            sent_id = data.get("id") if kind == "tweet" else data.get("dm_event_id")
            return Sent(f"{kind}:{sent_id}" if sent_id else None)
        self._raise_for(status, body, headers)
        raise AssertionError("unreachable")

    def _raise_for(self, status: int, body: Any, headers: Any) -> None:
        detail = _error_text(body) or f"HTTP {status}"
        if status == 429:
            reset = _float(headers.get("x-rate-limit-reset"))
            wait = max(1.0, reset - time.time()) if reset else 60.0
            raise TemporaryFailure(f"rate limited by X until the window resets ({wait:.0f} s)", retry_after=wait)
        if status in (401, 403) and "duplicate" not in detail.lower():
            raise PermanentFailure(f"X refused it ({status}): {detail}")
        if status >= 500:
            raise TemporaryFailure(f"X answered {status}: {detail}")
        raise PermanentFailure(f"X refused it ({status}): {detail}")

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        url = self.config.api_base.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.config.bearer_token}"}
        try:
            async with self.ctx.http.request(method, url, json=payload, params=params, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=self.config.timeout)) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                if response.status >= 500:
                    await self.set_health(Health.TRANSIENT_DISCONNECT, f"X answered {response.status}")
                return response.status, body, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self.set_health(Health.TRANSIENT_DISCONNECT, f"X unreachable: {exc}")
            raise TemporaryFailure(f"X unreachable: {exc}") from exc

    async def _poll(self) -> None:
        """Polling mode: the mentions timeline since the last seen id, kept durably with each page."""
        cursor = await self.ctx.core.load_cursor()
        failures = 0
        while True:
            delay = self.config.poll_seconds
            try:
                params = {"max_results": "100", "expansions": "author_id", "user.fields": "public_metrics"}
                if cursor.get("since_id"):
                    params["since_id"] = cursor["since_id"]
                status, body, headers = await self._call("GET", f"/2/users/{self.config.account_id}/mentions",
                                                         params=params)
                if status == 200:
                    messages, newest = wire.mentions_page(body, self.config.account_id)
                    if newest:
                        cursor = {"since_id": newest}
                    for index, message in enumerate(messages):
                        last = index == len(messages) - 1
                        await self.ctx.core.receive(message, cursor=cursor if last else None)
                    if not messages and newest:
                        await self.ctx.core.save_cursor(cursor)
                    await self.set_health(Health.CONNECTED)
                    failures = 0
                elif status == 429:
                    reset = _float(headers.get("x-rate-limit-reset"))
                    delay = max(1.0, reset - time.time()) if reset else self.config.poll_seconds
                else:
                    await self.set_health(Health.BAD_CREDENTIALS if status in (401, 403) else Health.ERROR,
                                          f"mentions answered {status}")
                    failures += 1
            except TemporaryFailure:
                failures += 1
            if failures:
                delay = min(300.0, self.config.poll_seconds * 2 ** min(failures, 8)) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)


def _error_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if body.get("detail"):
        return str(body["detail"])
    errors = body.get("errors") or []
    return "; ".join(str(e.get("message") or e.get("detail") or e) for e in errors if isinstance(e, dict))


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
