"""A browser's WebRTC audio as a party of the media bridge (a customer on a pivot page, or an
agent answering in the desktop's softphone).

The peer connection answers with PCMU (every browser offers it; Opus only when one does not), so
the browser's audio normally arrives at 8 kHz; anything else (Opus at 48 kHz, stereo) is
resampled to 8 kHz mono and goes to the bridge as 20 ms G.711 frames in the bridge's codec
(``MediaLeg.to_bridge``). What the bridge sends (the other party, hold audio) is played to the
browser by ``PhoneAudioTrack`` on its own 20 ms clock, as the mu-law it is when the browser speaks
PCMU, with silence when nothing came: a small jitter buffer of up to 10 frames that absorbs bursts.
A browser that sends no audio for ``SILENT_SECONDS`` is taken as gone.
"""

from __future__ import annotations

import asyncio
import audioop
import fractions
import logging
import secrets
import time
from collections import deque

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from softphone_bridge.rtp import FRAME, MediaLeg, decode

log = logging.getLogger(__name__)
SILENCE = b"\xff" * FRAME  # mu-law
# A browser sends audio all the time (silence too). None at all means it is gone, well before ICE
# consent checks would say so (30 s): the first audio may take a while (ICE, DTLS), then not.
FIRST_AUDIO_SECONDS, SILENT_SECONDS = 15.0, 4.0
TIME_BASE = fractions.Fraction(1, 8000)


def first_codec(sdp: str) -> str:
    """The name of the codec an SDP's audio section lists first (the one that is sent)."""
    payloads = next((line.split()[3:] for line in sdp.splitlines() if line.startswith("m=audio")), [])
    for line in sdp.splitlines():
        if payloads and line.startswith(f"a=rtpmap:{payloads[0]} "):
            return line.split()[1].split("/")[0]
    return ""


class PhoneAudioTrack(MediaStreamTrack):
    """What the browser hears: mu-law frames from the bridge, paced at 20 ms. When the browser
    speaks PCMU (``encoded``) they go out as they are, as packets aiortc only packetizes (no
    decoding, no resampling, no encoder thread hop per frame); else as PCM frames to encode."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: deque[bytes] = deque(maxlen=10)
        self.encoded = False
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame | av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        self._pts += FRAME
        wait = self._start + self._pts / 8000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.frames.popleft() if self.frames else SILENCE
        if self.encoded:
            packet = av.Packet(chunk)
            packet.pts, packet.time_base = self._pts, TIME_BASE
            return packet
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(audioop.ulaw2lin(chunk, 2))
        frame.sample_rate, frame.pts, frame.time_base = 8000, self._pts, TIME_BASE
        return frame


class BrowserLeg(MediaLeg):
    """One browser's call: its peer connection, bridged as one party."""

    kind = "browser"

    def __init__(self, payload_type: int = 0) -> None:
        super().__init__("webrtc-" + secrets.token_hex(8), payload_type)
        self.pc = RTCPeerConnection()
        self.outgoing = PhoneAudioTrack()
        self._reader: asyncio.Task[None] | None = None

    def from_bridge(self, payload: bytes) -> None:
        self.outgoing.frames.append(payload if self.payload_type == 0 else
                                    audioop.lin2ulaw(decode(payload, self.payload_type), 2))

    async def answer(self, offer_sdp: str) -> str:
        """Take the browser's offer; return our answer (ICE candidates included)."""
        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._reader = asyncio.ensure_future(self._read(track))

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.finish("them")

        # The transceiver exists before the offer is applied, so the answer takes its codec
        # preference: PCMU (G.711 like the phones: no Opus decoding or encoding on the server), and
        # Opus only for a browser that offers no PCMU (then 48 kHz is resampled both ways).
        codecs = {c.mimeType: c for c in RTCRtpSender.getCapabilities("audio").codecs}
        transceiver = self.pc.addTransceiver(self.outgoing, direction="sendrecv")
        transceiver.setCodecPreferences([codecs[name] for name in ("audio/PCMU", "audio/opus") if name in codecs])
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.outgoing.encoded = first_codec(self.pc.localDescription.sdp) == "PCMU"
        return self.pc.localDescription.sdp

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        wait = FIRST_AUDIO_SECONDS
        try:
            while True:
                frame = await asyncio.wait_for(track.recv(), wait)
                if not isinstance(frame, av.AudioFrame):
                    continue  # (an audio track yields audio frames; anything else is not ours to play)
                wait = SILENT_SECONDS
                if frame.sample_rate == 8000 and frame.format.name == "s16" and frame.layout.name == "mono":
                    self.to_bridge(bytes(frame.planes[0])[: frame.samples * 2])  # PCMU decoded: as it is
                    continue
                for chunk in resampler.resample(frame):
                    self.to_bridge(bytes(chunk.planes[0])[: chunk.samples * 2])
        except TimeoutError:
            log.info("browser leg %s: no audio for %.0f s: gone", self.call_id, wait)
            self.finish("them")
        except Exception:  # MediaStreamError when the browser goes away
            self.finish("them")

    async def close_media(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
