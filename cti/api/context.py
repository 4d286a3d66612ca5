"""What the API handlers share: the application's services, under one typed AppKey."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cti.api.rendered import RenderedInteractions
from cti.bus import EventBus
from cti.channels import VoiceReach
from cti.config import Config
from cti.metrics import Metrics
from cti.routing.live_policy import PolicyHolder
from cti.services.actors import Actor
from cti.services.tokens import Refusal, find_actor
from cti.storage.db import Database

TOKEN_CACHE_SECONDS = 2.0


class TokenCache:
    """Resolves bearer tokens with a short cache (revocation is seen within two seconds everywhere)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[Actor | Refusal, float]] = {}

    async def resolve(self, secret: str) -> Actor | Refusal:
        """The actor behind a token, or why it is refused."""
        key = secret  # held in memory only, like the request that carried it; hashing per request costs more
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            found = hit[0]
            if not isinstance(found, Actor) or found.expires_at is None or found.expires_at > time.time():
                return found
        found = await self.db.read_point(lambda sql: find_actor(sql, secret))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (found, now + TOKEN_CACHE_SECONDS)
        return found

    def forget(self) -> None:
        """Drop every cached token (after a revocation on this node)."""
        self._cache.clear()


@dataclass
class Services:
    """Long-lived parts of one server process."""

    config: Config
    db: Database
    bus: EventBus
    policies: PolicyHolder
    metrics: Metrics
    tokens: TokenCache
    node_id: str
    connector_health: dict[str, str] = field(default_factory=dict)
    voice_reach: VoiceReach = field(default_factory=VoiceReach)
    rendered_interactions: RenderedInteractions = field(default_factory=RenderedInteractions)
    extras: dict[str, Any] = field(default_factory=dict)
    draining: bool = False


SERVICES: web.AppKey[Services] = web.AppKey("cti_services", Services)


def services(request: web.Request) -> Services:
    """The services of the application serving this request."""
    return request.app[SERVICES]
