"""Runs the configured connectors and is their one way into the core.

Every ``[connectors.<name>]`` table names a channel; its ``type`` (default: the name) picks the
connector class from the ``cti.connectors`` entry points, and the rest of the table is that
class's settings, validated at start. ``enabled = false`` switches a channel off. Custom
channels (``[[channels.custom]]``) run as connectors of the built-in custom type, and the web chat
(``[channels.webchat]``) as one of the built-in web chat type.

Each connector runs under the lease ``connector:<name>`` (one IMAP IDLE, one XMPP login per
account across nodes), together with the outbox worker that delivers that channel's replies,
so a reply accepted on any node goes out through the node holding the account.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, ValidationError

from connectors.base import (
    Capability,
    Channel,
    ConnectorContext,
    Health,
    OutboundMessage,
    PermanentFailure,
    TemporaryFailure,
    discover,
)
from connectors.media import MediaBridge
from cti.bus import EventBus
from cti.channels import ChannelDirectory, ChannelInfo, VoiceReach
from cti.config import Config
from cti.custom_channel import CustomChannel
from cti.delivery import OutboxWorker, Outcome
from cti.errors import ConfigError
from cti.events import Event, EventType
from cti.gateway import CoreGateway
from cti.hooks import CallHooks, MessageHooks
from cti.metrics import Metrics
from cti.routing.live_policy import PolicyHolder
from cti.storage.db import Database
from cti.webchat_channel import WebchatChannel

log = logging.getLogger("cti.connectors")
RESERVED_KEYS = ("type", "enabled")


@dataclass(frozen=True)
class ConnectorSpec:
    """One configured connector: channel name, class, validated settings."""

    name: str
    cls: type[Channel[Any]]
    settings: BaseModel


def connector_specs(config: Config, installed: dict[str, type[Channel[Any]]] | None = None) -> list[ConnectorSpec]:
    """The enabled connectors of this configuration; ConfigError naming the key when one is wrong."""
    types = discover() if installed is None else installed
    specs: list[ConnectorSpec] = []
    for name, table in config.connectors.items():
        raw = dict(table)
        type_name, enabled = raw.pop("type", name), raw.pop("enabled", True)
        if not enabled:
            continue
        cls = types.get(type_name)
        if cls is None:
            raise ConfigError(f"connectors.{name}: no connector of type {type_name!r} is installed "
                              f"(installed: {', '.join(sorted(types)) or 'none'})")
        try:
            settings = cls.settings_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"connectors.{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                 for e in exc.errors())
            raise ConfigError(f"invalid configuration: {problems}") from exc
        specs.append(ConnectorSpec(name, cls, settings))
    placing = [spec.name for spec in specs if spec.cls.places_calls(spec.settings)]
    if len(placing) > 1:
        raise ConfigError(f"connectors: {' and '.join(placing)} would both place outbound calls; set "
                          f"place_outbound_calls = false on all but one of them")
    taken = {spec.name for spec in specs}
    for custom in config.channels.custom:
        if custom.name in taken:
            raise ConfigError(f"channels.custom: {custom.name!r} is also configured under [connectors]")
        specs.append(ConnectorSpec(custom.name, CustomChannel, custom))
    webchat = config.channels.webchat
    if webchat is not None and webchat.enabled:
        if webchat.name in {spec.name for spec in specs}:
            raise ConfigError(f"channels.webchat: {webchat.name!r} is also the name of another channel")
        specs.append(ConnectorSpec(webchat.name, WebchatChannel, webchat))
    return specs


def outbound_of(item: Any) -> OutboundMessage:
    """The outbox item of a reply, as the connector sees it."""
    payload = item.payload
    message, to = payload.get("message", {}), payload.get("to") or {}
    return OutboundMessage(
        message_id=message.get("id", ""), interaction_id=payload.get("interaction_id", ""),
        case_id=payload.get("case_id", ""), to_kind=to.get("kind", ""), to=to.get("value", ""),
        text=message.get("text", ""), mode=message.get("mode"), subject=payload.get("subject"),
        thread_id=payload.get("thread_id"), in_reply_to=payload.get("in_reply_to"),
        references=tuple(payload.get("references") or ()), delivery_id=item.id, raw=payload)


async def deliver_through(channel: Channel[Any], item: Any) -> Outcome:
    """Send one outbox item through the connector and classify the outcome."""
    try:
        sent = await channel.send(outbound_of(item))
    except PermanentFailure as exc:
        return Outcome("failed", str(exc)[:500] or "refused")
    except TemporaryFailure as exc:
        detail = str(exc)[:500] or "temporarily unavailable"
        if exc.retry_after is not None:  # the far end named its reset: not before then
            return Outcome("retry", detail, not_before=time.time() + exc.retry_after)
        return Outcome("retry", detail)
    return Outcome("ok", external_id=sent.external_id)


class ConnectorHost:
    """Builds the configured connectors; runs each (with its outbox) while this node holds its lease."""

    def __init__(self, config: Config, db: Database, bus: EventBus, policies: PolicyHolder, metrics: Metrics,
                 http: aiohttp.ClientSession, health: dict[str, str], specs: list[ConnectorSpec], *,
                 call_hooks: CallHooks = CallHooks(), message_hooks: MessageHooks = MessageHooks()) -> None:
        self.config, self.db, self.policies, self.metrics, self.http = config, db, policies, metrics, http
        self.call_hooks, self.message_hooks = call_hooks, message_hooks
        self.health, self.specs, self.bus = health, specs, bus
        self.data_dir = Path(config.server.data_dir).resolve()
        self.running: dict[str, Channel[Any]] = {}
        bus.add_listener(self._on_event)
        for spec in specs:
            health.setdefault(spec.name, Health.STARTING.value)

    def register_channels(self, directory: ChannelDirectory) -> None:
        """Every connector's channel can take replies on every node."""
        for spec in self.specs:
            existing = directory.get(spec.name)
            cls, settings = spec.cls, spec.settings
            directory.register(ChannelInfo(
                spec.name, existing.outbound_url if existing else None, existing.secret if existing else "",
                cls.identity_kind or (existing.identity_kind if existing else None), connector=True,
                reply_problem=functools.partial(cls.reply_problem, settings),
                public_reply=Capability.PUBLIC_REPLY in cls.capabilities, templates=cls.templates(settings),
                sends_media=Capability.ATTACHMENTS in cls.capabilities))

    @property
    def voice(self) -> bool:
        """Whether a voice connector (SIP, Twilio...) is configured."""
        return any(Capability.VOICE in spec.cls.capabilities for spec in self.specs)

    @property
    def reach(self) -> VoiceReach:
        """What the configured voice connectors can do (place calls; bridge browsers)."""
        return VoiceReach(calls=self.voice,
                          browser=any(spec.cls.bridges_media for spec in self.specs))

    def media_bridge(self) -> MediaBridge | None:
        """The media bridge running on this node (the running connector that carries call audio), if any."""
        return next((bridge for channel in self.running.values() if (bridge := channel.media_bridge()) is not None),
                    None)

    def media_leases(self) -> list[str]:
        """The lease names of the connectors that carry call audio (their holder has the media bridge)."""
        return [f"connector:{spec.name}" for spec in self.specs if spec.cls.bridges_media]

    def media_stream_signed(self, url: str, signature: str) -> bool:
        """Whether a media stream to ``url`` carries the valid signature of one configured connector."""
        return any(spec.cls.media_stream_signed(spec.settings, url, signature) for spec in self.specs)

    def gateway(self, name: str) -> CoreGateway:
        """The core as the named connector sees it."""
        spec = next((s for s in self.specs if s.name == name), None)
        public = spec is not None and Capability.PUBLIC_REPLY in spec.cls.capabilities
        return CoreGateway(name, self.db, self.policies, self.health, self.bus,
                           call_hooks=self.call_hooks,
                           message_hooks=self.message_hooks.for_kind(spec.cls.identity_kind if spec else ""),
                           social=self.config.social if public else None)

    def _on_event(self, event: Event) -> None:
        if event.type is EventType.CONNECTOR_HEALTH:
            name = event.data.get("connector")
            if isinstance(name, str):
                self.health[name] = str(event.data.get("health"))

    def work(self, spec: ConnectorSpec) -> Any:
        """The leased work for one connector: run it and deliver its channel's outbox."""

        async def run() -> None:
            ctx = ConnectorContext(name=spec.name, core=self.gateway(spec.name),
                                   http=self.http, data_dir=self.data_dir,
                                   public_url=self.config.server.resolved_public_url(),
                                   log=logging.getLogger(f"cti.connectors.{spec.name}"))
            channel = spec.cls(ctx, spec.settings)
            async with channel:
                self.running[spec.name] = channel
                try:
                    await OutboxWorker(self.db, self.config, self.metrics, kind="channel", target=spec.name,
                                       deliver=lambda item: deliver_through(channel, item)).run()
                finally:
                    self.running.pop(spec.name, None)

        return run
