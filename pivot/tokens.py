"""Pivot tokens, form (CSRF) tokens and privacy helpers: pure functions, no I/O.

A link token is 32 bytes from ``secrets`` (256 bits, URL-safe base64, 43 characters). Only its
SHA-256 is stored: a database leak yields no usable links, and because the stored value is a
hash of a high-entropy secret, looking it up by index reveals nothing that timing could leak;
the found row's hash is still compared with ``hmac.compare_digest``.

The landing page's form carries a CSRF token bound to the link and to a random cookie set by
the GET (double submit): HMAC(secret, link hash + cookie). A page on another site can make the
browser POST, but cannot read the cookie nor compute the field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def new_token() -> str:
    """A fresh link token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Whether the string could be a token at all (cheap filter before any lookup)."""
    return bool(TOKEN_PATTERN.match(token))


def same_hash(stored: str, computed: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(stored.encode(), computed.encode())


def new_nonce() -> str:
    """The random value of the form cookie."""
    return secrets.token_urlsafe(18)


def form_token(secret: bytes, link_hash: str, nonce: str) -> str:
    """The CSRF field for this link and this browser's cookie."""
    mac = hmac.new(secret, f"{link_hash}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def form_token_valid(secret: bytes, link_hash: str, nonce: str | None, field: str | None) -> bool:
    """Whether the posted field matches the cookie for this link."""
    if not nonce or not field or len(nonce) > 64 or len(field) > 64:
        return False
    return hmac.compare_digest(form_token(secret, link_hash, nonce).encode(), field.encode())


def client_key(secret: bytes, address: str) -> str:
    """A keyed hash of the client address: rate limits work without storing IP addresses."""
    return hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:32]


def mask_number(e164: str) -> str:
    """+358401234567 -> +358 •••• ••67: enough for the customer to recognise, useless to a reader."""
    if len(e164) < 6:
        return "•" * len(e164)
    country_end = 4 if len(e164) > 11 else 3
    hidden = len(e164) - country_end - 2
    return f"{e164[:country_end]} {'•' * hidden} {e164[-2:]}"
