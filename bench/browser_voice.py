"""Concurrent browser voice sessions bridged to SIP phones.

    .venv/bin/python -m bench.browser_voice [--sessions 20] [--seconds 20]

Starts Kamailio, one baresip phone per agent (each playing 440 Hz), and a ``cti serve`` process
with the SIP connector. For each session this process is the customer's browser: a WebRTC peer
(aiortc, the same DTLS-SRTP/ICE stack a browser speaks) that opens the pivot page, takes its form
token and POSTs an offer to /p/{token}/voice, sending a 700 Hz tone. An admin accepts each call;
the server rings an agent's phone and bridges it. While all sessions talk, the bench records the
arrival time and content of every 20 ms frame each "browser" receives. Printed: sessions
bridged, the largest gap between frames after the bridge, the share of sessions that heard
440 Hz, and the server's CPU per session (process CPU over the talking window). Issue 7's
target: at least 20 concurrent sessions with no gap over 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import audioop
import fractions
import itertools
import json
import math
import re
import statistics
import struct
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from bench.common import start_server
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import Phone

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# One second of 700 Hz at 8 kHz is a whole number of periods: 50 frames of 20 ms, made once, as
# PCMU (the codec the session runs): the simulated browsers hand aiortc packets to send, so they do
# not spend the machine encoding (a real browser does that in its own process and cores).
TONE_PACKETS = [audioop.lin2ulaw(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 700 * (f * 160 + i)
                                                                                 / 8000))) for i in range(160)), 2)
                for f in range(50)]


class Tone(MediaStreamTrack):
    """A 700 Hz microphone, 20 ms PCMU packets, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n, self.start = 0, 0.0

    async def recv(self) -> av.Packet:
        if not self.start:
            self.start = time.monotonic()
        self.n += 1
        wait = self.start + self.n * 0.02 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(TONE_PACKETS[(self.n - 1) % len(TONE_PACKETS)])
        packet.pts, packet.time_base = (self.n - 1) * 160, fractions.Fraction(1, 8000)
        return packet


def dominant(samples: list[int], rate: int) -> float:
    """The strongest frequency of a stretch of samples (a coarse DFT over 200-1200 Hz)."""
    data = samples[:rate]  # one second
    best, best_hz = 0.0, 0.0
    for hz in range(200, 1200, 10):
        re_, im = 0.0, 0.0
        for i in range(0, len(data), 2):
            angle = 2 * math.pi * hz * i / rate
            re_ += data[i] * math.cos(angle)
            im += data[i] * math.sin(angle)
        power = re_ * re_ + im * im
        if power > best:
            best, best_hz = power, float(hz)
    return best_hz


