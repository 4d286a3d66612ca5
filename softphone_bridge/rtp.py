"""What every leg that is not a SIP dialog shares: a loopback RTP port into the media bridge.

The SIP connector's media bridge (connectors/sip/relay.py) relays RTP between two parties. A
browser or a Twilio Media Stream joins it as a party by owning a local UDP port that speaks G.711
RTP with one peer, the relay's socket for that leg. ``MediaLeg`` is that party: audio from its
far end goes in with ``to_bridge`` (linear PCM, cut into 20 ms frames and encoded in the bridge's
codec) or ``send_encoded`` (already G.711), and ``from_bridge`` gets each payload the bridge sends
to it. It looks like a call leg to the voice desk: ``call_id``, ``ended``/``ended_by``,
``hangup()``, ``info()`` (DTMF to play) and ``reinvite()`` (hold), and reports the keys its far
end presses through ``on_key``.
"""

from __future__ import annotations

import asyncio
import audioop
import logging
import math
import secrets
import struct
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)
FRAME = 160  # samples in 20 ms at 8 kHz
G711 = {0: (audioop.ulaw2lin, audioop.lin2ulaw), 8: (audioop.alaw2lin, audioop.lin2alaw)}
DTMF_TONES = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
              "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
              "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
              "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633)}


def dtmf_pcm(digit: str, tone_ms: int = 100, gap_ms: int = 60) -> bytes:
    """A key as in-band audio (the two frequencies of the keypad, then silence), 16-bit 8 kHz."""
    low, high = DTMF_TONES[digit]
    tone = b"".join(struct.pack("<h", int(6000 * (math.sin(2 * math.pi * low * n / 8000) +
                                                   math.sin(2 * math.pi * high * n / 8000))))
                    for n in range(8 * tone_ms))
    return tone + b"\0" * (16 * gap_ms)


def decode(payload: bytes, payload_type: int) -> bytes:
    """G.711 (PCMU 0, PCMA 8) to 16-bit linear PCM."""
    return G711[payload_type][0](payload, 2)


def encode(pcm: bytes, payload_type: int) -> bytes:
    """16-bit linear PCM to G.711."""
    return G711[payload_type][1](pcm, 2)


class RtpPort(asyncio.DatagramProtocol):
    """A local UDP port speaking G.711 RTP (one payload type) with one peer (a relay leg)."""

    def __init__(self, on_payload: Callable[[bytes], None], payload_type: int = 0) -> None:
        self.on_payload, self.payload_type = on_payload, payload_type
        self.peer: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.sequence, self.timestamp, self.ssrc = secrets.randbits(16), secrets.randbits(32), secrets.randbits(32)
        self.received = self.sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr != self.peer or len(data) <= 12 or data[0] >> 6 != 2 or (data[1] & 0x7F) != self.payload_type:
            return  # only the bridge's audio (not its DTMF events, not strangers)
        self.received += 1
        self.on_payload(data[12 + 4 * (data[0] & 0x0F):])

    def send(self, payload: bytes) -> None:
        """One 20 ms frame of G.711 to the bridge."""
        if self.transport is None or self.peer is None:
            return
        header = struct.pack("!BBHII", 0x80, self.payload_type, self.sequence, self.timestamp, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        self.transport.sendto(header + payload, self.peer)
        self.sent += 1

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class MediaLeg:
    """A party of the media bridge that is not a SIP dialog (see the module docstring)."""

    kind = "media"

    def __init__(self, call_id: str, payload_type: int = 0) -> None:
        self.call_id, self.payload_type = call_id, payload_type
        self.ended = asyncio.Event()
        self.ended_by: str | None = None
        self.on_key: Callable[[str], None] | None = None
        self.rtp = RtpPort(self._deliver, payload_type)
        self._keys: deque[bytes] = deque()  # DTMF frames that replace the bridge's next frames
        self._pending = b""  # (to_bridge) PCM waiting to fill a 20 ms frame
        self._encoded = b""  # (send_encoded) G.711 waiting to fill a frame

    async def open(self, host: str = "127.0.0.1") -> None:
        """Bind the RTP port (on the relay's own address, so the relay's packets come from its peer)."""
        if self.rtp.transport is None:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: self.rtp, local_addr=(host, 0))

    def _deliver(self, payload: bytes) -> None:
        self.from_bridge(self._keys.popleft() if self._keys else payload)

    def from_bridge(self, payload: bytes) -> None:
        """A frame of G.711 (in ``payload_type``) for this leg's far end."""
        raise NotImplementedError

    def to_bridge(self, pcm: bytes) -> None:
        """16-bit 8 kHz mono PCM from the far end: sent to the bridge in 20 ms frames."""
        self._pending += pcm
        while len(self._pending) >= FRAME * 2:
            self.rtp.send(encode(self._pending[:FRAME * 2], self.payload_type))
            self._pending = self._pending[FRAME * 2:]

    def send_encoded(self, payload: bytes) -> None:
        """G.711 in the bridge's codec from the far end, in any chunk size: sent in 20 ms frames."""
        self._encoded += payload
        while len(self._encoded) >= FRAME:
            self.rtp.send(self._encoded[:FRAME])
            self._encoded = self._encoded[FRAME:]

    def key(self, digit: str) -> None:
        """The far end pressed a key."""
        if self.on_key is not None:
            self.on_key(digit)

    def finish(self, by: str) -> None:
        """The leg is over (``them``: its far end went away; ``us``: we ended it)."""
        if not self.ended.is_set():
            self.ended_by = by
            self.ended.set()

    async def close_media(self) -> None:
        """Release what the far end's side holds (peer connection, WebSocket)."""

    async def hangup(self) -> None:
        self.finish("us")
        await self.close_media()
        self.rtp.close()

    async def info(self, body: bytes, content_type: str) -> None:
        """DTMF to play to the far end (SIP INFO's body); legs that can, override ``play_key``."""
        for line in body.decode(errors="replace").splitlines():
            if line.lower().startswith("signal="):
                await self.play_key(line.split("=", 1)[1].strip()[:1])

    async def play_key(self, digit: str) -> None:
        """In-band: the keypad's two tones take the place of the bridge's next frames to the far end."""
        if digit.upper() not in DTMF_TONES:
            log.info("%s leg %s: key %r is not a DTMF key", self.kind, self.call_id, digit)
            return
        pcm = dtmf_pcm(digit.upper())
        for start in range(0, len(pcm), FRAME * 2):
            self._keys.append(encode(pcm[start:start + FRAME * 2], self.payload_type))

    async def reinvite(self, direction: str) -> bool:
        """Hold and resume: nothing to tell the far end (the bridge stops relaying)."""
        return True
