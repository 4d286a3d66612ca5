"""The media bridge's typed faces: what carries a call's audio, and what plugs parties into it.

A call's audio lives in one **media bridge** on the node that runs the SIP connector
(``connectors/sip/bridge.py`` is the implementation). Each call is a small graph:

- **parties**: ``customer``, ``agent``, and ``guest:<id>`` / ``supervisor:<id>`` for conferences,
  consults and monitoring (``connectors/mixing.py`` has the one table of who hears whom); a
  SIP dialog's RTP address, or a ``MediaParty`` (a browser's WebRTC audio, a Twilio Media
  Stream) that owns a loopback RTP port;
- **who hears whom** (``Hears``: listener -> the parties it hears), set with ``connect``;
- what the server itself **plays** into a party (hold audio), and whether the call is **recorded**.

``CallMedia`` is one call's graph; ``MediaBridge`` is what the rest of the server asks of the node's
bridge (``softphone_bridge`` brings browsers and Twilio streams to it). A connector that carries
call audio says so with ``Channel.bridges_media`` and hands its bridge out through
``Channel.media_bridge()``; the core finds it there (``cti/connector_host.py``), never by probing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

Addr = tuple[str, int]
Hears = Mapping[str, frozenset[str]]  # listener party -> the parties it hears

CUSTOMER, AGENT = "customer", "agent"
TALKING: Hears = {CUSTOMER: frozenset({AGENT}), AGENT: frozenset({CUSTOMER})}  # the two parties talk
APART: Hears = {}  # nobody hears anybody (hold)


class MixUnsupported(ValueError):
    """The bridge cannot make this graph (it names a party the call does not have)."""


class RtpEndpoint(Protocol):
    """A party's own loopback RTP socket."""

    peer: Addr | None

    @property
    def port(self) -> int: ...


class MediaParty(Protocol):
    """A party that is not a SIP dialog: it joins through its own loopback RTP port and looks like
    a call leg to the bridge (``softphone_bridge/rtp.py:MediaLeg`` implements it)."""

    call_id: str
    payload_type: int  # its G.711 codec: 0 PCMU, 8 PCMA
    ended: asyncio.Event
    ended_by: str | None  # "them" when its far end went away
    on_key: Callable[[str], None] | None  # keys its far end presses

    @property
    def rtp(self) -> RtpEndpoint:
        """Its loopback RTP socket."""
        ...

    async def open(self, host: str) -> None:
        """Bind the party's RTP port on the bridge's address."""
        ...

    async def hangup(self) -> None:
        """End the party's connection."""
        ...

    async def info(self, body: bytes, content_type: str) -> None:
        """Play DTMF (a SIP INFO dtmf-relay body) to the far end."""
        ...

    async def reinvite(self, direction: str) -> bool:
        """Hold or resume (``inactive``/``sendrecv``); True when the far end took it."""
        ...


class CallMedia(Protocol):
    """One call's media graph."""

    def add_party(self, name: str, address: Addr, *, events_payload: int | None = None) -> None:
        """A SIP party joins at the RTP address its SDP named (``events_payload``: its RFC 4733 type)."""
        ...

    async def open_party(self, name: str) -> int:
        """A socket for a party beyond the customer and the agent (a guest, a supervisor); its port."""
        ...

    async def add_media_party(self, name: str, party: MediaParty) -> None:
        """A browser or stream party joins through its own loopback port."""
        ...

    def remove_party(self, name: str) -> None:
        """The party leaves; nothing is sent to it until another party takes its place."""
        ...

    def connect(self, hears: Hears) -> None:
        """Who hears whom from now on (``TALKING``, ``APART``, or any graph of ``mixing.hears``:
        mixed when a party hears several others); ``MixUnsupported`` for a party the call lacks."""
        ...

    def play(self, name: str, pcm: bytes | None) -> None:
        """Loop this 16-bit 8 kHz audio to the party (hold audio); None stops it."""
        ...

    def record(self, path: Path) -> None:
        """Record the call to a stereo WAV at ``path`` (customer left, agent right)."""
        ...


class MediaBridge(Protocol):
    """The node's media bridge, as the parts that bring parties to it see it."""

    def codec_of(self, interaction_id: str) -> int | None:
        """The RTP payload type of a call carried here; None when the call is not here."""
        ...

    async def adopt(self, interaction_id: str, party: MediaParty) -> None:
        """A caller that is not a SIP call (a browser, a Twilio stream) joins as the call's customer."""
        ...

    def answer_in_browser(self, interaction_id: str, party: MediaParty) -> str | None:
        """The accepting agent's browser joins the call; why not, when it cannot."""
        ...

    def join_party(self, interaction_id: str, party_id: str, party: MediaParty) -> str | None:
        """A guest or supervisor rung in the browser joins the call as that party; why not, when it cannot."""
        ...
