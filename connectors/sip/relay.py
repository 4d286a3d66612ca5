"""Bridging two call legs by relaying RTP packets untouched between two UDP sockets.

Each leg has its own socket (its port goes in the SDP we give that party). A packet arriving on
one leg's socket goes out of the other leg's socket to that party's address: first the one its
SDP gave, then, once it sends, the address its packets come from (symmetric RTP, so a phone
behind NAT is reached). No decoding: the relay costs a few microseconds per packet.

Latching is strict: a leg takes packets only from the address its party's SDP signalled (with
``latch_any_port``, where the operator says parties sit behind NAT: from that IP address at any
port, learned once), only while it expects a party (after ``set_peer``), never from one that has
left (``forget_peer``: a phone released by a transfer keeps sending for a moment, and learning
it again would send the next agent's audio to the old phone). Packets from any other address are
dropped, so nobody spraying the relay's ports can take a leg or inject audio, even in the moment
between an answer and the party's first packet. Once learned, the party's SSRC is pinned: a
packet with another SSRC is taken only after the pinned stream has been silent for
``SSRC_RESTART_SECONDS`` (a phone restarting its stream), never mixed in.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Callable
from typing import Any

Addr = tuple[str, int]
SSRC_RESTART_SECONDS = 0.5
DTMF_KEYS = "0123456789*#ABCD"


def telephone_event(packet: bytes, payload_type: int) -> tuple[str, int, bool] | None:
    """(key, RTP timestamp, end of event) when the packet is an RFC 4733 event of that payload type."""
    if len(packet) < 16 or packet[0] >> 6 != 2 or packet[1] & 0x7F != payload_type:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and len(packet) >= offset + 4:  # header extension
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    if len(packet) < offset + 4 or packet[offset] >= len(DTMF_KEYS):
        return None
    timestamp = struct.unpack_from("!I", packet, 4)[0]
    return DTMF_KEYS[packet[offset]], timestamp, bool(packet[offset + 1] & 0x80)


class _OwnStream:
    """What one party receives from us is one RTP stream: our SSRC, our sequence numbers, timestamps
    that continue across a change of source (hold audio -> agent -> another agent after a transfer).
    Phones' jitter buffers (baresip's among them) drop every packet of a new source whose sequence
    numbers are "older" than the last ones played, so the relay rewrites these three fields."""

    def __init__(self) -> None:
        self.ssrc = os.urandom(4)
        self.sequence = int.from_bytes(os.urandom(2), "big")
        self.last_timestamp: int | None = None
        self.source: bytes | None = None
        self.offset = 0

    def advance(self, samples: int) -> None:
        """Time passed with nothing sent (the gap after DTMF): the next source starts that much later."""
        if self.last_timestamp is not None:
            self.last_timestamp = (self.last_timestamp + samples) & 0xFFFFFFFF

    def rewrite(self, packet: bytes) -> bytes:
        if len(packet) < 12 or packet[0] >> 6 != 2:
            return packet
        source, timestamp = packet[8:12], struct.unpack_from("!I", packet, 4)[0]
        first = source != self.source
        if first:  # a new source: carry on one 20 ms frame after the last timestamp we sent
            self.source = source
            base = (self.last_timestamp + 160) if self.last_timestamp is not None else timestamp
            self.offset = (base - timestamp) & 0xFFFFFFFF
        self.sequence = (self.sequence + 1) & 0xFFFF
        ours = (timestamp + self.offset) & 0xFFFFFFFF
        self.last_timestamp = ours
        marker = packet[1] | 0x80 if first else packet[1]
        return bytes((packet[0], marker)) + struct.pack("!HI", self.sequence, ours) + self.ssrc + packet[12:]


class _Leg(asyncio.DatagramProtocol):
    def __init__(self, latch_any_port: bool = False) -> None:
        self.latch_any_port = latch_any_port
        self.ssrc: bytes | None = None  # the party's stream, pinned at its first packet
        self.heard_at = 0.0  # when the party last sent (monotonic): silence ends calls (voice.py)
        self.armed_at = 0.0  # when a party was last expected on this leg (set_peer)
        self.transport: Any = None
        self.peer: Addr | None = None
        self.partner: _Leg | None = None
        self.received = 0
        self.forwarded = 0
        self.latched = False
        self.gone: set[Addr] = set()  # parties that left this leg: never learned again
        self.held = False
        self.exclusive = False  # the server is sending its own packets (DTMF) to this party: relaying pauses
        self.outbound = _OwnStream()  # what this leg's party receives
        self.events_payload: int | None = None  # RFC 4733 payload type this party sends, if any
        self.on_key: Callable[[str], None] | None = None
        self.on_audio: Callable[[bytes], None] | None = None  # every packet from this leg's party (recording)
        self.on_mix: Callable[[bytes], None] | None = None  # the call is mixed: packets go to the mixer (mixer.py)
        self._last_event: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr != self.peer:
            if self.latched or self.peer is None or addr in self.gone or not self.latch_any_port \
                    or addr[0] != self.peer[0]:
                return  # not this leg's party (only its signalled address, or that IP behind NAT)
            self.peer = (addr[0], addr[1])
        if data[8:12] != self.ssrc:
            now = time.monotonic()
            if self.ssrc is not None and now - self.heard_at < SSRC_RESTART_SECONDS:
                return  # another stream while the party's own is live: not the party's audio
            self.ssrc, self.heard_at = data[8:12], now
        elif not self.received & 7:  # the clock every 8th packet (160 ms at 20 ms frames): cheap, fresh enough
            self.heard_at = time.monotonic()
        self.latched = True
        self.received += 1
        if self.on_audio is not None:
            self.on_audio(data)
        if self.on_key is not None and len(data) > 1 and data[1] & 0x7F == self.events_payload:
            event = telephone_event(data, self.events_payload)
            if event is not None and event[2] and event[1] != self._last_event:  # the end packet comes 3 times
                self._last_event = event[1]
                self.on_key(event[0])
        partner = self.partner
        if self.held:  # on hold: neither party hears the other; mixed: the mixer sends each party its own frame
            if self.on_mix is not None:  # (checked only here, so two parties talking pay nothing for mixing)
                self.on_mix(data)
            return
        if partner is not None and partner.send(data):
            self.forwarded += 1

    def send(self, packet: bytes) -> bool:
        """Send an RTP packet to this leg's party as part of its one stream (relayed or our own audio)."""
        if self.exclusive:
            return False
        return self.send_own(packet)

    def send_own(self, packet: bytes) -> bool:
        """Send a packet the server made, even while the leg is exclusive."""
        if self.peer is None or self.transport is None:
            return False
        self.transport.sendto(self.outbound.rewrite(packet), self.peer)
        return True

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP unreachable while a phone is still setting up: keep relaying

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def port(self) -> int:
        return int(self.transport.get_extra_info("sockname")[1])


