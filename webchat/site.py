"""What the web chat's routes share: settings, the hub, limits, the widget script, origins, CORS.

Origins: a page may start a conversation only from ``[channels.webchat] allowed_origins`` or this
server's own origin (a pivot link's chat page); a request with another ``Origin`` is refused
(403 ``origin_not_allowed``) and gets no CORS headers, so the browser hides every answer from the
foreign page too. Requests without an Origin (not a browser) need a visitor token, except
``POST /chat/v1/sessions``, which always needs an allowed Origin.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from aiohttp import web

from cti import models
from cti.api.context import services
from cti.config import WebchatConfig
from cti.errors import Forbidden, NotFound, RateLimited, Unauthorized
from cti.storage.db import Database
from pivot.guard import MissLimiter
from pivot.hours import open_now
from pivot.settings import PivotConfig
from webchat.frames import Translator
from webchat.hub import Hub
from webchat.sweep import PRESENCE_EVERY
from webchat.visitors import Visitor, find_visitor, seen

HERE = Path(__file__).parent
LANGUAGES = ("en", "fi", "zh", "ko", "pl")
CORS_HEADERS = {"Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Max-Age": "600",
                "Vary": "Origin"}
AGENTS = models.agents


@dataclass(frozen=True)
class Widget:
    """The widget script with its five languages built in, and its gzip form."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def build(cls) -> Widget:
        strings = {lang: orjson.loads((HERE / "messages" / f"{lang}.json").read_bytes()) for lang in LANGUAGES}
        source = (HERE / "static" / "widget.js").read_text(encoding="utf-8")
        body = source.replace("/*STRINGS*/{}", orjson.dumps(strings).decode()).encode()
        return cls(body, gzip.compress(body, 9, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass
class WebchatSite:
    """The web chat of one server."""

    settings: WebchatConfig
    own_origin: str
    hours: PivotConfig
    db: Database
    hub: Hub = field(init=False)
    translator: Translator = field(init=False)
    widget: Widget = field(default_factory=Widget.build)
    presence: asyncio.Task[None] | None = None  # (this node's "seen" marks: webchat.sweep.Presence)

    def __post_init__(self) -> None:
        self.hub = Hub(self.settings.max_connections, self.settings.connections_per_visitor)
        self.translator = Translator(self.db, self.settings.name)
        self.sessions = MissLimiter(self.settings.sessions_per_hour_per_address, window=3600.0)
        self.visitor_messages = MissLimiter(self.settings.messages_per_minute)
        self.address_messages = MissLimiter(self.settings.address_messages_per_minute)
        self.origins = frozenset({*self.settings.allowed_origins, self.own_origin})

    def origin_allowed(self, origin: str | None, request: web.Request | None = None) -> bool:
        """An allowed page's origin, this server's public one, or the request's own (same origin)."""
        if origin is None:
            return False
        origin = origin.lower()
        return origin in self.origins or (request is not None and origin == f"{request.scheme}://{request.host}".lower())

    def check_origin(self, request: web.Request, *, required: bool = False) -> str:
        """The request's Origin when it may use the chat; 403 otherwise."""
        origin = request.headers.get("Origin")
        if origin is None and not required:
            return ""
        if not self.origin_allowed(origin, request):
            raise Forbidden("this page's origin may not use the chat (see [channels.webchat] allowed_origins)",
                            code="origin_not_allowed")
        return str(origin)

    def client(self, request: web.Request) -> str:
        """The client's address (the first X-Forwarded-For hop only behind a trusted proxy)."""
        if self.settings.trust_forwarded_for and (forwarded := request.headers.get("X-Forwarded-For")):
            return forwarded.split(",")[0].strip()[:64]
        return request.remote or "unknown"

    def limit_message(self, visitor_id: str, client: str) -> None:
        """A visitor's message counts against the visitor's and the address's limits (429 past them)."""
        now = time.monotonic()
        wait = self.visitor_messages.retry_after(visitor_id, now) or self.address_messages.retry_after(client, now)
        if wait is not None:
            raise RateLimited("too many messages; wait a moment", retry_after=wait)
        self.visitor_messages.miss(visitor_id, now)
        self.address_messages.miss(client, now)


WEBCHAT = web.AppKey("webchat", WebchatSite)


def site(request: web.Request) -> WebchatSite:
    """The web chat of this server; 404 when ``[channels.webchat]`` is not configured."""
    found = request.app.get(WEBCHAT)
    if found is None:
        raise NotFound("the web chat is not configured ([channels.webchat])", code="webchat_not_configured")
    return found


def own_origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def add_cors(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: an allowed page may read the chat API's answers (errors too)."""
    if not request.path.startswith("/chat/v1/") or response.headers.get("Upgrade"):
        return
    chat = request.app.get(WEBCHAT)
    origin = request.headers.get("Origin")
    if chat is not None and chat.origin_allowed(origin, request):
        response.headers["Access-Control-Allow-Origin"] = str(origin)
        response.headers.update(CORS_HEADERS)


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


async def visitor_of(request: web.Request, token: str | None = None) -> Visitor:
    """The visitor of the request's token (``Authorization: Bearer``); 401 without a live one."""
    chat, svc = site(request), services(request)
    secret = token if token is not None else bearer(request)
    visitor = await svc.db.read_point(lambda c: find_visitor(c, secret, time.time())) if secret else None
    if visitor is None:
        raise Unauthorized("a valid visitor token is required; start a conversation first", code="visitor_unknown")
    days = chat.settings.visitor_days
    if time.time() - visitor.last_seen_at > PRESENCE_EVERY:  # (at most a write a minute per visitor)
        await svc.db.write(lambda tx: seen(tx, visitor.id, days))
    return visitor


async def availability(request: web.Request) -> dict[str, Any]:
    """What the widget offers now: whether someone can chat, and the other ways to reach us."""
    chat, svc = site(request), services(request)
    available = await svc.db.read(lambda c: c.execute(sa.select(sa.func.count()).where(
        AGENTS.c.state == "available", AGENTS.c.deleted.is_(False))).scalar() or 0)
    is_open = open_now(chat.hours, time.time())
    return {"agents_available": bool(available) and is_open, "open": is_open, "company": chat.settings.company_name,
            "features": {"email": svc.channels.first_of_kind("email") is not None, "voice": svc.voice_reach.browser,
                         "callback": svc.voice_reach.calls,
                         "attachments": {"max_bytes": chat.settings.attachment_max_bytes,
                                         "types": chat.settings.attachment_types},
                         "max_message_chars": chat.settings.max_message_chars}}
