"""The Channel interface every connector implements, and the registry that finds connectors.

A connector translates one network's traffic to and from the core's normalized items and does
nothing else: routing, state and storage live in ``cti/``. The core hands each connector a
``ConnectorContext`` (its validated settings and a ``Core`` to talk back through) and runs it as
an async context under a lease, so each account is logged in on exactly one node.

Connectors are found through the ``cti.connectors`` entry-point group: a third party adds a
network by publishing a package that declares ``[project.entry-points."cti.connectors"]``.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from connectors.calls import CallEvent as CallEvent  # (the call types live in connectors/calls.py)
from connectors.calls import CallReports as CallReports
from connectors.calls import CallUpdate as CallUpdate
from connectors.calls import CallUpdateKind as CallUpdateKind
from connectors.calls import CallUpdates as CallUpdates

if TYPE_CHECKING:
    from connectors.media import MediaBridge

ENTRY_POINT_GROUP = "cti.connectors"


class Health(StrEnum):
    """How a connector's link to its network is doing."""

    STARTING = "starting"
    CONNECTED = "connected"
    TRANSIENT_DISCONNECT = "transient_disconnect"
    BAD_CREDENTIALS = "bad_credentials"
    ERROR = "error"


class Capability(StrEnum):
    """What a channel can do; the API and desktop offer only what the channel declares."""

    VOICE = "voice"
    PUBLIC_REPLY = "public_reply"
    PRIVATE_REPLY = "private_reply"
    THREADING = "threading"
    ATTACHMENTS = "attachments"
    TYPING = "typing"


class Settings(BaseModel):
    """Base of every connector's settings model: unknown keys are refused at start."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message. ``stored`` is the content's path under the data folder."""

    filename: str
    content_type: str
    size: int
    sha256: str | None = None
    stored: str | None = None
    dropped: str | None = None  # why the content was not kept (e.g. over the size limit)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class InboundMessage:
    """One normalized inbound message, as a connector hands it to the core.

    ``external_id`` is the network's id (deduplicated per channel). ``thread_id`` groups messages
    of one conversation; ``references`` are external ids of earlier messages this one answers;
    ``case_hint`` is a case id the sender quoted (e.g. a tag in an email subject).
    """

    sender_kind: str
    sender: str
    text: str
    external_id: str | None = None
    name: str | None = None
    subject: str | None = None
    thread_id: str | None = None
    references: tuple[str, ...] = ()
    case_hint: str | None = None
    attachments: tuple[Attachment, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """What the core did with an inbound message."""

    message_id: str
    interaction_id: str
    case_id: str
    created: bool
    case_created: bool = False


@dataclass(frozen=True)
class OutboundMessage:
    """An agent's message for the connector to deliver.

    ``in_reply_to`` and ``references`` are external ids of earlier messages on the same
    interaction (newest last), for networks that thread replies.
    """

    message_id: str
    interaction_id: str
    case_id: str
    to_kind: str
    to: str
    text: str
    mode: str | None = None
    subject: str | None = None
    thread_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    delivery_id: str = ""  # the outbox item's id: the same on every retry of this message
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    """The far end took the message; ``external_id`` is its id there, when it has one."""

    external_id: str | None = None


@dataclass(frozen=True)
class WebhookTools:
    """What a webhook handler may use to complete its items: an HTTP session, and where files are kept
    (``keep`` writes content once under ``data_dir/attachments/<channel>`` and describes it)."""

    http: aiohttp.ClientSession
    data_dir: Path
    channel: str

    def keep(self, content: bytes, *, filename: str, content_type: str) -> Attachment:
        digest = hashlib.sha256(content).hexdigest()
        path = self.data_dir / "attachments" / self.channel / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(content)
            partial.replace(path)
        return Attachment(filename, content_type, len(content), sha256=digest,
                          stored=str(path.relative_to(self.data_dir)))


@dataclass(frozen=True)
class DeliveryUpdate:
    """What the network says became of a message we sent (a webhook's status): ``external_id`` as
    ``Sent`` gave it; ``status`` sent, delivered, read or failed (``error`` says why)."""

    external_id: str
    status: str
    error: str | None = None
    at: float | None = None


class TemporaryFailure(Exception):
    """Delivery failed for now (far end down, 4xx SMTP, timeout): the outbox retries later.
    ``retry_after``: seconds the far end asked us to wait (a rate limit's reset), if it said."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """The far end refused the message for good (e.g. SMTP 5xx): it is marked failed with this reason."""


@dataclass(frozen=True)
class WebhookReply:
    """What a webhook handler answers the vendor (status, body, content type)."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


class WebhookRejected(Exception):
    """A webhook the server must refuse: ``status`` 400 (malformed), 401 (unsigned), 403 (bad signature)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class WebhookRequest:
    """A vendor's webhook request as a handler sees it (pure data: handlers do no I/O)."""

    method: str
    url: str  # the public URL the vendor called (signatures may cover it)
    path_kind: str  # what follows /webhooks/<name>/, e.g. "voice", "status", "sms"; "" for /webhooks/<name>
    headers: dict[str, str]  # lower-cased names
    query: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)


