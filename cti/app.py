"""The application factory: wires every long-lived part with cleanup contexts (no globals).

This module, ``cti/main.py`` and ``cti/cli.py`` are the composition root: the only modules
of ``cti`` that know the feature packages (``pivot``, ``softphone_bridge``). Features plug in
here: their routes join the API registry, their parts go under their own ``web.AppKey``, and
what must run inside core transactions registers through ``cti/hooks.py``.

Two servers can run in one process (the tests do). Startup order: schema upgrade, database
writer, event bus (plus the PostgreSQL relay across nodes), routing policy, then the
singletons, each under a lease so exactly one node runs it: the router, webhook fan-out,
webhook delivery and every connector with its channel's outbox. Shutdown runs in reverse:
stop intake, give up leases, drain writes, close.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from cti import __version__
from cti.api import (
    admin,
    agents,
    approvals,
    contacts,
    conversation,
    desk,
    events,
    forecast,
    interactions,
    notes,
    ops,
    parties,
    people,
    recordings,
    sso,
    staffing,
    stats,
    surveys,
    webhooks,
)
from cti.api.context import SERVICES, Services, TokenCache
from cti.api.framework import Api
from cti.api.openapi import build_openapi
from cti.bus import EventBus, PgEventRelay
from cti.call_control import VoiceControl
from cti.channels import ChannelDirectory
from cti.connector_host import ConnectorHost, connector_specs
from cti.delivery import OutboxWorker, WebhookFanout, WebhookSender
from cti.errors import Forbidden, Unauthorized
from cti.events import Event
from cti.hooks import CallHooks, MessageHooks
from cti.leases import LeasedRunner
from cti.main import AppConfig
from cti.metrics import Metrics
from cti.passwords import Passwords
from cti.report_engine import MetricRules
from cti.report_rollup import ReportRollup
from cti.retention import RecordingRetention
from cti.routing.live_policy import PolicyHolder
from cti.routing.router import Router
from cti.services.actors import Actor
from cti.services.people import COOKIE as SESSION_COOKIE
from cti.services.people import find_session
from cti.services.recordings import RecordEveryCall
from cti.services.tokens import UNKNOWN, Refusal
from cti.sla_watch import SlaWatch
from cti.sso import OidcClient
from cti.storage.db import Database
from cti.storage.migrate import upgrade_database
from cti.web import pages as web_pages
from pivot import api as pivot_api
from pivot import pages as pivot_pages
from pivot.callbacks import CallbackOutcomes
from pivot.email import EmailPivots
from pivot.pages import PIVOT_SITE, PivotSite
from pivot.scheduler import CALLBACK_SCHEDULER, CallbackScheduler
from softphone_bridge import api as softphone_api
from webchat import api as webchat_api
from webchat import socket as webchat_socket
from webchat import uploads as webchat_uploads
from webchat import voice as webchat_voice
from webchat.site import WEBCHAT, WebchatSite, add_cors, own_origin
from webchat.sweep import Presence, Sweeper

log = logging.getLogger(__name__)
MODULES = (ops, agents, approvals, contacts, conversation, notes, interactions, parties, recordings, pivot_api, desk,
           admin, people, sso, stats, staffing, forecast, surveys, events, pivot_pages, webhooks, softphone_api,
           webchat_api, webchat_socket, webchat_uploads, webchat_voice, web_pages)
TOKEN_QUERY_PATHS = ("/api/v1/events", "/api/v1/events/stream")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def all_routes() -> Api:
    """Every route of the API in one registry."""
    registry = Api()
    for module in MODULES:
        registry.routes.extend(module.api.routes)
    return registry


def default_node_id() -> str:
    """host:pid, unless configured."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _authenticate(request: web.Request) -> Actor | None:
    """The actor of the request's bearer token, else of its session cookie; None without either;
    Unauthorized naming why a token or session is refused. A change made with a cookie must carry
    the session's X-CSRF-Token (403 ``csrf``): a page elsewhere can make the browser send the cookie,
    never read the token."""
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not secret and request.path in TOKEN_QUERY_PATHS:
        secret = request.query.get("access_token", "")
    if not secret:
        return await _session_actor(request)
    if len(secret) > 200:
        raise Unauthorized(UNKNOWN.message, code=UNKNOWN.code)
    found = await request.app[SERVICES].tokens.resolve(secret)
    if isinstance(found, Refusal):
        raise Unauthorized(found.message, code=found.code)
    return found


async def _session_actor(request: web.Request) -> Actor | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    now = time.time()
    found = await request.app[SERVICES].db.read_point(lambda sql: find_session(sql, cookie, now))
    if found is None:
        raise Unauthorized("the session has ended; sign in again", code="session_ended")
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get("X-CSRF-Token", "").encode(), found.csrf.encode()):
        raise Forbidden("a change made with a session cookie needs the session's X-CSRF-Token header", code="csrf")
    return found.actor


