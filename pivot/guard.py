"""Token-guessing defence: clients that ask for too many unknown links are told to wait (429).

Counted per node in memory: guessing a 256-bit token is hopeless anyway; this keeps the pages
from being a free oracle and the logs from filling. Callback limits, which protect money, are
counted in the database instead (pivot.callbacks)."""

from __future__ import annotations

from collections import deque

WINDOW = 60.0
MAX_CLIENTS = 50_000


class MissLimiter:
    """Sliding window (one minute unless told) of counted events per client key: misses here,
    messages and sessions in the web chat."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._misses: dict[str, deque[float]] = {}

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds to wait when the client is over the limit, else None."""
        misses = self._misses.get(client)
        if misses is None:
            return None
        while misses and misses[0] <= now - self.window:
            misses.popleft()
        if len(misses) < self.limit:
            return None
        return max(1, int(misses[0] + self.window - now) + 1)

    def miss(self, client: str, now: float) -> None:
        """Count one (an unknown token, a message...) from this client."""
        if len(self._misses) > MAX_CLIENTS:
            self._misses.clear()
        self._misses.setdefault(client, deque()).append(now)

    def take(self, client: str, now: float) -> int | None:
        """Count one unless the client is over the limit; the seconds to wait when it is."""
        wait = self.retry_after(client, now)
        if wait is None:
            self.miss(client, now)
        return wait