class WebhookHandler(Protocol):
    """The sans-IO webhook side of a connector: it runs on every node (vendors may call any node),
    while the connector itself runs on one. The core verifies, parses, stores, then answers."""

    def challenge(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer a vendor's GET check (X's CRC, Meta's hub.challenge); None when not a check."""
        ...

    def verify(self, request: WebhookRequest) -> None:
        """Raise WebhookRejected unless the request carries the vendor's valid signature."""
        ...

    def parse(self, request: WebhookRequest) -> Sequence[InboundMessage | CallEvent | DeliveryUpdate]:
        """The inbound messages (and, for telephony, call events; for networks that report on what
        we sent, delivery updates) in a verified request (raise WebhookRejected(400) when malformed)."""
        ...

    async def complete(self, items: Sequence[InboundMessage | CallEvent | DeliveryUpdate],
                       tools: WebhookTools) -> Sequence[InboundMessage | CallEvent | DeliveryUpdate]:
        """Fetch what the items only point at (a WhatsApp message's media, through the network's
        API) before they are stored; most handlers return the items as they are."""
        ...

    def reply(self, request: WebhookRequest, stored: list[Received | str | None]) -> WebhookReply:
        """What to answer the vendor once the items are stored: each message's Received, each call
        event's interaction id (e.g. TwiML that queues the new call, or 200 empty)."""
        ...


class Core(CallReports, Protocol):
    """What the core offers a connector. Connectors never touch storage directly. (What voice
    connectors report about calls is ``connectors/calls.py:CallReports``.)"""

    async def receive(self, message: InboundMessage, *, cursor: dict[str, Any] | None = None,
                      acknowledge: bool = False) -> Received:
        """Store an inbound message (idempotent on external_id). ``cursor`` is saved in the same transaction.
        ``acknowledge``: when the message opened a new case, queue the channel's automatic
        acknowledgement (an outbound message in mode ``auto``) in the same transaction."""
        ...

    async def load_cursor(self) -> dict[str, Any]:
        """The connector's durable position (e.g. IMAP UIDVALIDITY and last UID); {} at first."""
        ...

    async def save_cursor(self, cursor: dict[str, Any]) -> None:
        """Save the connector's position on its own."""
        ...

    async def set_health(self, health: Health, detail: str = "") -> None:
        """Report health; a change becomes a ``connector.health`` event and shows in /readyz."""
        ...

    async def chat_state(self, sender_kind: str, sender: str, state: str) -> None:
        """Forward a typing indicator (composing, paused, active...) as a ``message.chat_state`` event."""
        ...

    async def agents_available(self) -> int:
        """How many agents are available right now (for presence such as XMPP's)."""
        ...

    async def delivery_update(self, update: DeliveryUpdate) -> bool:
        """Record what became of a sent message (delivered, read, failed); False when nothing
        changed (an unknown message, or a status older than the one recorded)."""
        ...


@dataclass
class ConnectorContext:
    """A connector's dependencies, given explicitly."""

    name: str  # the channel name (the config key under [connectors])
    core: Core
    http: aiohttp.ClientSession
    data_dir: Path
    log: logging.Logger
    public_url: str = ""  # the server's public base URL (where vendors call back: /webhooks/<name>/...)


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Channel(ABC, Generic[SettingsT]):
    """One channel connector, generic over its settings model (``class EmailChannel(Channel[EmailSettings])``).
    Subclasses set the class attributes and implement start/stop/send."""

    settings_model: ClassVar[type[BaseModel]] = Settings
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    identity_kind: ClassVar[str] = ""  # the identity kind of this network's addresses (email, xmpp, phone...)
    bridges_media: ClassVar[bool] = False  # carries call audio: its media_bridge() takes browsers and streams

    @classmethod
    def webhook(cls, settings: Any, name: str) -> WebhookHandler | None:
        """This connector's webhook handler for these settings, if it takes webhooks."""
        return None

    @classmethod
    def templates(cls, settings: Any) -> dict[str, int]:
        """The approved message templates a reply may use (name: how many body parameters), for
        networks that send templates (WhatsApp outside its 24-hour window); none by default."""
        return {}

    @classmethod
    def places_calls(cls, settings: Any) -> bool:
        """Whether, with these settings, this connector places outbound calls (MakeCall, callbacks);
        one connector at most may."""
        return False

    @classmethod
    def media_stream_signed(cls, settings: Any, url: str, signature: str) -> bool:
        """Whether a media stream WebSocket (a Twilio Media Stream) to ``url`` carries this
        connector's valid signature; False for connectors that take no media streams."""
        return False

    @classmethod
    def reply_problem(cls, settings: Any, mode: str | None, last_inbound: dict[str, Any] | None,
                      now: float) -> tuple[str, str] | None:
        """Why a reply in this mode cannot be sent now ((code, message), answered 422 by the API),
        e.g. a closed messaging window; None when it can. ``last_inbound``: the interaction's
        newest inbound message (external_id, created_at, meta), if any."""
        return None

    def __init__(self, ctx: ConnectorContext, settings: SettingsT) -> None:
        self.ctx = ctx
        self.settings = settings
        self._health = Health.STARTING

    def media_bridge(self) -> MediaBridge | None:
        """The media bridge this running connector carries (when ``bridges_media``)."""
        return None

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def health(self) -> Health:
        return self._health

    async def set_health(self, health: Health, detail: str = "") -> None:
        """Record and report a health change (repeated states are reported once)."""
        if health != self._health or health == Health.STARTING:
            self._health = health
            self.ctx.log.info("%s: %s%s", self.name, health.value, f" ({detail})" if detail else "")
            await self.ctx.core.set_health(health, detail)

    @abstractmethod
    async def start(self) -> None:
        """Start connecting in the background; return promptly."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect and stop every task this connector started."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> Sent:
        """Deliver one outbound message, or raise TemporaryFailure / PermanentFailure."""

    async def __aenter__(self) -> Channel[SettingsT]:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def discover() -> dict[str, type[Channel[Any]]]:
    """Every installed connector type by entry-point name."""
    found: dict[str, type[Channel[Any]]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a connectors.base.Channel")
        found[entry.name] = cls
    return found
