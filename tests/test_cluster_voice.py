"""Browser voice in a cluster: two ``cti serve`` processes on one PostgreSQL, both configured with
the SIP connector; only the lease holder registers and carries media. A customer's browser (an
aiortc peer) posts its offer to the *other* node: the request is passed on to the holder, whose
answer names its own addresses, so the browser's media reaches it directly; the agent's real phone
(baresip via Kamailio) and the browser hear each other."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import asyncpg
import av
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

from cti.client import CtiClient
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.pivot_helpers import Customer
from tests.processes import SHOP_CHAT_TOML, ServerProcess
from tests.test_media_legs import Microphone, strongest

pytestmark = pytest.mark.slow


async def lease_holder(pg_url: str) -> tuple[str, str]:
    """(holder node id, its URL) of the SIP connector's lease, once someone holds it."""
    connection = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for _ in range(100):
            row = await connection.fetchrow("select holder, holder_url from leases where name = 'connector:sip'")
            if row is not None:
                return row["holder"], row["holder_url"]
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise AssertionError("nobody took the SIP connector's lease")


async def test_a_browser_on_the_other_node_talks_through_the_node_with_the_media(
        tmp_path: Path, pg_url: str, registrar: Registrar, phones: Any) -> None:
    alice_phone = await phones("alice", 440)
    sip = f'[connectors.sip]\nregistrar = "127.0.0.1:{registrar.port}"\nusername = "cti"\npassword = "ctipass"\n'
    env = {"CTI_SERVER__DATABASE_URL": pg_url, "CTI_SERVER__LEASE_SECONDS": "2"}
    a = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML + sip, env=env, node_id="node-a")
    b = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML + sip, env=env, node_id="node-b")
    a.start()
    b.start()
    browser = RTCPeerConnection()
    heard: list[bytes] = []
    listeners: list[asyncio.Future[None]] = []
    clients: list[Any] = []
    try:
        holder, holder_url = await lease_holder(pg_url)
        carrier, other = (a, b) if holder == "node-a" else (b, a)
        assert holder_url == carrier.url
        admin = CtiClient(other.url, other.cli("token", "create", "--role", "admin"))
        clients.append(admin)
        await admin.create_agent("Alice", id="alice", voice_endpoint=alice_phone.uri)
        alice = CtiClient(other.url, (await admin.create_token("agent", agent_id="alice"))["token"])
        clients.append(alice)
        await alice.set_agent_state("alice", "available")
        stored = await admin.inbound(channel="shop-chat", sender=("x", "777"), text="call me", external_id="cv-1")
        iid = stored["interaction_id"]
        for _ in range(100):
            if (await admin.get_interaction(iid))["state"] == "offered":
                break
            await asyncio.sleep(0.1)
        await alice.accept(iid)
        link = (await alice.pivot(iid, "voice"))["pivot_link"]
        path = "/p/" + link["url"].rsplit("/p/", 1)[1]

        customer = Customer(other.url)
        clients.append(customer)
        assert (await customer.open(path))[0] == 200
        browser.addTrack(Microphone())

        @browser.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            async def listen() -> None:
                resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
                while True:
                    for frame in resampler.resample(await track.recv()):
                        if len(heard) < 200:
                            heard.append(bytes(frame.planes[0])[: frame.samples * 2])
            listeners.append(asyncio.ensure_future(listen()))

        await browser.setLocalDescription(await browser.createOffer())
        async with customer.session.post(other.url + path + "/voice", json={
                "type": "offer", "sdp": browser.localDescription.sdp, "csrf": customer.csrf}) as response:
            answer = await response.json()
            assert response.status == 200, answer
            assert response.headers["X-CTI-Media-Node"] == carrier.url, "answered by the node with the media"
        await browser.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        call = answer["interaction_id"]
        for _ in range(150):
            if (await admin.get_interaction(call))["state"] == "offered":
                break
            await asyncio.sleep(0.1)
        for _ in range(100):
            if browser.connectionState == "connected":
                break
            await asyncio.sleep(0.1)
        assert browser.connectionState == "connected", "ICE reached the node with the media"
        await alice.accept(call)
        await asyncio.to_thread(alice_phone.wait_log, "Call established")
        heard.clear()
        for _ in range(100):
            if len(heard) >= 150:
                break
            await asyncio.sleep(0.1)
        mono = b"".join(heard[50:100])  # a second of what the browser heard, 8 kHz
        assert max(abs(s) for s in struct.unpack(f"<{len(mono) // 2}h", mono)) > 1000, "the browser hears audio"
        assert strongest(mono, 8000, range(300, 1000, 20)) == 440, "the agent's tone"
        await asyncio.sleep(1.0)
        await alice.end(call)
        await asyncio.to_thread(alice_phone.wait_call_over)
    finally:
        for listener in listeners:
            listener.cancel()
        await browser.close()
        for client in clients:
            await client.close()
        a.stop()
        b.stop()
    recordings = [r for r in alice_phone.recordings() if r.name.endswith("-dec.wav")]
    assert recordings and abs(dominant_frequency(recordings[0]) - 700) < 25, "the agent heard the browser"
