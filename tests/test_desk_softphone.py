"""An agent without a desk phone answers in the desktop's browser softphone: a customer's real
phone (baresip, 1000 Hz) calls the server's SIP account through Kamailio; the agent, signed in to
/desk in headless Chromium with a fake microphone (700 Hz), presses "Answer here"; each side hears
the other's tone. A page reload (the network drop an agent actually has) connects the audio again
on the same call, the desk's Hang up ends it, and nothing is left open. Bad requests to the
softphone route get clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from cti.client import CtiApiError
from sip_test_env.kamailio import Registrar
from sip_test_env.phones import dominant_frequency
from tests.harness import running_server
from tests.test_browser_voice import tone_wav
from tests.voice_helpers import call_events, call_in_state, registered, server_config

CHROMIUM = ["--no-sandbox", "--disable-dev-shm-usage", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


async def test_an_agent_answers_a_phone_call_in_the_desktop(tmp_path: Path, registrar: Registrar,
                                                            phones: Any) -> None:
    customer_phone = await phones("bob", 1000)
    wav = await asyncio.to_thread(tone_wav, tmp_path / "mic.wav", 700, 60.0)
    async with running_server(server_config(tmp_path, registrar)) as h, async_playwright() as playwright:
        await registered(h)
        await h.agent("dana", voice_endpoint="browser")
        token = (await h.admin.create_token("agent", agent_id="dana"))["token"]
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                   args=[*CHROMIUM, f"--use-file-for-fake-audio-capture={wav}"])
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            await page.goto(h.url + "/desk")
            await page.get_by_text("Sign in with an API token").click()
            await page.get_by_label("Your API token").fill(token)
            await page.get_by_role("button", name="Use the token").click()
            await page.wait_for_selector("#link-status.ok")

            await asyncio.to_thread(customer_phone.dial, "sip:cti@127.0.0.1")
            iid = await call_in_state(h, "offered", agent="dana", what="the call offered to dana")
            await page.get_by_role("button", name="Answer here").click()
            status = page.locator(f'#work [data-id="{iid}"] .softphone-status')
            await status.filter(has_text="connected").wait_for(timeout=15_000)

            async def hears(hz: float) -> float | None:
                peak = float(await status.get_attribute("data-peak-hz") or 0)
                return peak if abs(peak - hz) < 25 else None

            assert await h.wait_for(lambda: hears(1000), timeout=15, what="the customer's tone in the browser")
            assert ("call.answered", "agent") in [(t, d.get("leg")) for t, d in await call_events(h)]
            await page.screenshot(path="test-artifacts/desk-softphone.png")
            await asyncio.sleep(2.0)  # the customer hears the agent

            desk = h.services.connectors.running["sip"].desk
            first_connection = desk.sessions[iid].agent_leg
            await page.reload()  # the agent's page goes away and comes back: the call goes on
            await page.wait_for_selector("#link-status.ok")
            status = page.locator(f'#work [data-id="{iid}"] .softphone-status')
            await status.filter(has_text="connected").wait_for(timeout=15_000)
            assert await h.wait_for(lambda: hears(1000), timeout=15, what="the customer again after the reload")
            assert (await h.admin.get_interaction(iid))["state"] == "active"
            assert desk.sessions[iid].agent_leg is not first_connection and first_connection.ended.is_set()

            await page.get_by_role("button", name="Hang up").click()
            await asyncio.to_thread(customer_phone.wait_call_over)
            await page.get_by_label("Disposition").wait_for()
            await h.wait_for(lambda: not desk.sessions, what="the media session released")
        finally:
            await browser.close()
    heard = [dominant_frequency(r) for r in customer_phone.recordings() if r.name.endswith("-dec.wav")]
    assert heard and abs(heard[0] - 700) < 25, f"the customer heard the agent's microphone: {heard}"


async def test_softphone_requests_that_cannot_be_used_are_refused(tmp_path: Path, registrar: Registrar,
                                                                  phones: Any) -> None:
    customer_phone = await phones("bob", 1000)
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        dana = await h.agent("dana", voice_endpoint="browser")
        erin = await h.agent("erin", voice_endpoint="sip:erin@127.0.0.1", state="away")
        await asyncio.to_thread(customer_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", agent="dana", what="the call offered to dana")

        async def post(client: Any, body: Any) -> tuple[int, str]:
            try:
                await client.request("POST", f"/api/v1/interactions/{iid}/softphone", json=body)
            except CtiApiError as exc:
                return exc.status, exc.code
            raise AssertionError("accepted")

        offer = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
        assert await post(dana, offer) == (409, "not_an_active_call")  # offered, not yet accepted
        await dana.accept(iid)
        assert (await post(dana, {"type": "answer", "sdp": offer["sdp"]}))[0] == 400
        assert await post(dana, offer) == (400, "invalid_offer")  # no audio in it
        assert await post(erin, offer) == (403, "not_your_interaction")
        desk = h.services.connectors.running["sip"].desk
        assert desk.sessions[iid].agent_leg is None, "nothing bridged by bad offers"
        await dana.end(iid)
        await asyncio.to_thread(customer_phone.wait_call_over)
        await h.wait_for(lambda: not desk.sessions, what="the media session released")


async def connect_softphone(agent: Any, iid: str) -> Any:
    """An agent's browser (aiortc) answering the call: the peer connection once connected."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from tests.test_media_legs import Microphone

    pc = RTCPeerConnection()
    pc.addTrack(Microphone())
    await pc.setLocalDescription(await pc.createOffer())
    for _ in range(20):  # (as the desktop does: the audio of an outbound call is set up just after the accept)
        try:
            answer = await agent.request("POST", f"/api/v1/interactions/{iid}/softphone",
                                         json={"type": "offer", "sdp": pc.localDescription.sdp})
            break
        except CtiApiError as exc:
            if exc.code != "not_ringing_in_browser":
                raise
            await asyncio.sleep(0.25)
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return pc


