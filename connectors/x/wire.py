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
from connectors.fields import bounded_int, label, shaped, text_of

URL = re.compile(r"https?://\S+")
# X's CRC tokens are short random strings (base64 and URL-safe alphabets). Answering only those
# keeps the CRC endpoint from signing anything that could be a delivery's body: a signed answer to
# a caller-chosen JSON document would be a valid webhook signature for it.
CRC_TOKEN = re.compile(r"^[A-Za-z0-9+/_=-]{8,128}$")
MAX_WEIGHT = 280
URL_WEIGHT = 23


def digest(secret: str, data: bytes) -> str:
    """``sha256=`` + base64 HMAC-SHA256, as X signs and answers CRCs."""
    mac = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def crc_token_valid(crc_token: str) -> bool:
    """Whether a CRC token has the shape X sends (and so can never be a JSON body)."""
    return bool(CRC_TOKEN.match(crc_token))


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The body that proves we hold the consumer secret (for a token of X's shape only)."""
    if not crc_token_valid(crc_token):
        raise ValueError("not a CRC token")
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
        if not isinstance(user, dict):
            raise ValueError("a tweet's user is not an object")
        author = x_id(user.get("id_str") or user.get("id"), "the tweet's author")
        tweet_id = x_id(tweet.get("id_str") or tweet.get("id"), "the tweet")
        if author == own:
            continue
        extended = tweet.get("extended_tweet")
        text = text_of((extended.get("full_text") if isinstance(extended, dict) else None) or tweet.get("text"))
        out.append(InboundMessage(
            sender_kind="x", sender=author, text=str(text), external_id=f"tweet:{tweet_id}",
            name=label(user.get("name")) or label(user.get("screen_name")),
            metadata={"kind": "mention", "tweet_id": tweet_id, "screen_name": label(user.get("screen_name")),
                      "followers": count(user.get("followers_count")),
                      "verified": user.get("verified") is True, "lang": label(tweet.get("lang")),
                      "in_reply_to": optional_x_id(tweet.get("in_reply_to_status_id_str"))}))
    listed = payload.get("users")
    users: dict[str, Any] = listed if isinstance(listed, dict) else {}
    for event in _list(payload, "direct_message_events"):
        if event.get("type") != "message_create":
            continue
        create = event.get("message_create") or {}
        if not isinstance(create, dict):
            raise ValueError("message_create is not an object")
        sender = x_id(create.get("sender_id"), "the direct message's sender")
        event_id = x_id(event.get("id"), "the direct message")
        if sender == own:
            continue
        found = users.get(sender)
        profile: dict[str, Any] = found if isinstance(found, dict) else {}
        out.append(InboundMessage(
            sender_kind="x", sender=sender, text=text_of((create.get("message_data") or {}).get("text")),
            external_id=f"dm:{event_id}", name=label(profile.get("name")) or label(profile.get("screen_name")),
            metadata={"kind": "dm", "screen_name": label(profile.get("screen_name")),
                      "followers": count(profile.get("followers_count"))}))
    return out


X_ID = re.compile(r"^[0-9]{1,20}$")


def x_id(value: Any, what: str) -> str:
    """An X id (user, tweet, DM event): digits only, as X sends them; else a malformed event."""
    return shaped(value, X_ID, what)


def optional_x_id(value: Any) -> str | None:
    """An X id that may be absent."""
    return None if value in (None, "") else x_id(value, "a referenced tweet")


def count(value: Any) -> int:
    """A follower count as X sends it (a non-negative integer); anything else counts as 0."""
    return bounded_int(value, 10**12) or 0


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
                      "followers": count(metrics.get("followers_count")), "lang": tweet.get("lang")}))
    newest = (body.get("meta") or {}).get("newest_id") if isinstance(body, dict) else None
    return out, newest
