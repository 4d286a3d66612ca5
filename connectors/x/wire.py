"""X's wire formats, pure: webhook signatures, the CRC answer, Account Activity events, tweet length.

Signatures: ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer_secret, raw body)>``;
the CRC check answers ``{"response_token": "sha256=<base64 HMAC-SHA256(consumer_secret, crc_token)>"}``.
Events: ``tweet_create_events`` (v1.1 tweet objects) and ``direct_message_events`` (message_create,
with a ``users`` map); our own tweets and DMs come back as events too and are skipped.
Length: 280 weighted characters; each URL counts 23 (t.co), CJK and emoji count 2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from connectors.base import InboundMessage

URL = re.compile(r"https?://\S+")
MAX_WEIGHT = 280
URL_WEIGHT = 23


def digest(secret: str, data: bytes) -> str:
    """``sha256=`` + base64 HMAC-SHA256, as X signs and answers CRCs."""
    mac = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The body that proves we hold the consumer secret."""
    return {"response_token": digest(secret, crc_token.encode())}


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of x-twitter-webhooks-signature."""
    return hmac.compare_digest(digest(secret, body).encode(), header.strip().encode())


def weighted_length(text: str) -> int:
    """Characters as X counts them: URLs 23, characters beyond Latin-1 ranges 2 (CJK, emoji)."""
    total = 0
    rest = URL.sub(lambda _m: "\0", text)
    for ch in rest:
        if ch == "\0":
            total += URL_WEIGHT
        else:
            code = ord(ch)
            total += 1 if code <= 0x10FF or 0x2000 <= code <= 0x200D or 0x2010 <= code <= 0x201F \
                or 0x2032 <= code <= 0x2037 else 2
    return total


def parse_events(payload: Any) -> list[InboundMessage]:
    """The mentions and DMs of one Account Activity delivery (own echoes skipped)."""
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    own = str(payload.get("for_user_id") or "")
    out: list[InboundMessage] = []
    for tweet in _list(payload, "tweet_create_events"):
        user = tweet.get("user") or {}
        author = str(user.get("id_str") or user.get("id") or "")
        tweet_id = str(tweet.get("id_str") or tweet.get("id") or "")
        if not author or not tweet_id:
            raise ValueError("a tweet without id or author")
        if author == own:
            continue
        text = tweet.get("extended_tweet", {}).get("full_text") or tweet.get("text") or ""
        out.append(InboundMessage(
            sender_kind="x", sender=author, text=str(text), external_id=f"tweet:{tweet_id}",
            name=user.get("name") or user.get("screen_name"),
            metadata={"kind": "mention", "tweet_id": tweet_id, "screen_name": user.get("screen_name"),
                      "followers": int(user.get("followers_count") or 0),
                      "verified": bool(user.get("verified")), "lang": tweet.get("lang"),
                      "in_reply_to": tweet.get("in_reply_to_status_id_str")}))
    users = payload.get("users") if isinstance(payload.get("users"), dict) else {}
    for event in _list(payload, "direct_message_events"):
        if event.get("type") != "message_create":
            continue
        create = event.get("message_create") or {}
        sender = str(create.get("sender_id") or "")
        event_id = str(event.get("id") or "")
        if not sender or not event_id:
            raise ValueError("a direct message without id or sender")
        if sender == own:
            continue
        profile = users.get(sender) or {}
        out.append(InboundMessage(
            sender_kind="x", sender=sender, text=str((create.get("message_data") or {}).get("text") or ""),
            external_id=f"dm:{event_id}", name=profile.get("name") or profile.get("screen_name"),
            metadata={"kind": "dm", "screen_name": profile.get("screen_name"),
                      "followers": int(profile.get("followers_count") or 0)}))
    return out


def _list(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = payload.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} is not a list of objects")
    return value


def mentions_page(body: Any, own_id: str) -> tuple[list[InboundMessage], str | None]:
    """A v2 mentions timeline page (polling mode): messages oldest first, and the newest id."""
    data = body.get("data") or [] if isinstance(body, dict) else []
    users = {u.get("id"): u for u in (body.get("includes") or {}).get("users") or []} if isinstance(body, dict) else {}
    out = []
    for tweet in reversed(data):
        author = str(tweet.get("author_id") or "")
        if not author or author == own_id:
            continue
        user = users.get(author) or {}
        metrics = user.get("public_metrics") or {}
        out.append(InboundMessage(
            sender_kind="x", sender=author, text=str(tweet.get("text") or ""), external_id=f"tweet:{tweet['id']}",
            name=user.get("name") or user.get("username"),
            metadata={"kind": "mention", "tweet_id": str(tweet["id"]), "screen_name": user.get("username"),
                      "followers": int(metrics.get("followers_count") or 0), "lang": tweet.get("lang")}))
    newest = (body.get("meta") or {}).get("newest_id") if isinstance(body, dict) else None
    return out, newest
