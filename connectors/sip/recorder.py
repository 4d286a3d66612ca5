"""Recording a bridged call: both directions, decoded from G.711, into one stereo WAV.

Left is what the customer said (leg a's packets), right what the agent side said (leg b's; in a
mixed call, the mixer's frames of the agent and the guests summed, ``mixing.recorded_sides``).
Each packet is placed by its arrival time, so silence (hold, a muted phone, lost packets) stays
silence of the right length and the channels stay aligned. Audio is written to disk every two
seconds (the WAV header is completed when the recording closes), so a long call costs no
memory. Only payload types 0 (PCMU) and 8 (PCMA) are audio; telephone events are skipped.

``pause()`` (for card numbers) writes what came before and then keeps nothing: packets are
dropped, and the recording's clock stops, so the paused stretch leaves no trace in the file, not
even its length; ``resume()`` goes on from there. ``paused`` lists the stretches, in seconds of
the call.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Mapping
from pathlib import Path

from connectors.mixing import recorded_sides
from connectors.sip.player import audioop

RATE = 8000
FLUSH_SAMPLES = 2 * RATE
JITTER_SAMPLES = 3 * 160  # a packet up to 60 ms early or late is appended, not placed with a gap


def rtp_audio(packet: bytes) -> tuple[int, bytes] | None:
    """(payload type, payload) of an RTP packet, skipping CSRCs, extension and padding."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(packet[offset + 2:offset + 4], "big")
    end = len(packet) - (packet[-1] if packet[0] & 0x20 and len(packet) > offset else 0)
    if end <= offset:
        return None
    return packet[1] & 0x7F, packet[offset:end]


class Recorder:
    """One call's recording; ``add(channel, packet)`` from the relay, ``close()`` at the end."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._out = wave.open(str(path), "wb")
        self._out.setnchannels(2)
        self._out.setsampwidth(2)
        self._out.setframerate(RATE)
        self._started = time.monotonic()
        self._written = 0  # samples per channel already on disk
        self._pending = [bytearray(), bytearray()]
        self.closed = False
        self._call_started = time.monotonic()
        self._paused_at: float | None = None
        self.paused: list[tuple[float, float]] = []  # (from, to) in seconds since the recording began
        self.mixed = False  # the call is mixed: its frames come from the mixer (``add_frames``), not packets

    @property
    def is_paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        """Keep nothing from now on (until ``resume``)."""
        if self.closed or self._paused_at is not None:
            return
        self._flush(final=True)
        self._paused_at = time.monotonic()

    def resume(self) -> None:
        """Record again; the paused stretch is not in the file."""
        if self.closed or self._paused_at is None:
            return
        now = time.monotonic()
        self._started += now - self._paused_at  # the recording's clock did not run while paused
        self.paused.append((round(self._paused_at - self._call_started, 3), round(now - self._call_started, 3)))
        self._paused_at = None

    def add(self, channel: int, packet: bytes) -> None:
        """A party's RTP packet (``channel`` 0: the customer, 1: the agent), while the call is relayed."""
        if self.closed or self._paused_at is not None or self.mixed:
            return
        audio = rtp_audio(packet)
        if audio is None or audio[0] not in (0, 8):
            return
        self._place(channel, audioop.ulaw2lin(audio[1], 2) if audio[0] == 0 else audioop.alaw2lin(audio[1], 2))

    def add_frames(self, frames: Mapping[str, bytes]) -> None:
        """One tick of a mixed call (``mixer.py``): the customer left, the agent and guests summed right."""
        if self.closed or self._paused_at is not None:
            return
        customer, side = recorded_sides(frames)
        if customer is not None:
            self._place(0, customer)
        if side is not None:
            self._place(1, side)

    def _place(self, channel: int, pcm: bytes) -> None:
        buffer = self._pending[channel]
        starts_at = self._now() - self._written - len(pcm) // 2  # where this frame belongs in the buffer
        have = len(buffer) // 2
        if starts_at > have + JITTER_SAMPLES:
            buffer.extend(b"\x00\x00" * (starts_at - have))
        buffer.extend(pcm)
        if have > FLUSH_SAMPLES:
            self._flush(final=False)

    def close(self) -> float:
        """Write what is left and complete the file; the recording's length in seconds."""
        if not self.closed:
            self.resume()  # (a stretch still paused is closed as one; nothing of it was kept)
            self._flush(final=True)
            self._out.close()
            self.closed = True
        return self._written / RATE

    def _now(self) -> int:
        return int((time.monotonic() - self._started) * RATE)

    def _flush(self, *, final: bool) -> None:
        """Write the samples both channels have; a channel that has been silent is padded up to now."""
        horizon = self._now() - self._written - JITTER_SAMPLES
        for buffer in self._pending:
            if len(buffer) // 2 < horizon:
                buffer.extend(b"\x00\x00" * (horizon - len(buffer) // 2))
        left, right = self._pending
        count = (max if final else min)(len(left), len(right)) // 2
        for buffer in self._pending:
            if len(buffer) // 2 < count:
                buffer.extend(b"\x00\x00" * (count - len(buffer) // 2))
        size = count * 2
        stereo = audioop.add(audioop.tostereo(bytes(left[:size]), 2, 1, 0),
                             audioop.tostereo(bytes(right[:size]), 2, 0, 1), 2)
        self._out.writeframes(stereo)
        del left[:size], right[:size]
        self._written += count
