"""Identifier generation.

Ids are opaque strings: a short type prefix and a time-ordered, random suffix, so they sort by
creation time, read well in logs and never collide across nodes.

Why there are no ``NewType`` ids: every id reaches the core as a plain string (a URL path, a
JSON body, a database row, an event), and its check is by shape and ownership where it enters
(``cti/services/access.py``), not by a static type a caller could cast to. The NewTypes that
were declared here were never used, so they were removed rather than promised.
"""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """Return a new time-ordered unique id such as ``int_18d2c4e5f6a0b1c2d3e4f5a6b7``.

    11 hex digits of milliseconds since the epoch, then 64 random bits: ids sort by creation
    time (cursor paging relies on it) and cannot collide across nodes."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{os.urandom(8).hex()}"