async def test_a_browser_that_never_answers_passes_the_call_on_and_one_that_drops_can_come_back(
        tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    customer_phone, carol_phone = await phones("bob", 1000), await phones("carol", 440)
    async with running_server(server_config(tmp_path, registrar, agent_ring_seconds=3)) as h:
        await registered(h)
        dana = await h.agent("dana", voice_endpoint="browser")
        carol = await h.agent("carol", voice_endpoint=carol_phone.uri, state="away")
        desk = h.services.connectors.running["sip"].desk
        await asyncio.to_thread(customer_phone.dial, "sip:cti@127.0.0.1")
        iid = await call_in_state(h, "offered", agent="dana", what="the call offered to dana")
        await dana.accept(iid)  # ... but her desktop never connects its audio
        await carol.set_agent_state("carol", "available")
        await call_in_state(h, "offered", agent="carol", what="the call passed on to carol")
        assert (await h.admin.get_agent("dana"))["state"] == "away", "like a phone that does not answer"
        await carol.accept(iid)
        await asyncio.to_thread(carol_phone.wait_log, "Call established")
        await carol.end(iid)
        await asyncio.to_thread(customer_phone.wait_call_over)
        await h.wait_for(lambda: not desk.sessions, what="the first call released")

        await carol.set_agent_state("carol", "away")
        await dana.set_agent_state("dana", "available")
        await asyncio.to_thread(customer_phone.dial, "sip:cti@127.0.0.1")
        second = await call_in_state(h, "offered", agent="dana", what="the second call offered to dana")
        await dana.accept(second)
        first_browser = await connect_softphone(dana, second)
        session = desk.sessions[second]
        await h.wait_for(lambda: session.agent_leg is not None and session.agent_leg.rtp.sent > 25,
                         what="her audio flowing into the bridge")
        assert not session.media.playing, "no hold audio while she is there"
        await first_browser.close()  # her browser goes away (a crash, the network)
        await h.wait_for(lambda: session.agent_leg is None and session.media.playing,
                         what="the customer on hold audio while she is gone")
        second_browser = await connect_softphone(dana, second)  # she is back within the ring time
        await h.wait_for(lambda: session.agent_leg is not None and session.agent_leg.rtp.sent > 25,
                         what="her audio flowing again")
        assert not session.media.playing
        assert (await h.admin.get_interaction(second))["state"] == "active"
        answered = [d for t, d in await call_events(h) if t == "call.answered" and d.get("leg") == "agent"
                    and d.get("call_id") == session.caller.call_id]
        assert len(answered) == 1, "one answer for the call, however often her browser reconnects"
        await second_browser.close()
        await h.wait_for(lambda: not desk.sessions, timeout=15, what="the call ended when she did not come back")
        await asyncio.to_thread(customer_phone.wait_call_over)
        # (the desk lets go of the call, hangs up, then records the end: wait for it, not race it)
        await h.interaction_in_state(second, "wrapup")


async def test_an_agent_in_the_browser_makes_a_call(tmp_path: Path, registrar: Registrar, phones: Any) -> None:
    customer_phone = await phones("bob", 1000)
    async with running_server(server_config(tmp_path, registrar)) as h:
        await registered(h)
        dana = await h.agent("dana", voice_endpoint="browser")
        started = await dana.start_interaction(channel="voice", to={"kind": "sip", "value": "sip:bob@127.0.0.1"})
        iid = started["interaction"]["id"]
        browser = await connect_softphone(dana, iid)  # her desktop first, then the customer rings
        try:
            await asyncio.to_thread(customer_phone.wait_log, "Call established")
            await asyncio.sleep(2.0)
            await dana.end(iid)
            await asyncio.to_thread(customer_phone.wait_call_over)
        finally:
            await browser.close()
        events = await call_events(h)
        assert [d["leg"] for t, d in events if t == "call.answered"] == ["agent", "customer"]
        desk = h.services.connectors.running["sip"].desk
        await h.wait_for(lambda: not desk.sessions, what="the media session released")
    heard = [dominant_frequency(r) for r in customer_phone.recordings() if r.name.endswith("-dec.wav")]
    assert heard and abs(heard[0] - 700) < 25, f"the customer heard the agent's browser: {heard}"
