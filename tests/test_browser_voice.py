"""Talk in the browser: a customer presses "talk now" on the pivot page in headless Chromium (a fake
microphone playing a 700 Hz tone); the session becomes a voice interaction on the same case, offered
to the agent who sent the link; accepting rings her real SIP phone (baresip, 440 Hz) through
Kamailio, and each side hears the other's tone."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import make_config, running_server
from tests.pivot_helpers import SHOP_SECRET, pivoted_case
from tests.voice_helpers import registered


def tone_wav(path: Path, hz: float, seconds: float = 20.0, rate: int = 48_000) -> Path:
    frames = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * hz * n / rate)))
                      for n in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


async def test_a_customer_talks_to_the_agents_phone_from_the_pivot_page(
        tmp_path: Path, registrar: Registrar, phones: Any, shop: Any) -> None:
    alice_phone = await phones("alice", 440)
    wav = await asyncio.to_thread(tone_wav, tmp_path / "mic.wav", 700)
    config = make_config(
        tmp_path, connectors={"sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti",
                                      "password": "ctipass"}},
        channels={"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]})
    async with running_server(config) as h, async_playwright() as playwright:
        await registered(h)
        p = await pivoted_case(h, endpoint=alice_phone.uri, send=False)
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                bypass_csp=True)  # (only so the test can read window.__peakHz)
            page = await context.new_page()
            await page.goto(h.url + p.path)
            await page.get_by_role("button", name="Talk in the browser now").click()
            await page.wait_for_function("document.getElementById('talk-status').dataset.interaction")
            iid = await page.evaluate("document.getElementById('talk-status').dataset.interaction")
            interaction = await h.interaction_in_state(iid, "offered", timeout=20)
            assert interaction["agent_id"] == "alice" and interaction["case_id"] == p.case_id
            assert interaction["initiation"] == "pivot" and interaction["source_interaction_id"] == p.interaction_id
            assert (await h.admin.get_pivot_link(p.link["id"]))["uses"] == 1
            await p.agent.accept(iid)
            await asyncio.to_thread(alice_phone.wait_log, "Call established")

            async def hears_agent() -> float | None:
                peak = await page.evaluate("window.__peakHz || 0")
                return peak if abs(peak - 440) < 25 else None

            assert await h.wait_for(hears_agent, timeout=15, what="the agent's tone in the browser")
            await asyncio.sleep(2.0)
            await p.agent.end(iid)
            await asyncio.to_thread(alice_phone.wait_call_over)
            await context.close()
        finally:
            await browser.close()
    recordings = [r for r in alice_phone.recordings() if r.name.endswith("-dec.wav")]
    assert recordings and abs(dominant_frequency(recordings[0]) - 700) < 25, "the agent heard the browser's tone"


async def test_bad_offers_and_used_or_expired_links_get_clear_errors_and_leak_nothing(
        tmp_path: Path, registrar: Registrar, shop: Any) -> None:
    import gc

    from aiortc import RTCPeerConnection

    from tests.pivot_helpers import Customer

    config = make_config(
        tmp_path, connectors={"sip": {"registrar": f"127.0.0.1:{registrar.port}", "username": "cti",
                                      "password": "ctipass"}},
        channels={"custom": [{"name": "shop-chat", "outbound_url": shop.url("/replies"), "secret": SHOP_SECRET}]})
    async with running_server(config) as h:
        await registered(h)
        p = await pivoted_case(h, send=False)
        customer = Customer(h.url)
        client = RTCPeerConnection()  # a real browser-like offer, from aiortc on the customer's side
        client.addTransceiver("audio", direction="sendrecv")
        await client.setLocalDescription(await client.createOffer())
        try:
            await customer.open(p.path)
            url = h.url + p.path + "/voice"

            async def post(body: dict[str, Any]) -> tuple[int, Any]:
                async with customer.session.post(url, json=body) as response:
                    return response.status, await response.json()

            status, error = await post({"type": "offer", "sdp": "v=0\r\nforged", "csrf": customer.csrf})
            assert status == 400 and error["error"]["code"] == "invalid_offer"
            status, error = await post({"type": "offer", "sdp": client.localDescription.sdp, "csrf": "wrong"})
            assert status == 403 and error["error"]["code"] == "csrf_failed"
            assert (await h.admin.get_pivot_link(p.link["id"]))["uses"] == 0, "nothing used by bad requests"

            status, answer = await post({"type": "offer", "sdp": client.localDescription.sdp, "csrf": customer.csrf})
            assert status == 200 and answer["type"] == "answer" and "PCMU" in answer["sdp"]
            await client.setRemoteDescription(type(client.localDescription)(answer["sdp"], "answer"))
            status, error = await post({"type": "offer", "sdp": client.localDescription.sdp, "csrf": customer.csrf})
            assert status == 410 and error["error"]["code"] == "pivot_link_gone", "a second browser on the same link"

            expired = (await p.agent.pivot(p.interaction_id, "voice"))["pivot_link"]
            await h.services.db.write(lambda tx: tx.conn.exec_driver_sql(
                "update pivot_links set expires_at = 0 where id = ?", (expired["id"],)))
            path = "/p/" + expired["url"].rsplit("/p/", 1)[1]
            async with customer.session.post(h.url + path + "/voice", json={"type": "offer"}) as response:
                assert response.status == 410
            desk = h.services.connectors.running["sip"].desk
            assert list(desk.sessions) == [answer["interaction_id"]]
            await h.admin.request("POST", f"/api/v1/interactions/{answer['interaction_id']}/abandon",
                                  json={"reason": "test over"})
            await h.wait_for(lambda: not desk.sessions, what="the media session released")
        finally:
            await client.close()
            await customer.close()
        gc.collect()
        live = [pc for pc in gc.get_objects() if isinstance(pc, RTCPeerConnection) and pc.connectionState != "closed"]
        assert live == [], "no media session left open"