class Customer:
    """One browser: its peer, and what it heard when."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.arrivals: list[float] = []
        self.samples: list[int] = []
        self.rate = 8000
        self.interaction_id = ""
        self.peak = 0.0
        self._listener: asyncio.Future[None] | None = None

    async def talk(self, base: str, path: str) -> None:
        self.pc.addTrack(Tone())

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._listener = asyncio.ensure_future(self._listen(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(base + path) as response:
                csrf = CSRF.search(await response.text()).group(1)  # type: ignore[union-attr]
            async with http.post(base + path + "/voice", json={"type": "offer", "sdp": self.pc.localDescription.sdp,
                                                              "csrf": csrf}) as response:
                answer = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"voice answered {response.status}: {answer}")
        self.interaction_id = answer["interaction_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def _listen(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.arrivals.append(time.monotonic())
                self.rate = frame.sample_rate
                if len(self.samples) < self.rate * 2:
                    self.samples.extend(struct.unpack(f"<{frame.samples}h", bytes(frame.planes[0])[:frame.samples * 2]))
        except Exception:
            return


def api(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read() or b"null")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


async def run(sessions: int, seconds: float) -> None:
    names = [f"agent{i}" for i in range(sessions)]
    registrar = Registrar({"cti": "ctipass", **{n: f"{n}pass" for n in names}}).start()
    phones: list[Phone] = []
    server = start_server(f'''
[connectors.sip]
registrar = "127.0.0.1:{registrar.port}"
username = "cti"
password = "ctipass"
''', env={"CTI_PIVOT__CALLBACKS_PER_CLIENT_PER_HOUR": "1000"})
    customers = [Customer() for _ in range(sessions)]
    try:
        for name in names:
            phone = Phone(name, f"{name}pass", registrar.port, tone_hz=440)
            phones.append(phone)
            await asyncio.to_thread(phone.start)
        for phone in phones:
            await asyncio.to_thread(phone.wait_log, "200 OK")
        admin = server.cli("token", "create", "--role", "admin")
        server.start()
        paths = []
        for i, name in enumerate(names):
            api(server.url + "/api/v1/agents", admin, "POST", {"name": name, "id": name,
                                                                "voice_endpoint": f"sip:{name}@127.0.0.1"})
            stored = api(server.url + "/api/v1/inbound", admin, "POST", {
                "channel": "shop-chat", "from": {"kind": "email", "value": f"c{i}@example.com"}, "text": "hi",
                "external_id": f"bv-{i}"})
            link = api(f"{server.url}/api/v1/interactions/{stored['interaction_id']}/pivot", admin, "POST",
                       {"to": "voice"})["pivot_link"]
            paths.append("/p/" + link["url"].rsplit("/p/", 1)[1])
        await asyncio.gather(*(c.talk(server.url, p) for c, p in zip(customers, paths, strict=True)))
        for name in names:
            api(f"{server.url}/api/v1/agents/{name}/state", admin, "PUT", {"state": "available"})
        deadline = time.monotonic() + 30
        bridged = 0
        while time.monotonic() < deadline and bridged < sessions:
            for c in customers:
                state = api(f"{server.url}/api/v1/interactions/{c.interaction_id}", admin)["state"]
                if state == "offered":
                    api(f"{server.url}/api/v1/interactions/{c.interaction_id}/accept", admin, "POST", {})
            bridged = sum(api(f"{server.url}/api/v1/interactions/{c.interaction_id}", admin)["state"] == "active"
                          for c in customers)
            await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)  # every agent's phone answered and its audio flows
        assert server.process is not None
        cpu_before, window_start = cpu_seconds(server.process.pid), time.monotonic()
        own_before = time.process_time()
        phones_before = sum(cpu_seconds(p.process.pid) for p in phones if p.process)
        for c in customers:
            c.samples.clear()
        await asyncio.sleep(seconds)
        cpu = cpu_seconds(server.process.pid) - cpu_before
        window = time.monotonic() - window_start
        own = time.process_time() - own_before
        phones_cpu = sum(cpu_seconds(p.process.pid) for p in phones if p.process) - phones_before
        gaps = []
        heard = 0
        for c in customers:
            times = [t for t in c.arrivals if t >= window_start]
            gaps.append(max((b - a for a, b in itertools.pairwise(times)), default=float("inf")) * 1000)
            c.peak = dominant(c.samples, c.rate)
            heard += abs(c.peak - 440) <= 20
        print(f"sessions: {sessions} offered, {bridged} bridged to SIP phones, {window:.0f} s of talk measured")
        print(f"largest gap between frames at a browser: max {max(gaps):.0f} ms, "
              f"median {statistics.median(gaps):.0f} ms")
        print(f"browsers that heard the agent's 440 Hz: {heard}/{sessions} "
              f"(peaks: {sorted({c.peak for c in customers})}, rate {customers[0].rate}, "
              f"{len(customers[0].samples)} samples)")
        print(f"server CPU: {cpu / window * 100:.0f} % of one core for {sessions} sessions "
              f"({cpu / window / sessions * 1000:.1f} ms CPU per session per second); on the same 2 cores the "
              f"simulated browsers used {own / window * 100:.0f} % and the phones {phones_cpu / window * 100:.0f} %")
    finally:
        for c in customers:
            await c.pc.close()
        server.stop()
        for phone in phones:
            await asyncio.to_thread(phone.close)
        registrar.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.seconds))


if __name__ == "__main__":
    main()
