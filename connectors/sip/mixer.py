"""Mixing a call in real time when a party hears more than one other (conference, monitoring).

The table of who hears whom is ``connectors/mixing.py``. While a call is mixed, its relay legs
stop relaying packet to packet and hand every packet to the ``CallMixer`` instead (``_Leg.on_mix``).
Each party's G.711 frames are decoded into a short jitter queue (at most ``QUEUE_FRAMES``: a
party whose clock runs fast loses its oldest frame, never delays everyone). Every 20 ms, paced on
the loop clock so a late wake-up does not drift, the mixer takes one frame from each queue,
mixes it for every listener (``mixing.mix``: the parties it hears, clipped, never itself) and
sends each listener its own frame in the listener's codec, as the listener's one continuous RTP
stream (the relay leg rewrites sequence numbers and timestamps, ``relay._OwnStream``). A party
that hears nobody gets nothing from the mixer (hold audio plays to it instead).
"""

from __future__ import annotations

import asyncio
import collections
import os
import struct
import time
from collections.abc import Callable, Mapping

from connectors.media import Hears
from connectors.mixing import FRAME_SAMPLES, decode, encode, mix
from connectors.sip.relay import _Leg

QUEUE_FRAMES = 3  # 60 ms of a party's audio at most waits for the mix
G711 = (0, 8)


def rtp_payload(packet: bytes) -> tuple[int, bytes] | None:
    """(payload type, payload) of a G.711 RTP packet; None for anything else (DTMF events, junk)."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    payload_type = packet[1] & 0x7F
    if payload_type not in G711:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and len(packet) >= offset + 4:  # header extension
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    payload = packet[offset:]
    if packet[0] & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    return payload_type, payload


class CallMixer:
    """One call's mix: the parties' legs, who hears whom, and the 20 ms clock."""

    def __init__(self, legs: Mapping[str, _Leg], graph: Hears, *, payload: int = 0) -> None:
        self.legs = dict(legs)
        self.graph = graph
        self.default_payload = payload
        self.queues: dict[str, collections.deque[bytes]] = {}
        self.codecs: dict[str, int] = {}  # what each party sends: it hears the same codec back
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.sequence = 0
        self.ticks = 0
        self.late_ticks = 0  # ticks that came more than 60 ms after the previous one (a gap a party would hear)
        self.worst_gap = 0.0
        self.busy_seconds = 0.0  # CPU time spent mixing (decode, sum, encode)
        self._task: asyncio.Task[None] | None = None
        self.on_frames: Callable[[Mapping[str, bytes]], None] | None = None  # each tick's decoded frames (recording)
        for name, leg in self.legs.items():
            self.attach(name, leg)

    def attach(self, name: str, leg: _Leg) -> None:
        """A party's packets go to the mix from now on."""
        self.legs[name] = leg
        self.queues[name] = collections.deque(maxlen=QUEUE_FRAMES)
        leg.on_mix = self._feeder(name)

    def detach(self, name: str) -> None:
        leg = self.legs.pop(name, None)
        self.queues.pop(name, None)
        if leg is not None:
            leg.on_mix = None

    def _feeder(self, name: str) -> Callable[[bytes], None]:
        def feed(packet: bytes) -> None:
            found = rtp_payload(packet)
            if found is None:
                return
            payload_type, payload = found
            self.codecs[name] = payload_type
            queue = self.queues.get(name)
            if queue is not None:
                queue.append(decode(payload, payload_type))
        return feed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """Back to packet relaying: the legs hand their packets to nobody."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for name in list(self.legs):
            self.detach(name)

    def tick(self) -> None:
        """One 20 ms frame for every listener."""
        started = time.perf_counter()
        frames = {name: queue.popleft() for name, queue in self.queues.items() if queue}
        if self.on_frames is not None:
            self.on_frames(frames)
        header_ts = self.timestamp & 0xFFFFFFFF
        for listener, linear in mix(frames, self.graph).items():
            leg = self.legs.get(listener)
            if leg is None:
                continue
            payload_type = self.codecs.get(listener, self.default_payload)
            header = struct.pack("!BBHII", 0x80, payload_type, self.sequence & 0xFFFF, header_ts, self.ssrc)
            leg.send(header + encode(linear, payload_type))
        self.sequence += 1
        self.timestamp += FRAME_SAMPLES
        self.ticks += 1
        self.busy_seconds += time.perf_counter() - started

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = last = loop.time()
        while True:
            now = loop.time()
            gap = now - last
            if self.ticks and gap > 0.06:
                self.late_ticks += 1
            self.worst_gap = max(self.worst_gap, gap) if self.ticks else 0.0
            last = now
            self.tick()
            due += 0.02
            if due < loop.time() - 0.1:  # far behind (the machine stalled): start the clock again
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))
