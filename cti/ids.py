"""Typed identifiers and their generation.

Ids are opaque strings: a short type prefix and a time-ordered, random suffix, so they
sort by creation time, read well in logs and never collide across nodes.
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

def new_id(prefix: str) -> str:
    """Return a new time-ordered unique id such as ``int_18d2c4e5f6a0b1c2d3e4f5a6b7``.

    11 hex digits of milliseconds since the epoch, then 64 random bits: ids sort by creation
    time (cursor paging relies on it) and cannot collide across nodes."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{os.urandom(8).hex()}"