class RtpRelay:
    """Two sockets, A and B, relaying to each other."""

    def __init__(self, host: str = "127.0.0.1", *, latch_any_port: bool = False) -> None:
        self.host = host
        self.latch_any_port = latch_any_port
        self.a, self.b = _Leg(latch_any_port), _Leg(latch_any_port)
        self.a.partner, self.b.partner = self.b, self.a

    async def open(self, ports: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self.a, local_addr=(self.host, ports[0]))
        await loop.create_datagram_endpoint(lambda: self.b, local_addr=(self.host, ports[1]))
        return self.a.port, self.b.port

    def set_peer(self, leg: str, addr: Addr) -> None:
        """Where to send to this leg's party until its own packets say otherwise."""
        target = self.a if leg == "a" else self.b
        target.gone.discard(addr)  # the same phone may come back (a transfer back to its agent)
        target.armed_at = time.monotonic()
        if not target.latched:
            target.peer = addr

    def hold(self, held: bool) -> None:
        """Stop (or restart) relaying in both directions."""
        self.a.held = self.b.held = held

    def forget_peer(self, leg: str) -> None:
        """The party on this leg is gone (a transfer): stop sending to it until a new one is set."""
        target = self.a if leg == "a" else self.b
        if target.peer is not None:
            target.gone.add(target.peer)
        target.peer, target.latched, target.events_payload, target.ssrc = None, False, None, None

    async def standby(self) -> _Leg:
        """A socket for a party who will replace leg b's (a transfer out rings while the agent talks on)."""
        leg = _Leg(self.latch_any_port)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: leg, local_addr=(self.host, 0))
        return leg

    def replace_b(self, leg: _Leg, peer: Addr, events_payload: int | None) -> None:
        """The standby party takes leg b's place: the customer now hears them, and they the customer."""
        old, self.b = self.b, leg
        leg.peer, leg.events_payload, leg.on_audio, leg.held = peer, events_payload, old.on_audio, old.held
        leg.armed_at = time.monotonic()
        leg.partner, self.a.partner = self.a, leg
        old.partner = None
        old.close()

    def record(self, on_a: Callable[[bytes], None], on_b: Callable[[bytes], None]) -> None:
        """Hand every packet of each party to a recorder as well."""
        self.a.on_audio, self.b.on_audio = on_a, on_b

    def stats(self) -> dict[str, int]:
        return {"a_received": self.a.received, "b_received": self.b.received,
                "a_to_b": self.a.forwarded, "b_to_a": self.b.forwarded}

    def close(self) -> None:
        for leg in (self.a, self.b):
            leg.close()
