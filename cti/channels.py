"""Which channels exist and how each delivers outbound items.

Custom channels (config ``[[channels.custom]]``) deliver by a signed POST to their
``outbound_url``. Connector channels (email, XMPP, SIP, ...) register here when they start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti.config import Config

DEFAULT_IDENTITY_KIND = {"voice": "phone", "sms": "phone", "email": "email", "xmpp": "xmpp"}


@dataclass(frozen=True)
class ChannelInfo:
    """One channel's outbound facts."""

    name: str
    outbound_url: str | None
    secret: str
    identity_kind: str | None
    connector: bool = False  # delivered by a connector (email, XMPP...) rather than a custom-channel POST
    # (mode, last inbound {external_id, created_at, meta} | None, now) -> (code, message) when a reply
    # cannot go out now (e.g. Meta's messaging window); None allows it.
    reply_problem: Callable[[str | None, dict[str, Any] | None, float], tuple[str, str] | None] | None = None
    public_reply: bool = False  # the network has public replies (a tweet, a comment) beside private ones
    # approved templates a reply may send (name: body parameters), e.g. WhatsApp outside its window
    templates: dict[str, int] = field(default_factory=dict)
    sends_media: bool = False  # a reply may carry a file by link (WhatsApp)

    def reply_modes(self, last_inbound: dict[str, Any] | None, now: float) -> list[str]:
        """The reply modes the desk offers now: public only where the network has it and this
        conversation has something public to answer."""
        modes = ["private"]
        problem = self.reply_problem("public", last_inbound, now) if self.reply_problem and self.public_reply else None
        if self.public_reply and problem is None:
            modes.append("public")
        if self.templates:  # (outside the window a template is the only way; inside it, one more)
            closed = self.reply_problem is not None and self.reply_problem("private", last_inbound, now) is not None
            modes = ["template"] if closed else [*modes, "template"]
        return modes

    @property
    def sends(self) -> bool:
        """Whether replies on this channel can be delivered."""
        return self.connector or bool(self.outbound_url)


@dataclass(frozen=True)
class VoiceReach:
    """What this deployment's voice connectors can do for a customer: place calls (callbacks,
    MakeCall: a SIP or Twilio connector) and bridge a browser ("talk now": the SIP connector's
    media bridge). Pivot links and their pages offer only what is here."""

    calls: bool = False
    browser: bool = False

    def allows(self, target: str) -> bool:
        """Whether a pivot to ``target`` can happen here (written targets always can)."""
        if target == "callback":
            return self.calls
        if target == "voice":
            return self.browser
        return True


class ChannelDirectory:
    """Every channel this server can receive on and reply through."""

    def __init__(self, config: Config) -> None:
        self._channels: dict[str, ChannelInfo] = {}
        for custom in config.channels.custom:
            self._channels[custom.name] = ChannelInfo(custom.name, custom.outbound_url or None, custom.secret, None)

    def register(self, info: ChannelInfo) -> None:
        """Add a channel (connectors call this when they start)."""
        self._channels[info.name] = info

    def get(self, name: str) -> ChannelInfo | None:
        """The channel of that name, if any."""
        return self._channels.get(name)

    def first_of_kind(self, identity_kind: str) -> ChannelInfo | None:
        """The first channel (by name) whose customers have this kind of identity and that can send:
        the email channel a pivot or a chat continues on, the web chat a chat link opens."""
        return next((info for name in self.names() if (info := self._channels[name]).identity_kind == identity_kind
                     and info.sends), None)

    def names(self) -> list[str]:
        """All channel names."""
        return sorted(self._channels)

    def identity_kind(self, name: str) -> str | None:
        """The identity kind a bare ``to`` string means on this channel."""
        info = self._channels.get(name)
        return (info.identity_kind if info else None) or DEFAULT_IDENTITY_KIND.get(name)
