"""What the JSON webhooks of social networks share (X, Meta): one signature header over the raw
body (401 when missing, 403 when wrong), a JSON body parsed into messages (400 when malformed),
and a plain acknowledgement. Subclasses name the header and give the two pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

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
