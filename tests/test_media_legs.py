"""The media bridge's non-SIP parties on their own: a WebRTC peer that offers only Opus (48 kHz)
still talks to the bridge's 8 kHz G.711 (resampled both ways), PCMA calls are transcoded for a
browser, Twilio-sized chunks are cut into 20 ms frames, and keys played in-band are the keypad's
frequencies. The bridge's side is a plain UDP socket here, standing for the relay."""

from __future__ import annotations

import asyncio
import audioop
import fractions
import math
import struct
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from softphone_bridge.rtp import DTMF_TONES, FRAME, MediaLeg, dtmf_pcm, encode
from softphone_bridge.webrtc import BrowserLeg


def tone(hz: float, samples: int, rate: int, start: int = 0) -> bytes:
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * (start + n) / rate)))
                    for n in range(samples))


def strongest(pcm: bytes, rate: int, candidates: range) -> int:
    """The candidate frequency with the most energy (a DFT at just those frequencies)."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    def power(hz: int) -> float:
        re = sum(x * math.cos(2 * math.pi * hz * n / rate) for n, x in enumerate(samples))
        im = sum(x * math.sin(2 * math.pi * hz * n / rate) for n, x in enumerate(samples))
        return re * re + im * im
    return max(candidates, key=power)


class Microphone(MediaStreamTrack):
    """700 Hz at 48 kHz stereo, as a browser's Opus track delivers it."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n, self.start = 0, 0.0

    async def recv(self) -> av.AudioFrame:
        self.start = self.start or time.monotonic()
        self.n += 1
        await asyncio.sleep(max(0.0, self.start + self.n * 0.02 - time.monotonic()))
        mono = struct.unpack("<960h", tone(700, 960, 48_000, (self.n - 1) * 960))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(struct.pack("<1920h", *[s for x in mono for s in (x, x)]))
        frame.sample_rate, frame.pts, frame.time_base = 48_000, (self.n - 1) * 960, fractions.Fraction(1, 48_000)
        return frame


class Relay(asyncio.DatagramProtocol):
    """Stands for the relay's socket: keeps the G.711 payloads the leg sends."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.payloads.append(data[12:])


async def test_an_opus_only_browser_is_resampled_to_the_bridge_and_back() -> None:
    loop = asyncio.get_running_loop()
    relay = Relay()
    transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
    relay_port = transport.get_extra_info("sockname")[1]
    leg = BrowserLeg(payload_type=8)  # the call is PCMA (a phone that offered only that)
    browser = RTCPeerConnection()
    heard: list[bytes] = []
    listeners: list[asyncio.Future[None]] = []
    try:
        transceiver = browser.addTransceiver(Microphone(), direction="sendrecv")
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType == "audio/opus"])

        @browser.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            async def listen() -> None:
                resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
                while len(heard) < 100:
                    for frame in resampler.resample(await track.recv()):
                        heard.append(bytes(frame.planes[0])[: frame.samples * 2])
            listeners.append(asyncio.ensure_future(listen()))

        await browser.setLocalDescription(await browser.createOffer())
        answer = await leg.answer(browser.localDescription.sdp)
        assert "opus/48000" in answer and "PCMU" not in answer, "Opus only when PCMU was not offered"
        await browser.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await leg.open("127.0.0.1")
        leg.rtp.peer = ("127.0.0.1", relay_port)

        sequence = 0
        deadline = loop.time() + 20
        while (len(relay.payloads) < 100 or len(heard) < 100) and loop.time() < deadline:
            pcm = tone(440, FRAME, 8000, sequence * FRAME)
            packet = struct.pack("!BBHII", 0x80, 8, sequence, sequence * FRAME, 1234) + encode(pcm, 8)
            transport.sendto(packet, ("127.0.0.1", leg.rtp.port))  # the agent's 440 Hz, PCMA, from the bridge
            sequence += 1
            await asyncio.sleep(0.02)
        assert {len(p) for p in relay.payloads} == {FRAME}, "20 ms frames to the bridge"
        to_bridge = b"".join(audioop.alaw2lin(p, 2) for p in relay.payloads[50:100])
        assert strongest(to_bridge, 8000, range(300, 1000, 20)) == 700, "the browser's tone, at 8 kHz A-law"
        to_browser = b"".join(heard[60:100])
        assert strongest(to_browser[: 48_000 * 2 // 2], 48_000, range(300, 1000, 20)) == 440, "the agent's tone"
    finally:
        for listener in listeners:
            listener.cancel()
        await browser.close()
        await leg.hangup()
        transport.close()


class Collecting(MediaLeg):
    def __init__(self) -> None:
        super().__init__("test")
        self.delivered: list[bytes] = []
        self.on_delivered: Callable[[], None] = lambda: None

    def from_bridge(self, payload: bytes) -> None:
        self.delivered.append(payload)
        self.on_delivered()


async def test_chunks_become_20_ms_frames_and_keys_are_the_keypads_tones() -> None:
    loop = asyncio.get_running_loop()
    relay = Relay()
    transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
    leg = Collecting()
    try:
        await leg.open()
        leg.rtp.peer = ("127.0.0.1", transport.get_extra_info("sockname")[1])
        for size in (50, 333, 97, 160, 400):  # Twilio's chunks are not always 20 ms
            leg.send_encoded(b"\x7f" * size)
        await asyncio.sleep(0.2)
        assert [len(p) for p in relay.payloads] == [160] * 6, "1,040 bytes: six whole frames, 80 kept"

        async def from_relay(payload: bytes, count: int = 1) -> None:
            """Packets from the relay's address to the leg's port; back once the leg handled them."""
            enough = asyncio.Event()
            wanted = len(leg.delivered) + count
            leg.on_delivered = lambda: enough.set() if len(leg.delivered) >= wanted else None
            for n in range(count):
                header = struct.pack("!BBHII", 0x80, 0, n, n * FRAME, 99)
                transport.sendto(header + payload, ("127.0.0.1", leg.rtp.port))
            await asyncio.wait_for(enough.wait(), 5)

        await leg.play_key("5")
        await from_relay(b"\xff" * FRAME, 12)  # the bridge's next frames are replaced by the key, then flow again
        keyed = b"".join(audioop.ulaw2lin(p, 2) for p in leg.delivered[:5])
        assert strongest(keyed, 8000, range(650, 1000, 10)) == 770
        assert strongest(keyed, 8000, range(1150, 1700, 10)) == 1340
        assert leg.delivered[-1] == b"\xff" * FRAME, "the bridge's audio again after the key"
        assert len(dtmf_pcm("#")) == 2 * 8 * 160 and set(DTMF_TONES) == set("0123456789*#ABCD")
        await leg.play_key("x")  # not a key: nothing queued
        await from_relay(b"\xfe" * FRAME)
        assert leg.delivered[-1] == b"\xfe" * FRAME
    finally:
        await leg.hangup()
        transport.close()
    assert leg.ended.is_set() and leg.ended_by == "us"
