"""Reconnect pacing shared by connectors: exponential backoff with jitter, reset after a healthy session."""

from __future__ import annotations

import asyncio
import random
import time


class Backoff:
    """1 s, 2 s, 4 s ... up to ``maximum``; back to the start once a session lasted ``healthy_after``."""

    def __init__(self, maximum: float, *, first: float = 1.0, healthy_after: float = 60.0) -> None:
        self.maximum, self.first, self.healthy_after = maximum, first, healthy_after
        self.delay = first
        self.session_started = time.monotonic()

    def session_start(self) -> None:
        """Call when a connection attempt begins."""
        self.session_started = time.monotonic()

    def hold_off(self) -> None:
        """Wait the longest next time (a refused login: quick retries only lock the account)."""
        self.delay = self.maximum

    async def wait(self) -> None:
        """Sleep before the next attempt."""
        if time.monotonic() - self.session_started > self.healthy_after and self.delay < self.maximum:
            self.delay = self.first
        await asyncio.sleep(self.delay * random.uniform(0.8, 1.2))
        self.delay = min(self.maximum, self.delay * 2)
