"""What the JSON webhooks of social networks share (X, Meta, WhatsApp): one signature header over
the raw body (401 when missing, 403 when wrong), a JSON body parsed into messages (400 when
malformed), and a plain acknowledgement. Subclasses name the header and give the two pure
functions; Meta's Graph webhooks (Messenger, Instagram, WhatsApp) share ``HubWebhook``: the
``hub.challenge`` subscription check and ``X-Hub-Signature-256``. ``json_call`` is one call to a
vendor's JSON API with a bearer token."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp

from connectors.base import (
    CallEvent,
    DeliveryUpdate,
    InboundMessage,
    Received,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    WebhookTools,
)


class SignedJsonWebhook:
    """Base of a sans-IO webhook handler for a signed JSON body."""

    header: ClassVar[str]  # lower-case name of the signature header
    what: ClassVar[str]  # what a valid body is, for the 400 message
    acknowledgement: ClassVar[str] = ""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def signature_valid(self, body: bytes, signature: str) -> bool:
        """The vendor's signature check (constant time)."""
        raise NotImplementedError

    def events(self, payload: Any) -> list[InboundMessage] | list[InboundMessage | DeliveryUpdate]:
        """The messages of a parsed body (ValueError when it is not what the vendor sends)."""
        raise NotImplementedError

    def challenge(self, request: WebhookRequest) -> WebhookReply | None:
        return None

    def verify(self, request: WebhookRequest) -> None:
        signature = request.headers.get(self.header)
        if not signature:
            raise WebhookRejected(401, "signature_missing", f"{self.header} is required")
        if not self.signature_valid(request.body, signature):
            raise WebhookRejected(403, "signature_invalid", "the signature does not match the body")

    def parse(self, request: WebhookRequest) -> list[InboundMessage | CallEvent | DeliveryUpdate]:
        try:
            return list(self.events(json.loads(request.body)))
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
            raise WebhookRejected(400, "malformed_event", f"not {self.what}: {exc}") from exc

    async def complete(self, items: Sequence[InboundMessage | CallEvent | DeliveryUpdate],
                       tools: WebhookTools) -> Sequence[InboundMessage | CallEvent | DeliveryUpdate]:
        return items

    def reply(self, request: WebhookRequest, stored: list[Received | str | None]) -> WebhookReply:
        return WebhookReply(200, self.acknowledgement)


HUB_CHALLENGE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")  # Meta sends a random integer


def hub_signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 over the raw body (Meta signs the body as sent)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hub_signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of X-Hub-Signature-256."""
    return hmac.compare_digest(hub_signature(secret, body).encode(), header.strip().lower().encode())


class HubWebhook(SignedJsonWebhook):
    """A Graph webhook: GET ``hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`` echoes the
    challenge when the token matches; deliveries carry X-Hub-Signature-256."""

    header, acknowledgement = "x-hub-signature-256", "EVENT_RECEIVED"

    def __init__(self, app_secret: str, verify_token: str) -> None:
        super().__init__(app_secret)
        self.verify_token = verify_token

    def challenge(self, request: WebhookRequest) -> WebhookReply | None:
        if "hub.mode" not in request.query:
            return None
        if request.query.get("hub.mode") == "subscribe" and hmac.compare_digest(
                request.query.get("hub.verify_token", "").encode(), self.verify_token.encode()):
            challenge = request.query.get("hub.challenge", "")
            if not HUB_CHALLENGE.match(challenge):
                raise WebhookRejected(400, "invalid_challenge", "hub.challenge is a short token of digits and letters")
            return WebhookReply(200, challenge)
        raise WebhookRejected(403, "verify_token_mismatch", "the verify token does not match")

    def signature_valid(self, body: bytes, signature: str) -> bool:
        return hub_signature_valid(self.secret, body, signature)


async def json_call(http: aiohttp.ClientSession, method: str, url: str, *, token: str, seconds: float,
                    json_body: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> tuple[int, Any]:
    """One call to a JSON API with a bearer token: (status, the parsed body or None). Network errors
    (aiohttp.ClientError, TimeoutError) are the caller's to handle."""
    async with http.request(method, url, json=json_body, params=params, headers={"Authorization": f"Bearer {token}"},
                            timeout=aiohttp.ClientTimeout(total=seconds)) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body
