"""What the API handlers share: the application's services, under one typed AppKey."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.base import WebhookHandler
from cti.api.rendered import RenderedInteractions
from cti.bus import EventBus
from cti.call_control import VoiceControl
from cti.channels import ChannelDirectory, VoiceReach
from cti.config import Config
from cti.connector_host import ConnectorHost
from cti.leases import LeasedRunner
from cti.metrics import Metrics
from cti.passwords import Passwords
from cti.routing.live_policy import PolicyHolder
from cti.routing.router import Router
from cti.services.actors import Actor
from cti.services.tokens import Refusal, find_actor
from cti.sso import OidcClient
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
    """Long-lived parts of one server process (the core's; a feature package keeps its own parts under
    its own typed ``web.AppKey``, e.g. ``pivot.pages.PIVOT_SITE``)."""

    config: Config
    db: Database
    bus: EventBus
    policies: PolicyHolder
    metrics: Metrics
    tokens: TokenCache
    node_id: str
    connectors: ConnectorHost
    channels: ChannelDirectory
    connector_health: dict[str, str]
    webhook_handlers: dict[str, WebhookHandler]  # by channel name: the connectors that take webhooks
    openapi: dict[str, Any]  # the served OpenAPI document
    call_control: VoiceControl | None = None  # None without a voice connector
    router: Router | None = None  # None on a node started without singletons
    leases: list[LeasedRunner] = field(default_factory=list)
    voice_reach: VoiceReach = field(default_factory=VoiceReach)
    passwords: Passwords = field(default_factory=Passwords)
    sso: OidcClient | None = None  # single sign-on, when [auth.oidc] is set
    rendered_interactions: RenderedInteractions = field(default_factory=RenderedInteractions)
    draining: bool = False


SERVICES: web.AppKey[Services] = web.AppKey("cti_services", Services)


def services(request: web.Request) -> Services:
    """The services of the application serving this request."""
    return request.app[SERVICES]
