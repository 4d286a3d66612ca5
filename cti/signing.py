"""Signatures on what the server sends (outbound webhooks, custom-channel replies).

Headers: ``X-CTI-Timestamp: <unix seconds>`` and
``X-CTI-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``. Receivers
recompute it over the raw body, compare in constant time, and reject old timestamps
(replays). ``verify_signature`` does all three.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-CTI-Signature"
TIMESTAMP_HEADER = "X-CTI-Timestamp"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-CTI-Signature value for this body and timestamp."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Content type, timestamp and signature headers for a POST."""
    timestamp = int(time.time() if now is None else now)
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, body, timestamp)}


def verify_signature(secret: str, body: bytes, timestamp: str, signature: str, *, tolerance: float = 300,
                     now: float | None = None) -> bool:
    """True when the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)
