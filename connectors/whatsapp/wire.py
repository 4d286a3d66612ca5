"""WhatsApp Business Cloud API wire formats, pure: the webhook's messages and statuses, the
customer-service window, and what a reply's body is (the signature and the subscription check are
every Graph webhook's: ``connectors/webhooks.py:HubWebhook``).

Webhooks: ``object`` ``whatsapp_business_account``; ``entry[].changes[]`` with ``field`` ``messages``
and a ``value`` holding ``metadata.phone_number_id`` (deliveries for another number of the same
business account are ignored), ``contacts`` (``wa_id``, ``profile.name``), and ``messages`` (text,
media with a media id, location, contacts, interactive and button replies) or ``statuses`` (``sent``,
``delivered``, ``read``, ``failed`` with ``errors``).

The customer-service window: free-form messages only within 24 hours of the customer's last
message; after that only an approved template (the API accepts the message and then fails it with
error 131047, "Re-engagement message": the connector refuses it before it is queued instead).
"""

from __future__ import annotations

import re
from typing import Any

from connectors.base import DeliveryUpdate, InboundMessage
from connectors.fields import bounded_int, label, shaped, text_of

WINDOW = 86_400.0
WA_ID = re.compile(r"^[1-9][0-9]{6,14}$")  # a phone number in E.164 digits (no plus)
WAMID = re.compile(r"^[A-Za-z0-9_.=+/:-]{1,200}$")
MEDIA_ID = re.compile(r"^[0-9]{1,32}$")
MEDIA_KINDS = ("image", "document", "audio", "video", "sticker")
STATUSES = ("sent", "delivered", "read", "failed")


def parse(payload: Any, phone_number_id: str) -> list[InboundMessage | DeliveryUpdate]:
    """The messages and statuses of one delivery, for this phone number."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a WhatsApp webhook delivery (no entry list)")
    if payload.get("object") != "whatsapp_business_account":
        return []
    out: list[InboundMessage | DeliveryUpdate] = []
    for entry in payload["entry"]:
        for change in (entry or {}).get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages" or \
                    str((value.get("metadata") or {}).get("phone_number_id")) != phone_number_id:
                continue
            names = {str(c.get("wa_id")): label((c.get("profile") or {}).get("name"))
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            out.extend(_message(m, names) for m in value.get("messages") or [])
            out.extend(_status(s) for s in value.get("statuses") or [])
    return out


def _message(message: dict[str, Any], names: dict[str, str | None]) -> InboundMessage:
    sender = shaped(message.get("from"), WA_ID, "a message's sender")
    wamid = shaped(message.get("id"), WAMID, "a message's id")
    kind = str(message.get("type") or "")
    text, details = _content(kind, message)
    return InboundMessage(sender_kind="whatsapp", sender=sender, text=text, external_id=f"wamid:{wamid}",
                          name=names.get(sender),
                          metadata={"kind": kind, "timestamp": bounded_int(message.get("timestamp"), 10**11),
                                    **details})


def _content(kind: str, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What the agent reads, and what is kept beside it."""
    body = message.get(kind) or {}
    if kind == "text":
        return text_of(body.get("body")), {}
    if kind in MEDIA_KINDS:
        media = {"media_id": shaped(body.get("id"), MEDIA_ID, "a media id"), "mime_type": label(body.get("mime_type")),
                 "filename": label(body.get("filename")), "sha256": label(body.get("sha256"))}
        caption = text_of(body.get("caption"))
        return (f"[{kind}] {caption}".strip(), {"media": {k: v for k, v in media.items() if v}})
    if kind == "location":
        latitude, longitude = float(body["latitude"]), float(body["longitude"])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("a location out of range")
        place = " ".join(p for p in (label(body.get("name")), label(body.get("address"))) if p)
        return (f"[location] {place} ({latitude:.5f}, {longitude:.5f})".replace("  ", " "),
                {"location": {"latitude": latitude, "longitude": longitude, "name": label(body.get("name")),
                              "address": label(body.get("address"))}})
    if kind == "contacts":
        shared = []
        for contact in message.get("contacts") or []:
            name = label((contact.get("name") or {}).get("formatted_name")) or ""
            phones = [str(label(p.get("phone"))) for p in contact.get("phones") or [] if label(p.get("phone"))]
            shared.append({"name": name, "phones": phones})
        return "[contacts] " + "; ".join(f"{c['name']} {' '.join(c['phones'])}".strip() for c in shared), \
            {"contacts": shared}
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return text_of(reply.get("title")), {"reply_id": label(reply.get("id"))}
    if kind == "button":  # a template's quick-reply button
        return text_of(body.get("text")), {"reply_id": label(body.get("payload"))}
    return f"[{label(kind) or 'message'}]", {}


def _status(status: dict[str, Any]) -> DeliveryUpdate:
    wamid = shaped(status.get("id"), WAMID, "a status's message id")
    state = str(status.get("status") or "")
    if state not in STATUSES:
        raise ValueError(f"an unknown status {state[:20]!r}")
    error = None
    if state == "failed":
        first = (status.get("errors") or [{}])[0] or {}
        details = text_of((first.get("error_data") or {}).get("details")) or text_of(first.get("message"))
        error = f"{text_of(first.get('title')) or 'failed'} (code {bounded_int(first.get('code'), 10**7)})" + \
            (f": {details}" if details else "")
    at = bounded_int(status.get("timestamp"), 10**11)
    return DeliveryUpdate(external_id=f"wamid:{wamid}", status=state, error=error, at=float(at) if at else None)


def window_problem(mode: str | None, last_inbound: dict[str, Any] | None, now: float) -> tuple[str, str] | None:
    """Why a reply cannot go now (outside the 24-hour window only a template may), or None."""
    if mode == "template":
        return None
    last = last_inbound or {}
    sent_at = (last.get("meta") or {}).get("timestamp")
    started = float(sent_at) if isinstance(sent_at, int | float) else float(last.get("created_at") or 0.0)
    if now - started <= WINDOW:
        return None
    return ("whatsapp_window_closed", "WhatsApp allows free-form replies only within 24 hours of the customer's "
                                      "last message: send an approved template (mode template) or a pivot link")


def message_body(to: str, text: str, template: dict[str, Any] | None, spec: dict[str, Any] | None,
                 media: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Cloud API request body: a text message, a file by link (the text as its caption; audio
    takes none), or a configured template with its parameters."""
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if media is not None:
        kind = str(media["type"])
        content: dict[str, Any] = {"link": media["url"]}
        if kind != "audio" and text.strip():
            content["caption"] = text[:1024]
        if kind == "document" and media.get("filename"):
            content["filename"] = media["filename"]
        return {**base, "type": kind, kind: content}
    if template is None:
        return {**base, "type": "text", "text": {"preview_url": False, "body": text}}
    assert spec is not None
    parameters = [{"type": "text", "text": str(p)} for p in template.get("parameters") or []]
    body: dict[str, Any] = {"name": template["name"], "language": {"code": spec["language"]}}
    if parameters:
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {**base, "type": "template", "template": body}
