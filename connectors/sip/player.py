"""Audio the server itself sends into a call (hold audio), as paced G.711 RTP.

G.711 encoding is the standard library's ``audioop`` (what pyVoIP's encoders call; pyVoIP's
RTP client is thread-per-stream, so the server paces packets itself on the event loop instead).
Frames are 20 ms (160 samples at 8 kHz); the sender keeps its own SSRC, sequence numbers and
timestamps, and paces against the loop clock so that a late wake-up does not drift the stream.
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import warnings
import wave
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # deprecated in 3.11-3.12 only because it moves to the audioop-lts package
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # standard library to 3.12; the audioop-lts package from 3.13 (see pyproject.toml)

FRAME = 160  # samples per 20 ms at 8 kHz


def tone_pcm(frequency: float = 800.0, *, seconds_on: float = 1.0, seconds_off: float = 1.0) -> bytes:
    """16-bit linear PCM at 8 kHz: a tone, on and off (the default hold audio)."""
    on = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * frequency * i / 8000)))
                  for i in range(int(8000 * seconds_on)))
    return on + b"\x00\x00" * int(8000 * seconds_off)


def wav_pcm(path: Path) -> bytes:
    """16-bit mono 8 kHz PCM from a WAV file (other formats are converted)."""
    with wave.open(str(path), "rb") as source:
        data, width, rate, channels = (source.readframes(source.getnframes()), source.getsampwidth(),
                                       source.getframerate(), source.getnchannels())
    if channels == 2:
        data = audioop.tomono(data, width, 0.5, 0.5)
    if width != 2:
        data = audioop.lin2lin(data, width, 2)
    if rate != 8000:
        data, _ = audioop.ratecv(data, 2, 1, rate, 8000, None)
    return data


def encode(pcm: bytes, payload_type: int) -> list[bytes]:
    """20 ms G.711 frames (PCMU for payload type 0, PCMA for 8)."""
    coded = audioop.lin2ulaw(pcm, 2) if payload_type == 0 else audioop.lin2alaw(pcm, 2)
    usable = len(coded) - len(coded) % FRAME
    return [coded[i:i + FRAME] for i in range(0, usable, FRAME)]


class Player:
    """Loops frames into a relay leg (``leg.send``) until stopped."""

    def __init__(self, leg: Any, frames: list[bytes], payload_type: int) -> None:
        self.leg, self.frames, self.payload_type = leg, frames, payload_type
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.sequence = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.frames:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        index = 0
        while True:
            marker = 0x80 if self.sent == 0 else 0
            header = struct.pack("!BBHII", 0x80, marker | self.payload_type, self.sequence & 0xFFFF,
                                 self.timestamp & 0xFFFFFFFF, self.ssrc)
            self.leg.send(header + self.frames[index])
            self.sent += 1
            self.sequence += 1
            self.timestamp += FRAME
            index = (index + 1) % len(self.frames)
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))
