"""Meta's wire formats, pure: events and messaging windows. (The webhook's signature,
``X-Hub-Signature-256`` over the raw bytes as Meta sent them, and the ``hub.challenge`` check are
every Graph webhook's: ``connectors/webhooks.py:HubWebhook``.)

Events: ``object`` ``page`` (Messenger, and Page comments under ``changes`` with field ``feed``)
or ``instagram`` (messaging, and comments under field ``comments``). Our own messages come back
as echoes (``message.is_echo``) and are skipped.

Messaging windows: a standard reply within 24 h of the customer's last message; after that, a
human agent's reply may carry the HUMAN_AGENT tag up to 7 days; a comment can get one private
reply (by ``comment_id``) within 7 days, and public comment replies at any time.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from connectors.base import InboundMessage
from connectors.fields import bounded_int, label, shaped, text_of

DAY = 86_400.0
STANDARD_WINDOW = DAY
HUMAN_AGENT_WINDOW = 7 * DAY
META_ID = re.compile(r"^[0-9]{1,32}$")  # page-scoped ids (PSID, IGSID) and page ids are digits
OBJECT_ID = re.compile(r"^[0-9]{1,32}(_[0-9]{1,32})?$")  # posts and comments: digits, or page_post
TOKEN = re.compile(r"^[A-Za-z0-9_.:=+/-]{1,300}$")  # message ids (m_...)


def _millis(value: Any) -> int | None:
    return bounded_int(value, 10**14) or None


def parse_events(payload: Any) -> list[InboundMessage]:
    """Messages and comments of one delivery."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ValueError("not a Meta webhook delivery (no entry list)")
    platform = {"page": "messenger", "instagram": "instagram"}.get(str(payload.get("object")))
    if platform is None:
        return []  # another object (e.g. permissions): acknowledged and ignored
    kind = "facebook" if platform == "messenger" else "instagram"
    out: list[InboundMessage] = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise ValueError("an entry is not an object")
        owner = str(entry.get("id") or "")
        for event in entry.get("messaging") or []:
            message = event.get("message") or {}
            if not message or message.get("is_echo"):
                continue
            sender = shaped((event.get("sender") or {}).get("id"), META_ID, "a message's sender")
            mid = shaped(message.get("mid"), TOKEN, "a message's mid")
            if sender == owner:
                continue
            text = text_of(message.get("text")) or " ".join(
                f"[{label(a.get('type')) or 'attachment'}]" for a in message.get("attachments") or []) or ""
            out.append(InboundMessage(sender_kind=kind, sender=sender, text=text, external_id=f"mid:{mid}",
                                      metadata={"kind": "dm", "platform": platform,
                                                "timestamp": _millis(event.get("timestamp"))}))
        for change in entry.get("changes") or []:
            comment = _comment(change, platform, owner, kind)
            if comment is not None:
                out.append(comment)
    return out


def _comment(change: Any, platform: str, owner: str, kind: str) -> InboundMessage | None:
    value = change.get("value") or {}
    field = change.get("field")
    if platform == "messenger" and field == "feed" and value.get("item") == "comment" and value.get("verb") == "add":
        author, comment_id, text = value.get("from") or {}, value.get("comment_id"), text_of(value.get("message"))
        post = value.get("post_id")
    elif platform == "instagram" and field == "comments":
        author, comment_id, text = value.get("from") or {}, value.get("id"), text_of(value.get("text"))
        post = (value.get("media") or {}).get("id")
    else:
        return None
    sender = shaped(author.get("id"), META_ID, "a comment's author")
    comment_id = shaped(comment_id, OBJECT_ID, "a comment's id")
    post = None if post is None else shaped(post, OBJECT_ID, "a comment's post")
    if sender == owner:
        return None
    return InboundMessage(sender_kind=kind, sender=sender, text=text, external_id=f"comment:{comment_id}",
                          name=label(author.get("name")) or label(author.get("username")),
                          metadata={"kind": "comment", "platform": platform, "comment_id": str(comment_id),
                                    "post_id": post, "created_time": value.get("created_time")})


def customer_sent_at(last: dict[str, Any], now: float) -> float:
    """When the customer sent the item (Meta's timestamp when it gave one, else when we stored it):
    the messaging window runs from then."""
    meta = last.get("meta") or {}
    if isinstance(meta.get("timestamp"), int | float):
        return float(meta["timestamp"]) / 1000
    created = meta.get("created_time")
    if isinstance(created, int | float):
        return float(created)
    if isinstance(created, str):
        try:
            return datetime.fromisoformat(created.replace("+0000", "+00:00")).timestamp()
        except ValueError:
            pass
    return float(last.get("created_at") or now)


def reply_plan(mode: str | None, last_inbound: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """How a reply goes out, or why it cannot: {"route": "comment_reply"|"private_reply"|"message",
    "messaging_type", "tag"} or {"refused": (code, message)}."""
    last = last_inbound or {}
    external = str(last.get("external_id") or "")
    age = now - customer_sent_at(last, now)
    if mode == "public":
        if not external.startswith("comment:"):
            return {"refused": ("no_comment_to_answer",
                                "a public reply answers a comment, and this conversation has none")}
        return {"route": "comment_reply", "comment_id": external.removeprefix("comment:")}
    if external.startswith("comment:"):
        if age > HUMAN_AGENT_WINDOW:
            return {"refused": ("messaging_window_closed",
                                "a comment can be answered privately only within 7 days; send a pivot link "
                                "publicly instead")}
        return {"route": "private_reply", "comment_id": external.removeprefix("comment:")}
    if age <= STANDARD_WINDOW:
        return {"route": "message", "messaging_type": "RESPONSE"}
    if age <= HUMAN_AGENT_WINDOW:
        return {"route": "message", "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    return {"refused": ("messaging_window_closed",
                        "Meta allows replies only within 7 days of the customer's last message (24 h, or 7 days "
                        "with the human agent tag); send a pivot link on another channel")}
