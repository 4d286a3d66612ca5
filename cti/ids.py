"""Typed identifiers and their generation.

Ids are opaque strings: a short type prefix and 20 characters of a time-ordered, random
suffix, so they sort by creation time, read well in logs and never collide across nodes.
"""

from __future__ import annotations

import os
import time
from typing import NewType

ContactId = NewType("ContactId", str)
IdentityId = NewType("IdentityId", str)
CaseId = NewType("CaseId", str)
InteractionId = NewType("InteractionId", str)
MessageId = NewType("MessageId", str)
AgentId = NewType("AgentId", str)
TokenId = NewType("TokenId", str)
WebhookId = NewType("WebhookId", str)
OutboxId = NewType("OutboxId", str)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return a new time-ordered unique id such as ``int_01hx...``."""
    millis = time.time_ns() // 1_000_000
    entropy = int.from_bytes(os.urandom(8), "big")
    return f"{prefix}_{_base32(millis, 9)}{_base32(entropy, 11)}"
