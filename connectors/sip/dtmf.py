"""Sending DTMF into a call as RFC 4733 telephone events, paced on the event loop.

Each key is one event: a packet every 20 ms for ``tone_ms`` carrying the event's start
timestamp and its growing duration (marker bit on the first), then the end packet three times
(section 2.5.1.4), then ``gap_ms`` of nothing before the next key. While keys are being sent
the leg carries only them (relayed audio to that party pauses), so the receiver sees one clean
stream; afterwards the leg's timestamps move on by the time the keys took.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

from connectors.sip.relay import DTMF_KEYS

PACKET_MS = 20
SAMPLES_PER_MS = 8  # telephone-event's clock rate is 8000 Hz


def event_payload(key: str, duration: int, *, end: bool, volume: int = 10) -> bytes:
    """The 4-byte RFC 4733 payload: event code, end bit and volume (dBm0 below 0), duration."""
    return struct.pack("!BBH", DTMF_KEYS.index(key.upper()), (0x80 if end else 0) | (volume & 0x3F),
                       min(duration, 0xFFFF))


def event_packets(key: str, *, payload_type: int, timestamp: int, first_sequence: int, ssrc: int,
                  tone_ms: int = 160) -> list[bytes]:
    """Every packet of one key, in sending order (one per 20 ms; the last three are the end)."""
    steps = max(1, tone_ms // PACKET_MS)
    packets = []
    for step in range(steps + 3):
        end = step >= steps
        duration = min(step + 1, steps) * PACKET_MS * SAMPLES_PER_MS
        marker = 0x80 if step == 0 else 0
        header = struct.pack("!BBHII", 0x80, marker | payload_type, (first_sequence + step) & 0xFFFF,
                             timestamp & 0xFFFFFFFF, ssrc)
        packets.append(header + event_payload(key, duration, end=end))
    return packets


async def send_keys(leg: Any, keys: str, payload_type: int, *, tone_ms: int = 160, gap_ms: int = 100) -> None:
    """Play the keys to the leg's party; returns when the last end packet has gone."""
    loop = asyncio.get_running_loop()
    ssrc = int.from_bytes(os.urandom(4), "big")
    sequence = int.from_bytes(os.urandom(2), "big")
    timestamp = int.from_bytes(os.urandom(4), "big")
    leg.exclusive = True
    last_key_ms = 0
    try:
        due = loop.time()
        for key in keys:
            packets = event_packets(key, payload_type=payload_type, timestamp=timestamp, first_sequence=sequence,
                                    ssrc=ssrc, tone_ms=tone_ms)
            for packet in packets:
                leg.send_own(packet)
                due += PACKET_MS / 1000
                await asyncio.sleep(max(0.0, due - loop.time()))
            sequence += len(packets)
            last_key_ms = len(packets) * PACKET_MS + gap_ms
            timestamp += last_key_ms * SAMPLES_PER_MS
            due += gap_ms / 1000
            await asyncio.sleep(max(0.0, due - loop.time()))
    finally:
        leg.exclusive = False
        # the party's last timestamp is the last key's start: the next audio comes after all of it
        leg.outbound.advance(last_key_ms * SAMPLES_PER_MS)
