"""A browser's WebRTC audio as a G.711 RTP leg.

The peer connection prefers PCMU, so the browser's audio arrives 8 kHz and goes out unchanged in
rate; frames from the browser are resampled to 8 kHz mono when the codec differs, mu-law encoded
and sent as 20 ms RTP packets to the relay's caller leg (``RtpPort``). What the relay sends back
(the agent's voice, hold audio) is queued and played to the browser by ``PhoneAudioTrack`` on a
20 ms clock, with silence when nothing came (a small jitter buffer of up to 10 frames).
"""

from __future__ import annotations

import asyncio
import audioop
import contextlib
import fractions
import logging
import secrets
import struct
import time
from collections import deque
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

log = logging.getLogger(__name__)
FRAME = 160  # 20 ms at 8 kHz
SILENCE = b"\xff" * FRAME
TIME_BASE = fractions.Fraction(1, 8000)


class RtpPort(asyncio.DatagramProtocol):
    """A local UDP port speaking PCMU RTP with one peer (the relay's caller leg)."""

    def __init__(self, on_payload: Any) -> None:
        self.on_payload, self.peer = on_payload, None
        self.transport: asyncio.DatagramTransport | None = None
        self.sequence, self.timestamp, self.ssrc = 0, 0, secrets.randbits(32)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[0] >> 6 == 2 and (data[1] & 0x7F) == 0:
            self.on_payload(data[12 + 4 * (data[0] & 0x0F):])

    def send(self, payload: bytes) -> None:
        if self.transport is None or self.peer is None:
            return
        header = struct.pack("!BBHII", 0x80, 0, self.sequence, self.timestamp, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + FRAME) & 0xFFFFFFFF
        self.transport.sendto(header + payload, self.peer)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


class PhoneAudioTrack(MediaStreamTrack):
    """What the browser hears: mu-law frames from the relay, paced at 20 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: deque[bytes] = deque(maxlen=10)
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._pts += FRAME
        wait = self._start + self._pts / 8000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.frames.popleft() if self.frames else SILENCE
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(audioop.ulaw2lin(chunk, 2))
        frame.sample_rate, frame.pts, frame.time_base = 8000, self._pts, TIME_BASE
        return frame


class BrowserLeg:
    """One browser's call: the peer connection and its RTP side; looks like a call leg to the desk."""

    def __init__(self) -> None:
        self.call_id = "webrtc-" + secrets.token_hex(8)
        self.ended = asyncio.Event()
        self.ended_by: str | None = None
        self.pc = RTCPeerConnection()
        self.outgoing = PhoneAudioTrack()
        self.rtp = RtpPort(self.outgoing.frames.append)
        self._reader: asyncio.Task[None] | None = None

    async def answer(self, offer_sdp: str) -> str:
        """Take the browser's offer; return our answer (ICE candidates included)."""
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: self.rtp, local_addr=("127.0.0.1", 0))

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._reader = asyncio.ensure_future(self._read(track))

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed") and not self.ended.is_set():
                self.ended_by = "them"
                self.ended.set()

        # The transceiver exists before the offer is applied, so the answer takes its codec
        # preference: PCMU only (no transcoding on the way to the SIP leg, and no Opus CPU).
        transceiver = self.pc.addTransceiver(self.outgoing, direction="sendrecv")
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType == "audio/PCMU"])
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        pending = b""
        with contextlib.suppress(Exception):  # MediaStreamError when the browser goes away
            while True:
                frame = await track.recv()
                for chunk in resampler.resample(frame):
                    pending += bytes(chunk.planes[0])[: chunk.samples * 2]
                while len(pending) >= FRAME * 2:
                    self.rtp.send(audioop.lin2ulaw(pending[: FRAME * 2], 2))
                    pending = pending[FRAME * 2:]

    async def hangup(self) -> None:
        """End the browser's call (the desk ended it)."""
        if not self.ended.is_set():
            self.ended_by = "us"
            self.ended.set()
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
        if self.rtp.transport is not None:
            self.rtp.transport.close()

    async def info(self, body: bytes, content_type: str) -> None:
        """(DTMF by SIP INFO has no meaning for a browser.)"""
        log.info("browser leg %s: %s ignored", self.call_id, content_type)
