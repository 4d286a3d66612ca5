"""Twilio's webhooks, sans-IO: X-Twilio-Signature checked by the twilio library's RequestValidator
(HMAC-SHA1 over the URL and the sorted form fields), then:

- ``/webhooks/<name>/sms``: an inbound SMS (MessageSid, From, Body) -> a message; empty TwiML.
- ``/webhooks/<name>/voice``: a new inbound call -> ``incoming`` (queued); TwiML greets the caller
  and holds them in a queue named after the interaction (<Enqueue>, hold audio by waitUrl), or,
  with ``media = "stream"``, connects the call's audio to our media bridge by a Media Stream to
  ``/media/twilio`` on the host Twilio reached (the interaction as a custom parameter).
- ``/webhooks/<name>/status?interaction=&leg=``: a leg's progress (our status callbacks):
  in-progress -> answered; completed/busy/no-answer/failed/canceled -> ended with the outcome,
  or, for an agent's leg that never answered, agent_missed (the call goes to the next agent).
- ``/webhooks/<name>/dial?interaction=``: the <Dial> to the agent finished: answered and over ->
  hang up; not answered -> back to the queue.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

from twilio.request_validator import RequestValidator

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
from connectors.twilio import twiml

CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")  # Twilio's SIDs: two letters and 32 hex digits
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
WHATSAPP_NUMBER = re.compile(r"^[1-9][0-9]{6,14}$")
OUTCOMES = {"busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "no_answer"}
XML = "text/xml"


def stream_url(webhook_url: str) -> str:
    """The Media Streams URL on the host a webhook came to (wss for https)."""
    parts = urllib.parse.urlsplit(webhook_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/media/twilio", "", ""))


class TwilioWebhook:
    def __init__(self, auth_token: str, *, greeting: str, hold_audio_url: str, stream: bool = False) -> None:
        self.validator = RequestValidator(auth_token)
        self.greeting, self.hold_audio_url, self.stream = greeting, hold_audio_url, stream

    def challenge(self, request: WebhookRequest) -> WebhookReply | None:
        return None

    def verify(self, request: WebhookRequest) -> None:
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            raise WebhookRejected(401, "signature_missing", "X-Twilio-Signature is required")
        if not self.validator.validate(request.url, request.form, signature):
            raise WebhookRejected(403, "signature_invalid", "the signature does not match the URL and form")

    def parse(self, request: WebhookRequest) -> list[InboundMessage | CallEvent]:
        form, query, kind = request.form, request.query, request.path_kind
        if kind == "sms":
            sid, sender = form.get("MessageSid") or form.get("SmsSid"), form.get("From")
            if not sid or not sender:
                raise WebhookRejected(400, "malformed_event", "an SMS needs MessageSid and From")
            if not MESSAGE_SID.match(sid):
                raise WebhookRejected(400, "malformed_event", "MessageSid is not a Twilio message SID")
            if sender.startswith("whatsapp:"):  # WhatsApp through Twilio (From "whatsapp:+358...")
                number = sender.removeprefix("whatsapp:").lstrip("+")
                if not WHATSAPP_NUMBER.match(number):
                    raise WebhookRejected(400, "malformed_event", "From is not a WhatsApp number")
                return [InboundMessage(sender_kind="whatsapp", sender=number, text=form.get("Body", ""),
                                       name=(form.get("ProfileName") or "")[:200] or None, external_id=f"sms:{sid}",
                                       metadata={"kind": "whatsapp", "to": form.get("To")})]
            return [InboundMessage(sender_kind="phone", sender=sender, text=form.get("Body", ""),
                                   external_id=f"sms:{sid}", metadata={"kind": "sms", "to": form.get("To")})]
        call_sid = form.get("CallSid")
        if not call_sid:
            raise WebhookRejected(400, "malformed_event", "a voice webhook needs CallSid")
        if not CALL_SID.match(call_sid):
            raise WebhookRejected(400, "malformed_event", "CallSid is not a Twilio call SID (CA + 32 hex digits)")
        if kind == "voice":
            if form.get("Direction", "inbound") != "inbound":
                return []
            return [CallEvent(call_sid, "incoming", caller=form.get("From", ""), name=form.get("CallerName"))]
        if kind == "status":
            return self._status(call_sid, form, query)
        if kind == "dial":
            status = form.get("DialCallStatus", "")
            if status in ("completed", "answered"):
                return []
            return [CallEvent(call_sid, "agent_missed", interaction_id=query.get("interaction"),
                              agent_id=query.get("agent"))] if query.get("agent") else []
        raise WebhookRejected(404, "unknown_webhook", f"no Twilio webhook named {kind!r}")

    @staticmethod
    def _status(call_sid: str, form: dict[str, str], query: dict[str, str]) -> list[InboundMessage | CallEvent]:
        status, leg = form.get("CallStatus", ""), query.get("leg", "customer")
        interaction, agent = query.get("interaction"), query.get("agent")
        if status == "in-progress":
            return [CallEvent(call_sid, "answered", leg=leg, interaction_id=interaction, agent_id=agent)]
        if status in OUTCOMES and leg == "agent" and query.get("bridge") == "inbound":
            return [CallEvent(call_sid, "agent_missed", interaction_id=interaction, agent_id=agent)]
        if status in OUTCOMES:
            return [CallEvent(call_sid, "ended", leg=leg, interaction_id=interaction, outcome=OUTCOMES[status])]
        if status == "completed":
            if leg == "agent" and query.get("bridge") == "inbound":
                return []  # the agent hung up: the <Dial> action ends the caller's call
            duration = _seconds(form.get("CallDuration"))
            return [CallEvent(call_sid, "ended", leg=leg, interaction_id=interaction, duration=duration)]
        return []

    async def complete(self, items: Sequence[InboundMessage | CallEvent | DeliveryUpdate],
                       tools: WebhookTools) -> Sequence[InboundMessage | CallEvent | DeliveryUpdate]:
        return items

    def reply(self, request: WebhookRequest, stored: list[Received | str | None]) -> WebhookReply:
        if request.path_kind == "voice" and stored and isinstance(stored[0], str):
            if self.stream:
                return WebhookReply(200, twiml.stream(stream_url(request.url), {"interaction": stored[0]},
                                                      greeting=self.greeting), XML)
            return WebhookReply(200, twiml.hold(stored[0], greeting=self.greeting, wait_url=self.hold_audio_url), XML)
        if request.path_kind == "dial":
            if request.form.get("DialCallStatus") in ("completed", "answered") or \
                    request.query.get("bridge") != "inbound":
                return WebhookReply(200, twiml.hangup(), XML)
            queue = request.query.get("interaction", "")
            return WebhookReply(200, twiml.hold(queue, wait_url=self.hold_audio_url), XML)
        return WebhookReply(200, twiml.empty(), XML)


def _seconds(value: str | None) -> float:
    """CallDuration: whole seconds as Twilio sends them."""
    if not value:
        return 0.0
    if not value.isdigit() or len(value) > 7:
        raise WebhookRejected(400, "malformed_event", "CallDuration is not a number of seconds")
    return float(value)
