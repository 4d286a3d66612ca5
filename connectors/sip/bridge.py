"""Where a call's audio goes: the media bridge of one call (``CallBridge``, a ``connectors.media.CallMedia``).

Every call the SIP connector carries has one ``CallBridge``. Its parties sit on sockets of an
``RtpRelay`` (``relay.py``): the **customer** on socket A, the **agent** (or whoever took the
agent's place: a transfer target) on socket B. A SIP party is added at the RTP address its SDP
named (``add_party``); a browser or a Twilio stream (``softphone_bridge``) is added with
``add_media_party`` and owns a loopback port the relay talks to, so everything below works the
same for every kind of party.

- ``connect(TALKING)`` relays packets both ways untouched (no decoding: a few microseconds a
  packet); ``connect(APART)`` stops relaying (hold).
- More parties (a consulted colleague, a conference guest, a supervisor: ``connectors/mixing.py``
  names them) each get their own socket (``open_party``). Once a graph has a party that hears
  more than one other, or a party beyond the customer and the agent, the call is **mixed**
  (``mixer.py``): decoded, summed per listener by the one table of who hears whom, encoded
  again. Back to two parties talking, it is relayed untouched again.
- ``play(party, pcm)`` loops server audio to a party (hold audio) as its own paced RTP stream;
  ``play(party, None)`` stops it. Phones see one continuous stream across sources (relay.py).
- ``record(path)`` writes both directions to a stereo WAV (recorder.py).
- A transfer rings its target on a ``standby()`` socket while the call goes on, then
  ``swap_in`` puts the target in the agent's place.

To add a party to a call in code: ``session.media.add_party("agent", (host, port))`` (or
``await session.media.add_media_party("agent", leg)``), then ``session.media.connect(TALKING)``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from connectors.media import AGENT, APART, CUSTOMER, TALKING, Addr, Hears, MediaParty, MixUnsupported
from connectors.mixing import needs_mix
from connectors.sip.mixer import CallMixer
from connectors.sip.player import Player, encode
from connectors.sip.recorder import Recorder
from connectors.sip.relay import RtpRelay, _Leg

SOCKETS = {CUSTOMER: "a", AGENT: "b"}


class CallBridge:
    """One call's parties, who hears whom, what plays and what records."""

    def __init__(self, host: str, *, payload: int = 0, latch_any_port: bool = False) -> None:
        self.host = host
        self.payload = payload  # the call's codec (RTP payload type 0 or 8): what hold audio is encoded in
        self.relay = RtpRelay(host, latch_any_port=latch_any_port)
        self.player: Player | None = None
        self.recorder: Recorder | None = None
        self.hears: Hears = TALKING
        self.guests: dict[str, _Leg] = {}  # parties beyond the customer and the agent, each on its own socket
        self.mixer: CallMixer | None = None  # while the call is mixed

    async def open(self) -> tuple[int, int]:
        """Bind the parties' sockets: (the customer's port, the agent's port)."""
        return await self.relay.open()

    def socket(self, name: str) -> _Leg:
        """The relay socket a party sits on."""
        if name not in SOCKETS:
            return self.guests[name]
        return self.relay.a if SOCKETS[name] == "a" else self.relay.b

    async def open_party(self, name: str) -> int:
        """A socket for one more party (a guest, a supervisor): its port goes in the SDP we offer it."""
        if name in SOCKETS or name in self.guests:
            raise ValueError(f"the call already has a party {name!r}")
        leg = _Leg(self.relay.latch_any_port)
        leg.held = True  # a party beyond the two is never relayed packet to packet, only mixed
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: leg, local_addr=(self.host, 0))
        self.guests[name] = leg
        if self.mixer is not None:
            self.mixer.attach(name, leg)
        return leg.port

    def port(self, name: str) -> int:
        """The local RTP port a party sends to (it goes in the SDP we give that party)."""
        return self.socket(name).port

    def add_party(self, name: str, address: Addr, *, events_payload: int | None = None) -> None:
        """A SIP party joins at the address its SDP named (a party beyond the two: after ``open_party``)."""
        if name in SOCKETS:
            self.relay.set_peer(SOCKETS[name], address)
        else:
            leg = self.guests[name]
            leg.gone.discard(address)
            leg.peer, leg.armed_at = address, time.monotonic()
        self.socket(name).events_payload = events_payload

    async def add_media_party(self, name: str, party: MediaParty) -> None:
        """A browser or stream party joins through its loopback port (each side points at the other)."""
        if name not in SOCKETS and name not in self.guests:
            await self.open_party(name)
        await party.open(self.host)
        self.add_party(name, (self.host, party.rtp.port))
        party.rtp.peer = (self.host, self.port(name))

    def remove_party(self, name: str) -> None:
        """The party left (a transfer released the agent's phone, a browser dropped, a guest hung up)."""
        if name in SOCKETS:
            self.relay.forget_peer(SOCKETS[name])
            return
        leg = self.guests.pop(name, None)
        if self.mixer is not None:
            self.mixer.detach(name)
        if leg is not None:
            leg.close()

    def has_party(self, name: str) -> bool:
        """Whether anybody sits on this party's socket now."""
        return (name in SOCKETS or name in self.guests) and self.socket(name).peer is not None

    def connect(self, hears: Hears) -> None:
        """Who hears whom from now on (``connectors/mixing.py:hears`` makes the graph of every call
        mode): the customer and the agent talking or apart are relayed packet to packet; any other
        graph is mixed."""
        named = set(hears) | {p for heard in hears.values() for p in heard}
        unknown = sorted(p for p in named if p not in SOCKETS and p not in self.guests)
        if unknown:
            raise MixUnsupported(f"the call has no party {', '.join(unknown)} (open_party first)")
        talking = hears.get(CUSTOMER) == frozenset({AGENT}) and hears.get(AGENT) == frozenset({CUSTOMER})
        plain = named <= set(SOCKETS) and not needs_mix(hears) and (talking or not any(hears.values()))
        if plain:
            self._stop_mixing()
            self.hears = TALKING if talking else APART
            self.relay.hold(not talking)
            return
        self.relay.hold(True)
        self.hears = hears
        if self.mixer is None:
            legs = {CUSTOMER: self.relay.a, AGENT: self.relay.b, **self.guests}
            self.mixer = CallMixer(legs, hears, payload=self.payload)
            self._record_mix()
            self.mixer.start()
        else:
            self.mixer.graph = hears

    def _record_mix(self) -> None:
        """A mixed call is recorded from the mixer's frames (so guests are in it), not the relay's packets."""
        if self.mixer is not None and self.recorder is not None:
            self.recorder.mixed = True
            self.mixer.on_frames = self.recorder.add_frames

    def _stop_mixing(self) -> None:
        if self.mixer is not None:
            self.mixer.stop()
            self.mixer = None
        if self.recorder is not None:
            self.recorder.mixed = False

    @property
    def apart(self) -> bool:
        """Whether the parties do not hear each other (the call is on hold)."""
        return self.hears is APART

    def play(self, name: str, pcm: bytes | None) -> None:
        """Loop this audio to the party (one player per call: hold audio to the customer); None stops it."""
        if pcm is None:
            if self.player is not None:
                self.player.stop()
                self.player = None
            return
        if self.player is None and self.socket(name).peer is not None:
            self.player = Player(self.socket(name), encode(pcm, self.payload), self.payload)
            self.player.start()

    @property
    def playing(self) -> bool:
        """Whether server audio plays into the call now."""
        return self.player is not None

    def record(self, path: Path) -> None:
        """Record both directions to a stereo WAV (customer left, agent right)."""
        recorder = self.recorder = Recorder(path)
        self.relay.record(lambda packet: recorder.add(0, packet), lambda packet: recorder.add(1, packet))
        self._record_mix()

    async def standby(self) -> _Leg:
        """A socket for a party who will take the agent's place (a transfer rings there meanwhile)."""
        return await self.relay.standby()

    def swap_in(self, standby: _Leg, address: Addr, events_payload: int | None) -> None:
        """The standby party takes the agent's place: the customer now hears them."""
        self.relay.replace_b(standby, address, events_payload)
        if self.mixer is not None:
            self.mixer.attach(AGENT, self.relay.b)

    def close(self) -> float | None:
        """Stop playing, release the sockets, finish the recording; its length in seconds, if recorded."""
        self.play(CUSTOMER, None)
        self._stop_mixing()
        for leg in self.guests.values():
            leg.close()
        self.guests.clear()
        self.relay.close()
        return self.recorder.close() if self.recorder is not None else None