def create_app(config: AppConfig, *, migrate: bool = True, singletons: bool = True,
               node_id: str | None = None) -> web.Application:
    """Build the aiohttp application for this configuration."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    registry = all_routes()
    registry.install(app, _authenticate,
                     lambda method, route, status, seconds: app[SERVICES].metrics.observe_request(
                         method, route, status, seconds))
    node = node_id or config.server.node_id or default_node_id()
    specs = connector_specs(config)  # a wrong connector table stops the server here, naming the key

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = config.server.resolved_database_url()
        if migrate:
            await asyncio.to_thread(upgrade_database, url)
        metrics = Metrics()
        db = Database(url, synchronous=config.server.sqlite_synchronous, batch_max=config.server.write_batch_max)
        bus = EventBus(db)

        def on_commit(committed: list[Event]) -> None:
            bus.publish(committed)
            for event_type, count in Counter(e.type.value for e in committed).items():
                metrics.events_published.labels(event_type).inc(count)

        db.on_commit = on_commit
        await db.start()
        await bus.start()
        custom_classes = {c.name: c.capacity_class for c in config.channels.custom}
        policies = PolicyHolder(config.routing, custom_classes)
        await policies.load(db)
        bus.add_listener(policies.on_event)
        relay = PgEventRelay(bus, url) if not db.is_sqlite else None
        if relay is not None:
            await relay.start()
        session = aiohttp.ClientSession()
        directory = ChannelDirectory(config)
        health: dict[str, str] = {}
        # Features that follow call outcomes register here (the core calls none of them by name).
        hooks = CallHooks((CallbackOutcomes(config.pivot.retry_seconds),
                           *((RecordEveryCall(),) if config.recording.record == "all" else ())))
        host = ConnectorHost(config, db, bus, policies, metrics, session, health, specs, call_hooks=hooks,
                             message_hooks=MessageHooks((EmailPivots(),)))
        host.register_channels(directory)
        handlers = {spec.name: spec.cls.webhook(spec.settings, spec.name) for spec in specs}
        svc = Services(config=config, db=db, bus=bus, policies=policies, metrics=metrics, tokens=TokenCache(db),
                       node_id=node, connectors=host, channels=directory, connector_health=health,
                       webhook_handlers={name: handler for name, handler in handlers.items() if handler is not None},
                       openapi=build_openapi(registry.routes, version=__version__,
                                             server_url=config.server.resolved_public_url()),
                       call_control=VoiceControl(db) if host.voice else None, voice_reach=host.reach,
                       passwords=Passwords(),
                       sso=OidcClient(config.auth.oidc, config.server.resolved_public_url(), session)
                       if config.auth.oidc else None)
        app[SERVICES] = svc
        app[PIVOT_SITE] = await PivotSite.create(config, config.pivot, db)
        chat: WebchatSite | None = None
        if config.channels.webchat is not None and config.channels.webchat.enabled:
            chat = app[WEBCHAT] = WebchatSite(config.channels.webchat,
                                              own_origin(config.server.resolved_public_url()), config.pivot, db)
            bus.add_listener(chat.hub.on_event)
            chat.presence = asyncio.create_task(Presence(db, chat.hub).run())
        scheduler: CallbackScheduler | None = None
        if singletons:
            router = svc.router = Router(db, bus, policies)
            ttl = config.server.lease_seconds
            svc.leases = [
                LeasedRunner(db, "router", node, router.run, ttl=ttl),
                LeasedRunner(db, "webhook-fanout", node, WebhookFanout(db, bus).run, ttl=ttl),
                LeasedRunner(db, "sla-watch", node, SlaWatch(db, lambda: (
                    rules := MetricRules.of(config.reports, policies.current),
                    rules.known_channels(policies.current, directory.names()))).run, ttl=ttl),
                LeasedRunner(db, "report-rollup", node, ReportRollup(db, config.reports.rollup_seconds).run, ttl=ttl),
                *([LeasedRunner(db, "recording-retention", node, RecordingRetention(
                    db, config.recording.retention_days).run, ttl=ttl)] if config.recording.retention_days else []),
                LeasedRunner(db, "outbox", node, OutboxWorker(
                    db, config, metrics, kind="webhook", deliver=WebhookSender(db, config, session)).run, ttl=ttl),
                *(LeasedRunner(db, f"connector:{spec.name}", node, host.work(spec), ttl=ttl,
                               url=config.server.resolved_internal_url()) for spec in specs),
                *([LeasedRunner(db, "webchat-sweep", node, Sweeper(
                    db, chat.settings.name, chat.settings.abandon_after_seconds, lambda: policies.current).run,
                    ttl=ttl)] if chat is not None else []),
            ]
            for runner in svc.leases:
                await runner.start()
            # Every node looks for due callbacks; row locks make each fire once (pivot/scheduler.py).
            scheduler = app[CALLBACK_SCHEDULER] = CallbackScheduler(db, bus, config.pivot, policies, directory,
                                                                    can_call=host.voice)
            await scheduler.start()
        log.info("node %s ready on database %s", node, _safe_url(url))
        try:
            yield
        finally:
            svc.draining = True
            if scheduler is not None:
                await scheduler.stop()
            for runner in svc.leases:
                await runner.stop()
            if chat is not None and chat.presence is not None:
                chat.presence.cancel()
            if relay is not None:
                await relay.stop()
            await bus.stop()
            await db.close()
            await session.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(add_cors)
    app.on_shutdown.append(_end_streams)
    return app


async def _end_streams(app: web.Application) -> None:
    """Open event streams end when the node stops, instead of holding its shutdown until their next heartbeat."""
    if SERVICES in app:
        app[SERVICES].bus.close_subscriptions(clients_only=True)
    if WEBCHAT in app:
        app[WEBCHAT].hub.close_all()


def _safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
